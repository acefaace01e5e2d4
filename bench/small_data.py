"""Benchmark (quality): fine-tuning on little and on imbalanced data, the old defaults against the new.

Old: learning rate 2e-5 for every weight, an unweighted loss (what tuneloop did before issue 17;
tried from outside, it gave a one-class model on 200 imbalanced e-mails). New: the defaults now,
the new head at `head_lr_multiplier` (1000) times the body's rate, and a class-weighted loss when the
training labels are imbalanced (`ml.collapse`). Each run: MiniLM, 1 epoch, the bottom half (3 of
6 blocks) frozen, through tuneloop's real loop on Ray Train, scored on BBC's whole test split by
the evaluator's inference path; a run counts as degenerate when the collapse check warns.

Data: BBC (5 labels) capped at 100, 200 and 400 training rows; and an imbalanced two-label BBC
(business 70%, tech 30%, 200 training rows), like the e-mails.

    python bench/small_data.py [--seeds 3] [--sizes 100,200,400]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

from inputs import bbc_inputs, offline_env

offline_env()
OLD = {"learning_rate": 2e-5, "head_lr_multiplier": 1.0, "class_weighting": False}
COMMON = {"epochs": 1, "freeze_layers": 3, "max_length": 128, "batch_size": 16, "bf16": False, "log_every": 1000}


def imbalanced_rows() -> list[dict]:
    """Every business article and tech ones for 30% of the rows."""
    from tuneloop import bbc

    rows = bbc.rows()
    business = [r for r in rows if r["label"] == "business"]
    tech = [r for r in rows if r["label"] == "tech"][: len(business) * 3 // 7]
    return business + tech


def run_one(inputs, dataset: str, labels: list[str], test, options: dict, workdir: Path) -> tuple[float, bool]:
    """(test macro-F1, degenerate) of one fine-tune."""
    import torch

    from tuneloop.evaluator.scores import report
    from tuneloop.ml.classifier import Classifier
    from tuneloop.ml.spec import TrainSpec
    from tuneloop.trainer.loop import LoopConfig
    from tuneloop.trainer.raytrain import RunHandle

    spec = TrainSpec(dataset="d", base_model="minilm", model="bench", **{**COMMON, **options})
    config = LoopConfig(spec=spec, labels=labels, dataset=dataset, base_model=inputs.base_model,
                        services=inputs.services, storage_url=str(workdir), threads=torch.get_num_threads())
    result = RunHandle(config, name=workdir.name, workers=1, use_gpu=False, max_failures=0,
                       on_progress=lambda e: None).wait()
    classifier = Classifier(Path(result.best_checkpoint) / "model", max_length=128)
    probs, _ = classifier.probabilities(test["text"].to_list())
    truth = np.array([classifier.labels.index(x) for x in test["label"].to_list()])
    rep = report(truth, probs, classifier.labels)
    return rep["f1_macro"], bool(rep["warnings"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", default="100,200,400")
    parser.add_argument("--try", dest="tries", action="append", default=[],
                        help="a further variant to compare, e.g. head_lr_multiplier=10,learning_rate=5e-5")
    parser.add_argument("--skewed", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--only-tries", action="store_true", help="run the --try variants alone")
    args = parser.parse_args()
    from tuneloop import bbc
    from tuneloop.trainer.raytrain import ensure_ray

    tries = {t: {k: float(v) for k, v in (kv.split("=") for kv in t.split(","))} for t in args.tries}
    variants = ({} if args.only_tries else {"old": OLD, "new": {}}) | tries
    with tempfile.TemporaryDirectory() as tmp, bbc_inputs(Path(tmp)) as inputs:
        ensure_ray(None)
        skewed = inputs.client.dataprep.ingest(bbc.write_jsonl(Path(tmp) / "skewed.jsonl", imbalanced_rows()),
                                               dataset="bbc-skewed")
        cases = [(f"BBC, {n} rows", inputs.dataset, inputs.labels, n) for n in map(int, args.sizes.split(","))]
        if args.skewed:
            cases.append(("BBC business 70% / tech 30%, 200 rows", f"bbc-skewed@{skewed.version}",
                          sorted(skewed.labels), 200))
        print("| data | " + " | ".join(f"{v}: test macro-F1 (degenerate runs)" for v in variants) + " | per seed |")
        print("|---|" + "---|" * len(variants) + "---|")
        for i, (title, dataset, labels, n) in enumerate(cases):
            name, version = dataset.split("@")
            test = _split(inputs.client, name, version, Path(tmp) / f"test-{i}.parquet")
            scores: dict[str, list[tuple[float, bool]]] = {v: [] for v in variants}
            for seed in range(args.seeds):
                for variant, options in variants.items():
                    scores[variant].append(run_one(inputs, dataset, labels, test,
                                                   {**options, "seed": seed, "max_train_samples": n,
                                                    "epochs": args.epochs},
                                                   Path(tmp) / f"run-{i}-{seed}-{variant}"))
            cells = [f"{statistics.mean(f for f, _ in s):.3f} ({sum(d for _, d in s)}/{len(s)})"
                     for s in scores.values()]
            seeds = ", ".join("/".join(f"{s[seed][0]:.2f}" for s in scores.values()) for seed in range(args.seeds))
            print(f"| {title} | {' | '.join(cells)} | {seeds} |", flush=True)


def _split(client, name: str, version: str, path: Path):
    import polars as pl

    client.dataprep.download_split(name, version, "test", path)
    return pl.read_parquet(path, columns=["text", "label"])


if __name__ == "__main__":
    main()
