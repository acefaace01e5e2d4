"""Loading, freezing and running Hugging Face encoders for sequence classification.

`check_encoder` tells, from a model folder's config alone, whether it can be fine-tuned
here: an encoder (it has a masked-LM head in transformers' mappings) with a
sequence-classification head. `freeze` stops gradients in the embeddings and the first
N encoder layers. `predict` is batched inference: inference mode, sorted by length,
padded per batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tuneloop.errors import FailedPrecondition, InvalidArgument
from tuneloop.ml.batching import collate


def check_encoder(model_dir: Path) -> int:
    """Raise FailedPrecondition unless the folder holds a fine-tunable encoder; return its depth."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise FailedPrecondition(f"{model_dir.name} has no config.json: not a Hugging Face model")
    config = json.loads(config_path.read_text())
    kind = config.get("model_type", "")
    if kind not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES or kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES \
            or config.get("is_encoder_decoder") or config.get("is_decoder"):
        raise FailedPrecondition(f"model type {kind!r} is not an encoder that supports sequence classification")
    return int(config.get("num_hidden_layers", 0))


def encoder_layers(model) -> list:
    """The encoder's layer list of a *ForSequenceClassification model (BERT, MPNet, RoBERTa...)."""
    base = getattr(model, model.base_model_prefix, model)
    for path in ("encoder.layer", "transformer.layer", "encoder.layers", "layers"):
        node = base
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if node is not None:
            return list(node)
    raise InvalidArgument(f"cannot find the encoder layers of {type(model).__name__} to freeze")


def freeze(model, n_layers: int) -> int:
    """Freeze the embeddings and the first `n_layers` encoder layers (0: train everything).
    Returns the number of parameters left trainable."""
    if n_layers > 0:
        base = getattr(model, model.base_model_prefix, model)
        for p in base.embeddings.parameters():
            p.requires_grad = False
        for layer in encoder_layers(model)[:n_layers]:
            for p in layer.parameters():
                p.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_classifier(model_dir: Path, labels: list[str]):
    from transformers import AutoModelForSequenceClassification

    # ignore_mismatched_sizes: a base that already has a classification head (a fine-tuned model
    # trained again, continue_from_champion) may have another number of labels; its head is then
    # replaced by a fresh one of the right size instead of failing to load
    return AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, ignore_mismatched_sizes=True,
    )


@torch.inference_mode()
def predict(model, ids: list[list[int]], *, pad_id: int, batch_size: int = 64,
            device: torch.device | None = None, autocast: bool = False) -> torch.Tensor:
    """Class probabilities for tokenized examples, in their input order. A DDP-wrapped model is
    run through its module: every rank validates on its own, with no collective op that
    would make ranks wait on each other (and DDP has no `config`)."""
    model = getattr(model, "module", model)
    device = device or next(model.parameters()).device
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = torch.empty((len(ids), model.config.num_labels), dtype=torch.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate([ids[i] for i in chunk], pad_id).items()}
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(**batch).logits
        out[chunk] = torch.softmax(logits.float(), dim=-1).cpu()
    return out
