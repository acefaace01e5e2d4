"""Image classification inside a training worker and the evaluator: the `ml.tasks` interface
(examples, collate, load, validate, save) for images, and batched prediction.

An example is an image's file in the worker's content-addressed cache (`ml.inputs`); a batch is
decoded and transformed when it is collated (`ml.vision.Pictures`: augmented for training, the
centre crop for validation), on a few threads, since Pillow decodes and resizes without the GIL.
The model saved with a checkpoint records the input size it was trained at, so evaluation feeds
it the same.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import torch

from tuneloop.ml import collapse
from tuneloop.ml.imagemodels import load_image_classifier
from tuneloop.ml.spec import IMAGE_CLASSIFICATION
from tuneloop.ml.vision import LITE_CONFIG, Pictures, freeze_stages, pictures

_POOL = ThreadPoolExecutor(4, thread_name_prefix="tuneloop-pictures")


def read_all(paths: list[Path]) -> list[bytes]:
    return list(_POOL.map(Path.read_bytes, paths))


class ImageClassification:
    name = IMAGE_CLASSIFICATION
    peft_task = ""  # LoRA is for transformers' text models here
    new_head = True

    def __init__(self, base_dir: Path, images_dir: Path, labels: list[str], size: int, seed: int,
                 augment: bool = True) -> None:
        self.base_dir, self.images_dir, self.labels = base_dir, images_dir, labels
        self.pictures = pictures(base_dir, size)
        self.rng = random.Random(seed) if augment else None

    def examples(self, path: Path, limit: int, seed: int) -> tuple[list[Path], list]:
        frame = pl.read_parquet(path, columns=["image", "label"])
        if limit and frame.height > limit:
            frame = frame.sample(n=limit, seed=seed, shuffle=True)
        index = {label: i for i, label in enumerate(self.labels)}
        return ([self.images_dir / a[:2] / a for a in frame["image"].to_list()],
                [index[label] for label in frame["label"].to_list()])

    def lengths(self, examples: list) -> list[int]:
        return [1] * len(examples)  # every picture is the same size once transformed

    def collate(self, paths: list[Path], targets: list, pad_id: int | None = None) -> dict[str, torch.Tensor]:
        datas = read_all(paths)
        return {"pixel_values": self.pictures.batch(datas, self.rng), "labels": torch.tensor(targets)}

    def load(self, model_dir: Path, pad_id: int | None = None):
        return load_image_classifier(model_dir, self.labels)

    def freeze(self, model, n: int) -> int:
        return freeze_stages(model, n)

    def validate(self, model, paths, targets, *, pad_id=None, device, autocast: bool, batch_size: int) -> dict:
        probs = predict_images(model, read_all(paths), self.pictures, batch_size=batch_size, device=device,
                               autocast=autocast)
        return collapse.scores(targets, probs.argmax(dim=-1).tolist(), len(self.labels))

    def save(self, model, folder: Path) -> None:
        """The model, with the input size it was trained at (and, for a Hugging Face model, its
        image processor set to that size)."""
        model.save_pretrained(folder, safe_serialization=True)
        size = self.pictures.size
        if (folder / LITE_CONFIG).is_file():
            config = json.loads((folder / LITE_CONFIG).read_text())
            (folder / LITE_CONFIG).write_text(json.dumps({**config, "image_size": size}, indent=1))
            return
        processor = json.loads((self.base_dir / "preprocessor_config.json").read_text())
        processor["size"] = {"height": size, "width": size}
        if "crop_size" in processor:
            processor["crop_size"] = {"height": size, "width": size}
        (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=1))


@torch.inference_mode()
def predict_images(model, datas: list[bytes], recipe: Pictures, *, batch_size: int = 64,
                   device: torch.device | None = None, autocast: bool = False) -> torch.Tensor:
    """Class probabilities of encoded images, in their order (a DDP model runs as its module)."""
    model = getattr(model, "module", model)
    device = device or next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(datas), batch_size):
        batch = recipe.batch(datas[start:start + batch_size]).to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(pixel_values=batch).logits
        out.append(torch.softmax(logits.float(), dim=-1).cpu())
    return torch.cat(out) if out else torch.empty((0, len(getattr(model, "labels", []))))


class ImagePredictor:
    """A registered image classifier, ready to score images (as `ml.classifier.Classifier` texts)."""

    def __init__(self, model_dir: Path, *, batch_size: int = 64) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_image_classifier(model_dir).to(self.device).eval()
        self.labels: list[str] = list(self.model.labels)  # type: ignore[arg-type]
        self.pictures = pictures(model_dir)
        self.batch_size = batch_size

    def probabilities(self, paths: list[Path]) -> tuple[np.ndarray, float]:
        """Class probabilities (rows in input order, columns in `labels` order) and images/s."""
        started = time.perf_counter()
        probs = predict_images(self.model, read_all(paths), self.pictures, batch_size=self.batch_size,
                               device=self.device, autocast=self.device.type == "cuda")
        seconds = time.perf_counter() - started
        return probs.numpy(), len(paths) / seconds if seconds else 0.0
