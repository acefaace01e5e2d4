"""Tokenized examples into batches: grouped by length, padded only to the longest in a batch.

Length grouping: each epoch shuffles the examples (seeded), cuts them into mega-batches
of 50 batches, sorts each mega-batch by length and cuts it into batches, then shuffles the
batch order. Batches hold texts of similar length, so dynamic padding wastes little.
The order is a pure function of (seed, epoch), which is what lets a resumed run skip
exactly the batches it had already trained on.
"""

from __future__ import annotations

import random

import torch


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    return tokenizer(texts, truncation=True, max_length=max_length, padding=False)["input_ids"]


def length_grouped_batches(lengths: list[int], batch_size: int, *, seed: int, epoch: int,
                           mega: int = 50) -> list[list[int]]:
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * mega
    for start in range(0, len(order), span):
        group = sorted(order[start:start + span], key=lambda i: lengths[i], reverse=True)
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(ids: list[list[int]], pad_id: int, labels: list[int] | None = None) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence of this batch; attention mask marks the real tokens."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if labels is not None:
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
    return batch


def shard(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """This worker's batches. Every worker gets the same count, at least one: each step is an
    all-reduce, so a rank with a batch more than another would wait for it forever. The
    remainder is dropped; fewer batches than workers are cycled so that each rank has one."""
    if world <= 1 or not batches:
        return batches
    usable = (batches * world)[:world] if len(batches) < world else batches[:len(batches) - len(batches) % world]
    return usable[rank::world]
