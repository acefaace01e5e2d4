"""Benchmark (quality per compute): a hyperparameter sweep with ASHA against one without, and
against the default hyperparameters, on BBC with a small budget.

(a) one run with the default hyperparameters; (b) random search, every trial to the end; (c) the
same random search (the same seed, so the same configurations in the same order) with ASHA
(reduction factor F, --reduction-factor, and grace period G, --grace-period, the sweep's defaults
unless given: 2 and 1): a trial goes past its G-th epoch (of --epochs, 4 by default) only in the
top 1/F there, past its G*F-th only in the top 1/F of those, and so on. --curves keeps every
trial's scores per epoch for bench/asha_replay.py.
Each trial is a Ray Train run of tuneloop's real loop (trainer.sweep, through the same handle
the trainer uses); trials run 2 at a time, one worker with one core each. Compute is the sum
of the trials' training seconds (Tune's time_total_s: from the trial's start to its last
report) times their workers. The best trial's checkpoint is scored on BBC's whole test split by
the evaluator's inference path.

Goal (issue 17): (c) reaches (b)'s best validation score with at least 40% less compute, and
beats (a).

    python bench/sweep.py [--trials 6] [--train-rows 240] [--epochs 4] [--reduction-factor 2] [--grace-period 1]
                          [--seed 7] [--curves FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from inputs import bbc_inputs, offline_env

offline_env()
DATA = {"max_length": 48, "bf16": False, "log_every": 1000}
SPACE = {"learning_rate": {"loguniform": [1e-5, 3e-4]}, "warmup_ratio": {"uniform": [0.0, 0.2]},
         "weight_decay": {"uniform": [0.0, 0.1]}, "batch_size": {"choice": [8, 16, 32]},
         "freeze_layers": {"choice": [0, 2, 4]}, "epochs": 4}


def test_f1(checkpoint: str, test) -> float:
    from tuneloop.evaluator.scores import report
    from tuneloop.ml.classifier import Classifier

    classifier = Classifier(Path(checkpoint) / "model", max_length=DATA["max_length"])
    probs, _ = classifier.probabilities(test["text"].to_list())
    truth = np.array([classifier.labels.index(x) for x in test["label"].to_list()])
    return report(truth, probs, classifier.labels)["f1_macro"]


def trial_curves(tune_dir: Path) -> dict:
    """Each trial's Tune results (`result.json`, one line per validated epoch), in the order the
    trials started: {trial id: [{"epoch", "val_score", "sweep_rank", "seconds", "time"}, ...]}."""
    keys = {"training_iteration": "epoch", "val_score": "val_score", "sweep_rank": "sweep_rank",
            "time_total_s": "seconds", "timestamp": "time"}
    curves = {}
    for path in tune_dir.rglob("result.json"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if lines:
            curves[lines[0]["trial_id"]] = [{v: row.get(k) for k, v in keys.items()} for row in lines]
    return dict(sorted(curves.items(), key=lambda kv: kv[1][0]["time"] - kv[1][0]["seconds"]))


def run(inputs, workdir: Path, options: dict, sweep: dict | None):
    """(result, wall seconds) of one run or sweep, through the trainer's own handle."""
    from tuneloop.ml.spec import TrainSpec
    from tuneloop.trainer.loop import LoopConfig
    from tuneloop.trainer.raytrain import RunHandle

    spec = TrainSpec(dataset="d", base_model="minilm", model="bench", **{**DATA, **options})
    config = LoopConfig(spec=spec, labels=inputs.labels, dataset=inputs.dataset, base_model=inputs.base_model,
                        services=inputs.services, storage_url=str(workdir), threads=1)
    started = time.perf_counter()
    result = RunHandle(config, name=workdir.name, workers=1, use_gpu=False, max_failures=0, sweep=sweep,
                       on_progress=lambda e: None).wait()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--train-rows", type=int, default=240)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=4, help="each trial's epochs (ASHA's max_t; its rungs: "
                        "G, G*F, G*F*F... epochs up to it)")
    parser.add_argument("--reduction-factor", type=int, default=0, help="ASHA's F: at each rung only the top 1/F "
                        "of the trials go on (0: the sweep's default)")
    parser.add_argument("--grace-period", type=int, default=0, help="ASHA's first rung G, in epochs (0: the sweep's "
                        "default)")
    parser.add_argument("--curves", type=Path, help="write every trial's validation score and seconds per epoch here "
                        "(JSON), to replay other stopping rules on them")
    args = parser.parse_args()
    import polars as pl

    from tuneloop.ml.space import GRACE_PERIOD, REDUCTION_FACTOR
    from tuneloop.trainer.raytrain import ensure_ray

    factor, grace = args.reduction_factor or REDUCTION_FACTOR, args.grace_period or GRACE_PERIOD

    with tempfile.TemporaryDirectory() as tmp, bbc_inputs(Path(tmp)) as inputs:
        ensure_ray(None)
        name, version = inputs.dataset.split("@")
        inputs.client.dataprep.download_split(name, version, "test", Path(tmp) / "test.parquet")
        test = pl.read_parquet(Path(tmp) / "test.parquet", columns=["text", "label"])
        common = {"max_train_samples": args.train_rows, "seed": args.seed}
        sweep = {"space": SPACE | {"epochs": args.epochs}, "trials": args.trials, "max_concurrent": args.concurrent,
                 "searcher": "random", "seed": args.seed, "reduction_factor": factor,
                 "grace_period": grace}
        rows, curves = [], {}
        default, wall = run(inputs, Path(tmp) / "a-default", common, None)
        rows.append(("(a) default hyperparameters", 1, default.best_metrics["val_f1_macro"],
                     test_f1(default.best_checkpoint, test), wall, wall))
        for label, scheduler in (("(b) random search, no early stopping", "none"),
                                 (f"(c) random search + ASHA, reduction factor {factor}, grace period {grace}", "asha")):
            result, wall = run(inputs, Path(tmp) / f"sweep-{scheduler}", common, sweep | {"scheduler": scheduler})
            curves[scheduler] = trial_curves(Path(tmp) / f"sweep-{scheduler}" / "tune")
            compute = sum(t["seconds"] for t in result.trials)
            stopped = sum(t["state"] == "STOPPED" for t in result.trials)
            rows.append((f"{label} ({stopped} stopped early)" if stopped else label, len(result.trials),
                         result.best_metrics["val_f1_macro"], test_f1(result.best_checkpoint, test), compute, wall))
            print(f"  {label}: best {result.best_trial['config']}", flush=True)
            for t in result.trials:  # why ASHA stopped what it stopped: each trial's epochs and best score
                print(f"    {t['trial']} {t['state']:<10} epochs {t['epochs']} best val {t['best_score']:.4f} "
                      f"{t['seconds']:.0f} s  {t['config']}", flush=True)
        if args.curves:
            args.curves.write_text(json.dumps(curves, indent=1))
        print("| | trials | best val macro-F1 | its test macro-F1 | compute (trial seconds) | wall |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, trials, val, test_score, compute, wall in rows:
            print(f"| {label} | {trials} | {val:.4f} | {test_score:.4f} | {compute:.0f} s | {wall:.0f} s |")
        b, c = rows[1], rows[2]
        print(f"\n(c) vs (b): best val {c[2]:.4f} vs {b[2]:.4f} ({'reached' if c[2] >= b[2] else 'NOT reached'}), "
              f"compute {c[4] / b[4]:.2f}x ({1 - c[4] / b[4]:.0%} less); (c) vs (a) test: {c[3]:.4f} vs {rows[0][3]:.4f}")


if __name__ == "__main__":
    main()
