"""What a training job asks for: inputs, output, and hyperparameters with sensible defaults.

Out-of-range values are InvalidArgument naming the field (checked here); what depends on
the inputs (labels, model depth, encoder type) is checked when the job is submitted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tuneloop.core.validation import build


class TrainSpec(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}

    dataset: str = Field(min_length=1, description="NAME[@VERSION]")
    base_model: str = Field(min_length=1, description="NAME[@VERSION|:ALIAS]")
    model: str = Field(min_length=1, description="output model name")
    epochs: int = Field(default=3, ge=1, le=1000)
    learning_rate: float = Field(default=2e-5, gt=0, le=1.0)
    batch_size: int = Field(default=16, ge=1, le=4096)
    max_length: int = Field(default=128, ge=8, le=8192)
    weight_decay: float = Field(default=0.01, ge=0, le=1)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    scheduler: Literal["linear", "cosine"] = "linear"
    optimizer: Literal["adamw"] = "adamw"
    grad_accum: int = Field(default=1, ge=1, le=1024)
    freeze_layers: int = Field(default=0, ge=0)
    lora: bool = False
    early_stopping_patience: int = Field(default=0, ge=0, description="epochs without a better val macro-F1; 0 off")
    seed: int = 0
    max_train_samples: int = Field(default=0, ge=0, description="0: the whole train split")
    workers: int = Field(default=1, ge=1, le=256)
    gpu: bool = False
    bf16: bool = Field(default=True, description="bf16 autocast when on GPU")
    checkpoint_every_steps: int = Field(default=0, ge=0, description="0: at the end of each epoch only")
    log_every: int = Field(default=10, ge=1)


def make_spec(**values) -> TrainSpec:
    return build(TrainSpec, "training spec", **values)
