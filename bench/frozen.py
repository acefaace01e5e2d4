"""Benchmark probe: what running frozen layers without autograd changes (issue 19, part 3).

MiniLM trained by a plain loop on the bench's rows (same batches, same seed) in four ways, each
in its own fresh process so that its peak memory is its own:
  full       every layer trained;
  earlier    bottom half frozen the earlier way: the parameters need no gradient, autograd on
             (tuneloop's `freeze` with its no-grad hooks taken off);
  no_grad    bottom half frozen as tuneloop's `freeze` does now: the frozen modules' forward
             passes run under `torch.no_grad()`;
  eval       as no_grad, and the frozen modules in eval mode (no dropout): NOT what tuneloop
             does, since it changes what is learned; shown for what the 1.6x goal would take.
Each reports steady samples/s (the first WARMUP steps left out), the bytes autograd saved for
the backward pass per step (`saved_tensors_hooks`), the process's peak RSS (VmHWM), and its losses
(earlier and no_grad must match exactly). `bench/train.py` runs it and prints the ratios.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

WAYS = ("full", "earlier", "no_grad", "eval")
WARMUP = 3


def _run(way: str, base: str, data: str, labels: list[str], batch: int, max_length: int) -> dict:
    import polars as pl
    import torch
    from transformers import AutoTokenizer

    from tuneloop.ml.modeling import blocks, freeze, load_classifier

    torch.set_num_threads(os.cpu_count() or 1)
    frame = pl.read_parquet(Path(data) / "train.parquet")
    tokenizer = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    model = load_classifier(Path(base), labels)
    if way != "full":
        freeze(model, 3)
    frozen = [model.bert.embeddings, *blocks(model)[:3]]
    if way == "earlier":
        for module in model.modules():
            module._forward_pre_hooks.clear()
            module._forward_hooks.clear()
            module._forward_hooks_always_called.clear()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5, fused=True)
    texts, ys = frame["text"].to_list(), torch.tensor([labels.index(x) for x in frame["label"]])
    saved = [0]

    def pack(tensor):
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    torch.manual_seed(1)
    losses, seconds, samples, saved_per_step = [], 0.0, 0, []
    for step, start in enumerate(range(0, len(texts), batch)):
        t0 = time.perf_counter()
        enc = tokenizer(texts[start:start + batch], truncation=True, max_length=max_length, padding=True,
                        return_tensors="pt")
        model.train()
        if way == "eval":
            for module in frozen:
                module.eval()
        saved[0] = 0
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(**enc, labels=ys[start:start + batch]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        saved_per_step.append(saved[0])
        if step >= WARMUP:
            seconds += time.perf_counter() - t0
            samples += len(enc["input_ids"])
    return {"samples_per_second": samples / seconds, "saved_mb_per_step": sum(saved_per_step) / len(saved_per_step) / 1e6,
            "peak_rss_mb": _peak_rss_mb(), "losses": losses}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: kept per address space, so a spawned child's
    own; getrusage's ru_maxrss would carry the parent's peak across exec)."""
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024


def measure(base: str, data: Path, labels: list[str], *, batch: int, max_length: int) -> dict[str, dict]:
    """Each way in a fresh spawned process, one after the other."""
    context = multiprocessing.get_context("spawn")
    results = {}
    for way in WAYS:
        with context.Pool(1) as pool:
            results[way] = pool.apply(_run, (way, base, str(data), labels, batch, max_length))
    return results


def report(results: dict[str, dict]) -> None:
    print("  frozen layers without autograd (plain loop, each way in its own process):")
    for way, r in results.items():
        print(f"    {way:8s} {r['samples_per_second']:8.2f} samples/s  saved for backward "
              f"{r['saved_mb_per_step']:7.1f} MB/step  peak RSS {r['peak_rss_mb']:7.0f} MB")
    full = results["full"]["samples_per_second"]
    print(f"    bottom half frozen, no_grad: {results['no_grad']['samples_per_second'] / full:.2f}x full, "
          f"earlier way {results['earlier']['samples_per_second'] / full:.2f}x, "
          f"frozen in eval mode {results['eval']['samples_per_second'] / full:.2f}x  (goal >= 1.6x)")
    same = results["earlier"]["losses"] == results["no_grad"]["losses"]
    print(f"    losses of earlier and no_grad identical: {same}")
