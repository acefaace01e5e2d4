"""What a training job asks for: inputs, output, and hyperparameters with sensible defaults.

This model is the single source of every training option. The trainer's proto message
maps to it in one place (`trainer/servicer.py`), the CLI's flags of `train`, `loop create`
and `demo` are generated from its fields (help from each field's description), a
controller policy's `train` options are checked against it, and the training loop
receives it typed. Out-of-range values and contradictory combinations are refused
here, as InvalidArgument naming them; what depends on the inputs (labels, model depth,
encoder type) is checked when the job is submitted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from tuneloop.core.validation import build
from tuneloop.errors import InvalidArgument


class TrainSpec(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}

    dataset: str = Field(min_length=1, description="NAME[@VERSION] of the dataset")
    base_model: str = Field(min_length=1, description="NAME[@VERSION|:ALIAS] to start from")
    model: str = Field(min_length=1, description="name to register the result as")
    task: Literal["text-classification", "text-generation", "image-classification"] | None = Field(
        default=None, description="what to train; unset: the dataset's task (a different one is refused)")
    epochs: int = Field(default=3, ge=1, le=1000, description="passes over the training split")
    learning_rate: float = Field(default=2e-5, gt=0, le=1.0, description="peak learning rate")
    batch_size: int = Field(default=16, ge=1, le=4096, description="examples per step and worker")
    max_length: int = Field(default=128, ge=8, le=8192, description="tokens per example (longer ones are cut)")
    image_size: int = Field(default=0, ge=0, le=1024, description="image-classification: the input's side in pixels; "
                            "0: the model's own")
    augment: bool = Field(default=True, description="image-classification: train on random resized crops and "
                          "horizontal flips (off: the centre crop, as evaluated)")
    head_lr_multiplier: float = Field(default=1000.0, ge=1, le=100000,
                                      description="the new classification head learns this many times faster than "
                                                  "the pretrained body (1: the same rate)")
    class_weighting: bool = Field(default=True, description="classification: weigh the loss by inverse label "
                                  "frequency when the training labels are imbalanced (see class_weight_ratio)")
    class_weight_ratio: float = Field(default=1.5, ge=1, le=1e6, description="classification: weigh the loss when "
                                      "the commonest training label outnumbers the rarest by more than this")
    weight_decay: float = Field(default=0.01, ge=0, le=1, description="AdamW weight decay (not on biases and norms)")
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1, description="share of the steps spent warming up")
    scheduler: Literal["linear", "cosine"] = Field(default="linear", description="learning-rate decay after warmup")
    optimizer: Literal["adamw"] = Field(default="adamw", description="the optimizer")
    grad_accum: int = Field(default=1, ge=1, le=1024, description="batches accumulated per optimizer step")
    freeze_layers: int = Field(default=0, ge=0, description="freeze the embeddings and the first N transformer blocks "
                               "(image models: the stem and the first N stages)")
    lora: bool | None = Field(default=None, description="train LoRA adapters (peft) instead of the weights; "
                              "unset: on for decoders (unless freeze_layers is set), off for encoders")
    lora_rank: int = Field(default=8, ge=1, le=1024, description="LoRA rank r")
    lora_alpha: float = Field(default=16.0, gt=0, le=4096, description="LoRA alpha (the update is scaled by alpha/r)")
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="dropout on the LoRA branch")
    lora_targets: str = Field(default="", pattern=r"^[A-Za-z0-9_.,\- ]*$",
                              description="modules given adapters, comma-separated, or all-linear; "
                                          "empty: peft's default for the architecture")
    early_stopping_patience: int = Field(default=0, ge=0, description="epochs without a better val macro-F1; 0 off")
    seed: int = Field(default=0, description="random seed (sampling, batch order, initialisation)")
    max_train_samples: int = Field(default=0, ge=0, description="cap on training examples; 0: the whole train split")
    workers: int = Field(default=1, ge=1, le=256, description="Ray Train workers (data-parallel)")
    gpu: bool = Field(default=False, description="train on GPUs")
    bf16: bool = Field(default=True, description="bf16 autocast when on GPU")
    checkpoint_every_steps: int = Field(default=0, ge=0, description="also checkpoint every N steps; 0: each epoch")
    log_every: int = Field(default=10, ge=1, description="steps between progress events")

    @model_validator(mode="after")
    def _consistent(self) -> TrainSpec:
        if self.learning_rate * self.head_lr_multiplier > 1.0:
            raise ValueError(f"learning_rate {self.learning_rate:g} x head_lr_multiplier {self.head_lr_multiplier:g} "
                             f"gives the new head a learning rate of {self.learning_rate * self.head_lr_multiplier:g}, "
                             "above 1: it would diverge; lower head_lr_multiplier (1: the body's rate)")
        if self.lora and self.freeze_layers:
            raise ValueError("lora and freeze_layers cannot be combined: LoRA already freezes every base weight, "
                             "so freeze_layers would be silently ignored")
        return self


# every option but the three that name inputs and output
HYPERPARAMETERS = tuple(name for name in TrainSpec.model_fields if name not in ("dataset", "base_model", "model"))
# the tasks (TrainSpec.task spells them out: a Literal takes no names)
CLASSIFICATION, GENERATION, IMAGE_CLASSIFICATION = TASKS = (
    "text-classification", "text-generation", "image-classification")


def make_spec(**values) -> TrainSpec:
    return build(TrainSpec, "training spec", **values)


def check_options(options: dict, what: str) -> None:
    """Refuse anything in `options` that is not a hyperparameter (InvalidArgument naming it)."""
    unknown = sorted(set(options) - set(HYPERPARAMETERS))
    if unknown:
        raise InvalidArgument(f"invalid {what}: unknown option(s) {', '.join(unknown)}")
