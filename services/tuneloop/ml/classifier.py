"""Batched inference of a registered classifier on texts: inference mode, sorted by length,
padded per batch, on the GPU when one is there."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from tuneloop.ml.batching import tokenize
from tuneloop.ml.modeling import ensure_pad, predict


class Classifier:
    def __init__(self, model_dir: Path, *, max_length: int = 512, batch_size: int = 64) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        ensure_pad(self.tokenizer)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(self.device).eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.max_length = min(max_length, getattr(self.tokenizer, "model_max_length", max_length) or max_length)
        self.batch_size = batch_size

    def probabilities(self, texts: list[str]) -> tuple[np.ndarray, float]:
        """Class probabilities (rows in input order, columns in `labels` order) and examples/s."""
        started = time.perf_counter()
        ids = tokenize(self.tokenizer, texts, self.max_length)
        probs = predict(self.model, ids, pad_id=self.tokenizer.pad_token_id, batch_size=self.batch_size,
                        device=self.device, autocast=self.device.type == "cuda")
        seconds = time.perf_counter() - started
        return probs.numpy(), len(texts) / seconds if seconds else 0.0
