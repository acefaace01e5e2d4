"""A training job's peak memory per worker, estimated before it starts.

A job that cannot fit is refused at submit (RESOURCE_EXHAUSTED, with the estimate and its
parts) instead of being killed by the kernel's OOM killer half-way through an epoch, which
Ray reports as a lost worker and retries into the same wall.

The estimate, for float32 training with AdamW:
- weights: 4 bytes per parameter (counted from the safetensors headers, nothing loaded);
- gradients and optimizer state: 4 + 8 bytes per *trainable* parameter (all of them; with
  LoRA, the adapters and the head: rank x (in + out) per adapted matrix, bounded here by
  2 x rank x hidden per targeted projection, 7 per block, plus the head);
- activations kept for the backward pass: per block, 34·s·b·h + 5·a·s²·b bytes in half
  precision (Korthikanti et al., 2022, "Reducing Activation Recomputation in Large
  Transformer Models", eq. 1 without tensor parallelism), doubled for float32;
- with LoRA, what each adapted projection keeps for its own backward pass: about three copies
  of its input (the dropout's output and mask, the down-projection's output), 12 bytes per
  input value, per token and block; the inputs are the hidden size wide, or the MLP's
  intermediate size for its down projection;
- the logits: b·s·V floats three times over (logits, log-softmax, its gradient) for
  a causal-LM loss; a classifier's are negligible;
- 0.5 GB for the process itself (torch, transformers, the Ray worker).
Checked against measured peak RSS (SmolLM2-135M with LoRA on CPU, docs/benchmarks.md): within
10% either way for classification and causal-LM losses, default and all-linear targets. A
refusal is meant for jobs clearly too big; one at the edge may still run out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from tuneloop.ml.modeling import ModelInfo

GB = 1024**3
_PROCESS_BYTES = GB // 2


def count_parameters(model_dir: Path) -> int:
    """Parameters in a folder's safetensors files, from their headers (no tensor is read)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(path, framework="numpy") as f:
            total += sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())  # noqa: SIM118
    return total


# the projections peft adapts by default (query and value) and what `all-linear` adds, by input width
_DEFAULT_TARGETS = ("q_proj", "v_proj")
_ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def lora_input_width(info: ModelInfo, targets: str) -> int:
    """The summed input width of the projections LoRA adapts in one block."""
    names = [t.strip() for t in targets.split(",") if t.strip()] or list(_DEFAULT_TARGETS)
    if names == ["all-linear"]:
        names = list(_ALL_LINEAR)
    wide = info.intermediate_size or 4 * info.hidden_size
    return sum(wide if name.split(".")[-1] in ("down_proj", "fc2", "dense_4h_to_h", "c_proj") else info.hidden_size
               for name in names)


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    optimizer: int  # gradients + AdamW state
    activations: int
    logits: int
    adapters: int  # what the LoRA branches keep for backward
    process: int = _PROCESS_BYTES

    @property
    def total(self) -> int:
        return self.weights + self.optimizer + self.activations + self.logits + self.adapters + self.process

    def describe(self) -> str:
        parts = ", ".join(f"{name} {value / GB:.2f}" for name, value in asdict(self).items())
        return f"{self.total / GB:.2f} GB ({parts})"


def estimate(info: ModelInfo, parameters: int, *, batch_size: int, max_length: int, lora: bool, lora_rank: int,
             freeze_layers: int = 0, causal_lm: bool = False, lora_targets: str = "") -> MemoryEstimate:
    b, s, h, a, depth = batch_size, max_length, info.hidden_size, max(info.heads, 1), max(info.depth, 1)
    if lora:
        trainable = 7 * depth * 2 * lora_rank * h + 64 * h  # adapters on every projection, plus a head
    else:
        trainable = int(parameters * (1 - min(freeze_layers, depth) / depth)) if freeze_layers else parameters
    activations = depth * (34 * s * b * h + 5 * a * s * s * b) * 2
    logits = 3 * b * s * info.vocab_size * 4 if causal_lm else 0
    adapters = 12 * b * s * depth * lora_input_width(info, lora_targets) if lora else 0
    return MemoryEstimate(weights=4 * parameters, optimizer=12 * trainable, activations=activations, logits=logits,
                          adapters=adapters)
