"""LoRA adapters (peft) on a classifier or a causal LM: which modules, and saving them.

A job's `lora` is tri-state: unset means the family's default, on for decoders (a 135M-parameter
decoder trained in full needs ~2 GB of optimizer state; its LoRA adapters, ~1 MB) and off for
encoders, unless `freeze_layers` asks for partial full fine-tuning instead. Target modules
default to peft's per-architecture choice (the attention's query and value projections);
`lora_targets` names others, comma-separated, or `all-linear`. For classification peft trains
the new head (`score`, `classifier`) in full beside the adapters.

Checkpoints and registered models carry both forms: the merged weights at the top (what plain
transformers loads, what serving runs) and the adapter in `adapter/` (small; what a resumed
run continues from, and what the lineage describes).
"""

from __future__ import annotations

import copy
from pathlib import Path

ADAPTER_DIR = "adapter"


def lora_enabled(lora: bool | None, *, family: str, freeze_layers: int) -> bool:
    if lora is not None:
        return lora
    return family == "decoder" and freeze_layers == 0


def lora_config(spec, task_type: str):
    from peft import LoraConfig

    targets = [t.strip() for t in spec.lora_targets.split(",") if t.strip()]
    return LoraConfig(task_type=task_type, r=spec.lora_rank, lora_alpha=spec.lora_alpha, lora_dropout=spec.lora_dropout,
                      target_modules=("all-linear" if targets == ["all-linear"] else targets) or None)


def wrap(model, spec, task_type: str, adapter: Path | None = None):
    """`model` with fresh adapters, or with the adapters saved at `adapter` (a resumed run)."""
    from peft import PeftModel, get_peft_model

    if adapter is not None and adapter.is_dir():
        return PeftModel.from_pretrained(model, adapter, is_trainable=True)
    return get_peft_model(model, lora_config(spec, task_type))


def save(model, path: Path) -> None:
    """Save `model` to `path`: merged weights at the top and, for a LoRA model, its adapter (with
    its adapter_config.json, which the runner copies into the lineage) in `adapter/`."""
    if not hasattr(model, "merge_and_unload"):
        model.save_pretrained(path, safe_serialization=True)
        return
    model.save_pretrained(path / ADAPTER_DIR, safe_serialization=True)
    copy.deepcopy(model).merge_and_unload().save_pretrained(path, safe_serialization=True)
