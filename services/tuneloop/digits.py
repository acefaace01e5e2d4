"""scikit-learn's bundled handwritten digits (1,797 greyscale 8x8 images, 10 classes) written out
as a folder of PNGs, `<digit>/<index>.png`: the image demo's and benchmark's data, offline.
Pixel values 0-16 become 0-255."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def load() -> tuple[np.ndarray, np.ndarray]:
    """(images as an (n, 8, 8) array of 0-16, digit labels)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((image * 255 / 16).round().astype(np.uint8), "L").save(buf, format="PNG")
    return buf.getvalue()


def write_tree(folder: Path, indices: range | list[int] | None = None) -> Path:
    """The digits at `indices` (default: all) as `<folder>/<digit>/<index>.png`."""
    images, labels = load()
    for i in indices if indices is not None else range(len(labels)):
        target = folder / str(labels[i]) / f"{i:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png(images[i]))
    return folder


def pixels(data: bytes) -> np.ndarray:
    """A stored digit's 64 grey values (the logistic-regression baseline's features)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float32).reshape(-1) / 255.0
