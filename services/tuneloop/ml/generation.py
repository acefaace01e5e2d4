"""Batched greedy generation with a registered causal LM, and its loss on reference completions.

Prompts are framed exactly as in training (the chat template's user turn when the tokenizer
has one, the assistant's turn opened), with the body cut as the trainer cuts it so that the
answer still fits `max_length`, and padded on the left so that every row's next token follows
its own prompt. Generation is greedy (deterministic: the same
model and data give the same text, which a stored report relies on) and stops at the
end-of-text token or `max_new_tokens`. On a GPU it runs in bf16 autocast.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from tuneloop.ml.modeling import ensure_pad
from tuneloop.ml.tasks import IGNORE, Generation, build_example, completion_loss


class Generator:
    def __init__(self, model_dir: Path, *, max_length: int = 512, batch_size: int = 16) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        ensure_pad(self.tokenizer)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        self.model = model.to(self.device).eval()  # type: ignore[arg-type]  # transformers' stubs: .to(device)
        # prompt and answer within what the model has positions for (and its tokenizer's limit)
        limits = [max_length, getattr(model.config, "max_position_embeddings", None),
                  getattr(self.tokenizer, "model_max_length", None)]
        self.task = Generation(self.tokenizer, min(x for x in limits if isinstance(x, int) and x > 0))
        self.batch_size = batch_size

    def prompt_ids(self, prompt: str, max_new_tokens: int) -> list[int]:
        """The framed prompt's ids, its body cut so that the answer still fits `max_length`."""
        ids, labels = build_example(self.tokenizer, self.task.before, self.task.after, prompt, "",
                                    max(1, self.task.max_length - max_new_tokens))
        return [t for t, label in zip(ids, labels, strict=True) if label == IGNORE]

    @torch.inference_mode()
    def generate(self, prompts: list[str], *, max_new_tokens: int) -> tuple[list[str], float]:
        """Greedy completions of `prompts` (in order) and examples/s."""
        started = time.perf_counter()
        ids = [self.prompt_ids(p, max_new_tokens) for p in prompts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[str] = [""] * len(ids)
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.tensor([[pad] * (width - len(ids[i])) + ids[i] for i in chunk], device=self.device)
            mask = torch.tensor([[0] * (width - len(ids[i])) + [1] * len(ids[i]) for i in chunk], device=self.device)
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                                enabled=self.device.type == "cuda"):
                result = self.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                             do_sample=False, pad_token_id=pad,
                                             eos_token_id=self.tokenizer.eos_token_id)
            for row, i in enumerate(chunk):
                out[i] = str(self.tokenizer.decode(result[row, width:], skip_special_tokens=True)).strip()
        seconds = time.perf_counter() - started
        return out, len(prompts) / seconds if seconds else 0.0

    def loss(self, prompts: list[str], completions: list[str]) -> float:
        """Mean loss per completion token, the prompts masked as in training."""
        built = [self.task.example(p, c) for p, c in zip(prompts, completions, strict=True)]
        return completion_loss(self.model, [ids for ids, _ in built], [labels for _, labels in built],
                               pad_id=self.tokenizer.pad_token_id, device=self.device,
                               autocast=self.device.type == "cuda", batch_size=self.batch_size,
                               collate=self.task.collate)
