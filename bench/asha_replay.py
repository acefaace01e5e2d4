"""Replay ASHA stopping rules on a sweep's recorded learning curves, to see what each reduction
factor and grace period would have stopped and saved without training again.

`bench/sweep.py --curves FILE` records every trial's validation score and Tune seconds per
epoch; its "none" sweep ran every trial to the end, so its curves say what any stopping rule
would have seen. The replay runs Ray Tune's own ASHAScheduler (not a copy of its rule) on those
results in the order a sweep with the same concurrency would deliver them: trials start in their
recorded order as slots free up, a result arrives at the trial's start plus its recorded seconds,
and a stopped trial frees its slot at its last result. Compute is then the stopped and finished
trials' seconds summed, as the bench counts it. The timings come from the full run, so a replay
approximates; the real sweep is the measurement.

With `--orders N` each rule is also replayed on N random orders of the same trials: how much it
saves, and how often it keeps the best trial, should not hang on the order one seed drew.

    python bench/asha_replay.py CURVES.json [--concurrent 2] [--factors 2 3 4 8] [--graces 1 2 3] [--orders 200]
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
from dataclasses import dataclass
from pathlib import Path

RANK = "sweep_rank"


@dataclass
class _Trial:
    trial_id: str


def replay(curves: dict[str, list[dict]], *, factor: int, grace: int, concurrent: int) -> dict:
    """{trial id: epochs run} under ASHA(`factor`, `grace`), trials `concurrent` at a time."""
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    max_t = max(len(c) for c in curves.values())
    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=grace,
                              reduction_factor=factor)
    scheduler.set_search_properties(RANK, "max")
    waiting, ran, events = list(curves), {}, []  # events: (arrival time, trial id, epoch index)

    def start(now: float) -> None:
        trial_id = waiting.pop(0)
        scheduler.on_trial_add(None, _Trial(trial_id))
        heapq.heappush(events, (now + curves[trial_id][0]["seconds"], trial_id, 0))

    for _ in range(min(concurrent, len(waiting))):
        start(0.0)
    while events:
        now, trial_id, k = heapq.heappop(events)
        row, curve = curves[trial_id][k], curves[trial_id]
        action = scheduler.on_trial_result(None, _Trial(trial_id), {"training_iteration": k + 1, RANK: row[RANK]})
        if action == TrialScheduler.STOP or k + 1 == len(curve):
            ran[trial_id] = k + 1
            if waiting:
                start(now)
        else:
            heapq.heappush(events, (now + curve[k + 1]["seconds"] - row["seconds"], trial_id, k + 1))
    return ran


def summary(curves: dict[str, list[dict]], ran: dict[str, int]) -> tuple[float, float, int]:
    """(best validation score seen, compute seconds, trials stopped early) of a replayed sweep."""
    best = max(row["val_score"] for t, n in ran.items() for row in curves[t][:n])
    compute = sum(curves[t][n - 1]["seconds"] for t, n in ran.items())
    return best, compute, sum(n < len(curves[t]) for t, n in ran.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curves", type=Path)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--factors", type=int, nargs="+", default=[2, 3, 4, 8])
    parser.add_argument("--graces", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--orders", type=int, default=0, help="also replay on this many random trial orders")
    args = parser.parse_args()
    curves = json.loads(args.curves.read_text())["none"]
    full_best, full_compute, _ = summary(curves, {t: len(c) for t, c in curves.items()})
    print(f"full search: {len(curves)} trials, best val {full_best:.4f}, compute {full_compute:.0f} s\n")
    orders = [random.Random(seed).sample(list(curves), len(curves)) for seed in range(args.orders)]
    more = f" | over {args.orders} orders: less (mean, 10th-90th percentile) | keeps the best" if orders else ""
    print(f"| reduction factor | grace period | stopped | best val | reaches the full best | compute | less{more} |")
    print("|---:|---:|---:|---:|---|---:|---:" + ("|---:|---:|" if orders else "|"))
    for factor in args.factors:
        for grace in args.graces:
            ran = replay(curves, factor=factor, grace=grace, concurrent=args.concurrent)
            best, compute, stopped = summary(curves, ran)
            line = (f"| {factor} | {grace} | {stopped} | {best:.4f} | {'yes' if best >= full_best else 'no'} | "
                    f"{compute:.0f} s | {1 - compute / full_compute:.0%} |")
            if orders:
                outcomes = [summary(curves, replay({t: curves[t] for t in order}, factor=factor, grace=grace,
                                                   concurrent=args.concurrent)) for order in orders]
                less = sorted(1 - c / full_compute for _, c, _ in outcomes)
                kept = sum(b >= full_best for b, _, _ in outcomes) / len(outcomes)
                line += (f" {sum(less) / len(less):.0%} ({less[len(less) // 10]:.0%}-{less[len(less) * 9 // 10]:.0%})"
                         f" | {kept:.0%} |")
            print(line)


if __name__ == "__main__":
    main()
