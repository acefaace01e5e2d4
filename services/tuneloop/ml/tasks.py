"""What differs between the two text tasks inside a training worker: examples, batches, the model,
and how validation scores it. The training loop (`trainer/loop.py`) is the same for both.

- `Classification`: text -> label id; a *ForSequenceClassification model; validation
  macro-F1 and accuracy; the score to keep the best checkpoint by is macro-F1.
- `Generation` (supervised fine-tuning of a causal LM): each example is the prompt, formatted
  with the tokenizer's chat template when it has one (as a user turn, with the assistant's turn
  opened), then the completion and the end-of-text token. The loss is on the completion
  tokens only: every prompt position's label is -100, which transformers' causal-LM loss
  ignores. When an example is longer than `max_length`, the prompt is cut (its end, before the
  template closes the turn), never the completion's first half. Batches are length-grouped
  like classification's. Validation: the completions' mean token loss and its perplexity;
  the score is the negative loss.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import torch

from tuneloop.ml import batching, collapse, lora
from tuneloop.ml.modeling import freeze, load_classifier, predict
from tuneloop.ml.spec import CLASSIFICATION, GENERATION

IGNORE = -100  # the label transformers' cross-entropy skips
_SLOT = "\x00TUNELOOP_PROMPT\x00"


class _Text:
    """What both text tasks do alike: lengths are token counts, freezing counts transformer
    blocks, a checkpoint's model is saved with its tokenizer."""

    tokenizer: object

    def lengths(self, ids: list[list[int]]) -> list[int]:
        return [len(x) for x in ids]

    def freeze(self, model, n: int) -> int:
        return freeze(model, n)

    def save(self, model, folder: Path) -> None:
        lora.save(model, folder)  # with LoRA: merged, and the adapter apart
        self.tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]


class Classification(_Text):
    name = CLASSIFICATION
    peft_task = "SEQ_CLS"
    new_head = True  # a fresh *ForSequenceClassification head: see ml.collapse

    def __init__(self, tokenizer, labels: list[str], max_length: int) -> None:
        self.tokenizer, self.labels, self.max_length = tokenizer, labels, max_length

    def examples(self, path: Path, limit: int, seed: int) -> tuple[list[list[int]], list]:
        frame = _sample(pl.read_parquet(path, columns=["text", "label"]), limit, seed)
        index = {label: i for i, label in enumerate(self.labels)}
        return self.examples_of(frame["text"].to_list()), [index[lab] for lab in frame["label"].to_list()]

    def examples_of(self, texts: list[str]) -> list[list[int]]:
        return batching.tokenize(self.tokenizer, texts, self.max_length)

    def collate(self, ids: list[list[int]], targets: list, pad_id: int) -> dict[str, torch.Tensor]:
        return batching.collate(ids, pad_id, targets)

    def load(self, model_dir: Path, pad_id: int):
        return load_classifier(model_dir, self.labels, pad_token_id=pad_id)

    def validate(self, model, ids, targets, *, pad_id: int, device, autocast: bool, batch_size: int) -> dict:
        probs = predict(model, ids, pad_id=pad_id, batch_size=batch_size, device=device, autocast=autocast)
        return collapse.scores(targets, probs.argmax(dim=-1).tolist(), len(self.labels))


class Generation(_Text):
    name = GENERATION
    peft_task = "CAUSAL_LM"
    new_head = False  # the LM head is pretrained

    def __init__(self, tokenizer, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.before, self.after = prompt_frame(tokenizer)

    def example(self, prompt: str, completion: str) -> tuple[list[int], list[int]]:
        """(input ids, labels) of one pair: the prompt's labels are IGNORE."""
        return build_example(self.tokenizer, self.before, self.after, prompt, completion, self.max_length)

    def examples(self, path: Path, limit: int, seed: int) -> tuple[list[list[int]], list]:
        frame = _sample(pl.read_parquet(path, columns=["prompt", "completion"]), limit, seed)
        built = [self.example(p, c) for p, c in zip(frame["prompt"], frame["completion"], strict=True)]
        return [ids for ids, _ in built], [labels for _, labels in built]

    def collate(self, ids: list[list[int]], targets: list, pad_id: int) -> dict[str, torch.Tensor]:
        batch = batching.collate(ids, pad_id)
        labels = torch.full_like(batch["input_ids"], IGNORE)
        for row, seq in enumerate(targets):
            labels[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        batch["labels"] = labels
        return batch

    def load(self, model_dir: Path, pad_id: int):
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        model.config.pad_token_id = pad_id
        return model

    def validate(self, model, ids, targets, *, pad_id: int, device, autocast: bool, batch_size: int) -> dict:
        loss = completion_loss(model, ids, targets, pad_id=pad_id, device=device, autocast=autocast,
                               batch_size=batch_size, collate=self.collate)
        return {"val_loss": loss, "val_perplexity": math.exp(min(loss, 50.0)), "val_score": -loss}


@torch.inference_mode()
def completion_loss(model, ids, targets, *, pad_id: int, device, autocast: bool, batch_size: int, collate) -> float:
    """Mean loss per completion token over all examples (not a mean of batch means)."""
    model = getattr(model, "module", model)
    model.eval()
    total, tokens = 0.0, 0
    for start in range(0, len(ids), batch_size):
        batch = {k: v.to(device) for k, v in collate(ids[start:start + batch_size],
                                                      targets[start:start + batch_size], pad_id).items()}
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        shifted = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), shifted,
                                                   ignore_index=IGNORE, reduction="sum")
        total, tokens = total + float(losses), tokens + int((shifted != IGNORE).sum())
    return total / max(tokens, 1)


def prompt_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The token ids around a prompt: the chat template's user turn up to the assistant's opened
    turn (or, without a template, the BOS token if the tokenizer adds one, and a line break after)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": _SLOT}], tokenize=False,
                                             add_generation_prompt=True)
        head, tail = text.split(_SLOT)
        return (tokenizer(head, add_special_tokens=False)["input_ids"],
                tokenizer(tail, add_special_tokens=False)["input_ids"])
    bos = [tokenizer.bos_token_id] if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id else []
    return bos, tokenizer("\n", add_special_tokens=False)["input_ids"]


def build_example(tokenizer, before: list[int], after: list[int], prompt: str, completion: str,
                  max_length: int) -> tuple[list[int], list[int]]:
    answer = tokenizer(completion, add_special_tokens=False)["input_ids"][:max(1, max_length // 2)]
    answer = answer + [tokenizer.eos_token_id]
    room = max(0, max_length - len(before) - len(after) - len(answer))
    question = tokenizer(prompt, add_special_tokens=False)["input_ids"][:room]
    prefix = before + question + after
    return prefix + answer, [IGNORE] * len(prefix) + answer


def make_task(name: str, tokenizer, labels: list[str], max_length: int) -> Classification | Generation:
    return Generation(tokenizer, max_length) if name == Generation.name else \
        Classification(tokenizer, labels, max_length)


def wrap_or_load(task: Classification | Generation, spec, base_dir: Path, checkpoint: Path | None, pad_id: int):
    """The model a run starts from: with LoRA, the base plus the checkpoint's adapter (or fresh
    ones); without, the checkpoint's weights (or the base's)."""
    if spec.lora:
        return lora.wrap(task.load(base_dir, pad_id), spec, task.peft_task,
                         checkpoint / lora.ADAPTER_DIR if checkpoint else None)
    return task.load(checkpoint or base_dir, pad_id)


def _sample(frame: pl.DataFrame, limit: int, seed: int) -> pl.DataFrame:
    return frame.sample(n=limit, seed=seed, shuffle=True) if limit and frame.height > limit else frame
