"""Small synthetic image datasets for the image tests: three shapes (circle, square, stripes),
each picture distinct (shifted noise and tint), written as a `<label>/<file>` tree."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

LABELS = ("circle", "square", "stripe")


def picture(label: str, i: int, size: int = 32) -> Image.Image:
    """A distinct picture per (label, i): a shape, shifted and tinted by i."""
    rng = np.random.default_rng(i * 7 + LABELS.index(label))
    pixels = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    y, x = np.mgrid[:size, :size]
    if label == "circle":
        mask = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2
    elif label == "square":
        mask = (abs(x - size / 2) < size / 4) & (abs(y - size / 2) < size / 4)
    else:
        mask = (x // 4) % 2 == 0
    pixels[mask] = (200 + i % 50, 100 + 3 * i % 100, 50)
    return Image.fromarray(pixels)


def png(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def tree(root: Path, per_label: int = 20) -> Path:
    for label in LABELS:
        (root / label).mkdir(parents=True)
        for i in range(per_label):
            (root / label / f"{i:03d}.png").write_bytes(png(picture(label, i)))
    return root
