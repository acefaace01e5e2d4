"""Loading, freezing and running Hugging Face models for sequence classification: BERT-style
encoders and GPT-style decoders alike.

`inspect_model` tells, from a model folder's files alone, whether it can be fine-tuned here
and as what: an `encoder` (transformers has a masked-LM head for its type) or a `decoder` (a
causal-LM head and no masked one), either with a sequence-classification head, and a
tokenizer beside it. Encoder-decoders (T5, BART) are refused. A decoder classifies from its
last non-padding token through a new `score` head (transformers' *ForSequenceClassification
finds that token from `pad_token_id`, so padding is on the right and the pad id must be set:
`ensure_pad` gives a tokenizer without one its end-of-text token).

`freeze` means the same for any architecture: the embeddings plus the first N transformer
blocks stop getting gradients, and their forward passes run with autograd off
(`run_without_grad`), so no graph is recorded for them whatever their inputs. `predict` is
batched inference: inference mode, sorted by length, padded per batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from tuneloop.errors import FailedPrecondition, InvalidArgument
from tuneloop.ml.batching import collate

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json", "spiece.model")
_BLOCK_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers", "h", "decoder.layers", "blocks")


@dataclass(frozen=True)
class ModelInfo:
    family: str  # "encoder" or "decoder"
    model_type: str  # config.json's model_type: bert, llama, gpt2...
    depth: int  # transformer blocks
    hidden_size: int
    vocab_size: int
    heads: int
    intermediate_size: int = 0  # the MLP's width (0: unknown)


def _config_int(config: dict, *names: str) -> int:
    return next((int(config[n]) for n in names if config.get(n)), 0)


def inspect_model(model_dir: Path) -> ModelInfo:
    """Raise FailedPrecondition unless the folder holds a model this trainer can fine-tune."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise FailedPrecondition(f"{model_dir.name} has no config.json: not a Hugging Face model")
    config = json.loads(config_path.read_text())
    kind = config.get("model_type", "")
    if config.get("is_encoder_decoder") or kind not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        raise FailedPrecondition(f"model type {kind!r} is not an encoder or decoder that supports sequence "
                                 "classification")
    if kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not config.get("is_decoder"):
        family = "encoder"
    elif kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        family = "decoder"
    else:
        raise FailedPrecondition(f"model type {kind!r} is neither an encoder nor a decoder")
    if not any((model_dir / name).is_file() for name in _TOKENIZER_FILES):
        raise FailedPrecondition(f"{model_dir.name} ({kind} {family}) has no tokenizer: expected one of "
                                 f"{', '.join(_TOKENIZER_FILES)} beside config.json")
    return ModelInfo(family=family, model_type=kind,
                     depth=_config_int(config, "num_hidden_layers", "n_layer", "num_layers"),
                     hidden_size=_config_int(config, "hidden_size", "n_embd", "d_model"),
                     vocab_size=_config_int(config, "vocab_size"),
                     heads=_config_int(config, "num_attention_heads", "n_head"),
                     intermediate_size=_config_int(config, "intermediate_size", "n_inner"))


def blocks(model) -> list:
    """The transformer blocks of a model (BERT, MPNet, RoBERTa, Llama, GPT-2...), in order."""
    base = getattr(model, model.base_model_prefix, model)
    for path in _BLOCK_PATHS:
        node = base
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, torch.nn.ModuleList):
            return list(node)
    raise InvalidArgument(f"cannot find the transformer blocks of {type(model).__name__} to freeze")


def run_without_grad(modules) -> None:
    """Make each module's forward pass run under `torch.no_grad()` (and leave grad mode as it
    was afterwards, also when the pass raises). For frozen modules: nothing they compute is
    ever differentiated, so autograd need not record it. Their results are unchanged, and so
    is what the modules above them learn. Only for a network's frozen prefix: no gradient
    flows back through these modules, so nothing below them may be trainable."""
    for module in modules:
        modes: list[bool] = []

        def enter(_module, _args, modes=modes):
            modes.append(torch.is_grad_enabled())
            torch.set_grad_enabled(False)

        def leave(_module, _args, _output, modes=modes):
            torch.set_grad_enabled(modes.pop())

        module.register_forward_pre_hook(enter)
        module.register_forward_hook(leave, always_call=True)


def freeze(model, n_layers: int) -> int:
    """Freeze the embeddings and the first `n_layers` transformer blocks (0: train everything):
    no gradients for their parameters, and their forward passes run without autograd.
    Returns the number of parameters left trainable."""
    if n_layers > 0:
        base = getattr(model, model.base_model_prefix, model)
        embeddings = getattr(base, "embeddings", None)
        embeddings = model.get_input_embeddings() if embeddings is None else embeddings
        frozen = [m for m in (embeddings, getattr(base, "wpe", None)) if m is not None]  # GPT-2 keeps positions apart
        frozen += blocks(model)[:n_layers]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad = False
        run_without_grad(frozen)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def ensure_pad(tokenizer) -> None:
    """Give a tokenizer without a pad token its end-of-text token as one (GPT-2 and Llama
    tokenizers have none): padding sits right of the text, where no loss or pooling reads it."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise FailedPrecondition(f"{type(tokenizer).__name__} has neither a pad nor an end-of-text token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"


def load_classifier(model_dir: Path, labels: list[str], *, pad_token_id: int | None = None):
    from transformers import AutoModelForSequenceClassification

    # ignore_mismatched_sizes: a base that already has a classification head (a fine-tuned model
    # trained again, continue_from_champion) may have another number of labels; its head is then
    # replaced by a fresh one of the right size instead of failing to load
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, ignore_mismatched_sizes=True, dtype=torch.float32,
    )
    if pad_token_id is not None:
        model.config.pad_token_id = pad_token_id
    return model


def chunks(lengths: list[int], batch_size: int, max_tokens: int = 0) -> list[list[int]]:
    """Indices of `lengths` shortest first, in forward passes of at most `batch_size` examples and,
    when `max_tokens` is set, at most that many padded tokens (examples x the longest; one
    example alone may pass it)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for i in order:
        if out and len(out[-1]) < batch_size and (not max_tokens or (len(out[-1]) + 1) * lengths[i] <= max_tokens):
            out[-1].append(i)
        else:
            out.append([i])
    return out


@torch.inference_mode()
def predict(model, ids: list[list[int]], *, pad_id: int, batch_size: int = 64, max_tokens: int = 0,
            device: torch.device | None = None, autocast: bool = False) -> torch.Tensor:
    """Class probabilities for tokenized examples, in their input order, in passes of `chunks`.
    A DDP-wrapped model is run through its module: every rank validates on its own, with no
    collective op that would make ranks wait on each other (and DDP has no `config`)."""
    model = getattr(model, "module", model)
    device = device or next(model.parameters()).device
    model.eval()
    out = torch.empty((len(ids), model.config.num_labels), dtype=torch.float32)
    for chunk in chunks([len(x) for x in ids], batch_size, max_tokens):
        batch = {k: v.to(device) for k, v in collate([ids[i] for i in chunk], pad_id).items()}
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(**batch).logits
        out[chunk] = torch.softmax(logits.float(), dim=-1).cpu()
    return out
