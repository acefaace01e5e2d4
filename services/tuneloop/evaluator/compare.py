"""Candidate vs baseline on the same examples: paired statistics and a gating verdict.

- Paired bootstrap: resample the examples (seeded) `resamples` times, recompute both models'
  macro-F1 and accuracy on each resample; the (alpha/2, 1-alpha/2) percentiles of the
  differences give the confidence interval.
- McNemar's test on the discordant pairs (one model right, the other wrong): exact binomial
  below 25 discordant pairs, chi-square with continuity correction above.
- The policy's verdict:
  `reject` when some class's F1 drops by more than `max_class_drop`, or when the candidate
  is significantly worse (CI entirely below 0 and McNemar p < alpha);
  `promote` when macro-F1 improves by at least `min_improvement` and significantly (CI
  entirely above 0 and McNemar p < alpha);
  `inconclusive` otherwise. Every verdict comes with its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, chi2
from sklearn.metrics import f1_score

from tuneloop.errors import InvalidArgument
from tuneloop.evaluator.records import Verdict


@dataclass(frozen=True)
class GatePolicy:
    min_improvement: float = 0.0
    alpha: float = 0.05
    max_class_drop: float = 0.05
    resamples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise InvalidArgument("alpha must be between 0 and 1")
        if self.max_class_drop < 0:
            raise InvalidArgument("max_class_drop must not be negative")
        if not 10 <= self.resamples <= 100_000:
            raise InvalidArgument("resamples must be between 10 and 100000")


def mcnemar_p(cand_right: np.ndarray, base_right: np.ndarray) -> float:
    b = int((cand_right & ~base_right).sum())  # candidate right, baseline wrong
    c = int((~cand_right & base_right).sum())
    if b + c == 0:
        return 1.0
    if b + c < 25:
        return float(binomtest(b, b + c, 0.5).pvalue)
    return float(chi2.sf((abs(b - c) - 1) ** 2 / (b + c), df=1))


def _f1(y: np.ndarray, pred: np.ndarray, n_labels: int) -> float:
    return f1_score(y, pred, labels=list(range(n_labels)), average="macro", zero_division=0)


def compare(y_true: np.ndarray, cand_pred: np.ndarray, base_pred: np.ndarray, labels: list[str],
            policy: GatePolicy) -> dict:
    n, k = len(y_true), len(labels)
    if n == 0:
        raise InvalidArgument("nothing to compare: the split is empty")
    delta_f1 = _f1(y_true, cand_pred, k) - _f1(y_true, base_pred, k)
    delta_acc = float((cand_pred == y_true).mean() - (base_pred == y_true).mean())
    rng = np.random.default_rng(policy.seed)
    f1_deltas, acc_deltas = np.empty(policy.resamples), np.empty(policy.resamples)
    cand_right, base_right = cand_pred == y_true, base_pred == y_true
    for i in range(policy.resamples):
        idx = rng.integers(0, n, n)
        f1_deltas[i] = _f1(y_true[idx], cand_pred[idx], k) - _f1(y_true[idx], base_pred[idx], k)
        acc_deltas[i] = cand_right[idx].mean() - base_right[idx].mean()
    lo, hi = np.percentile(f1_deltas, [100 * policy.alpha / 2, 100 * (1 - policy.alpha / 2)])
    acc_lo, acc_hi = np.percentile(acc_deltas, [100 * policy.alpha / 2, 100 * (1 - policy.alpha / 2)])
    p_value = mcnemar_p(cand_right, base_right)
    cand_cls = f1_score(y_true, cand_pred, labels=list(range(k)), average=None, zero_division=0)
    base_cls = f1_score(y_true, base_pred, labels=list(range(k)), average=None, zero_division=0)
    per_class = {label: float(cand_cls[i] - base_cls[i]) for i, label in enumerate(labels)}
    verdict, reasons = gate(delta_f1, float(lo), float(hi), p_value, per_class, policy)
    return {"n": n, "metric": "f1_macro", "delta": float(delta_f1), "p_value": p_value, "test": "mcnemar",
            "delta_f1_macro": float(delta_f1), "ci_low": float(lo), "ci_high": float(hi),
            "delta_accuracy": delta_acc, "accuracy_ci_low": float(acc_lo), "accuracy_ci_high": float(acc_hi),
            "mcnemar_p": p_value, "per_class_delta": per_class, "verdict": verdict, "reasons": reasons}


def gate(delta: float, lo: float, hi: float, p_value: float, per_class: dict[str, float],
         policy: GatePolicy, *, metric: str = "macro-F1", test: str = "McNemar") -> tuple[Verdict, list[str]]:
    drops = {c: d for c, d in per_class.items() if d < -policy.max_class_drop}
    if drops:
        return Verdict.REJECT, [f"F1 of class {c!r} drops by {-d:.4f}, more than the allowed {policy.max_class_drop:.4f}"
                          for c, d in sorted(drops.items())]
    significant = p_value < policy.alpha
    if hi < 0 and significant:
        return Verdict.REJECT, [f"{metric} is worse by {-delta:.4f} (CI [{lo:.4f}, {hi:.4f}], {test} p={p_value:.4g})"]
    if delta >= policy.min_improvement and lo > 0 and significant:
        return Verdict.PROMOTE, [f"{metric} improves by {delta:.4f} >= {policy.min_improvement:.4f} "
                           f"(CI [{lo:.4f}, {hi:.4f}], {test} p={p_value:.4g} < {policy.alpha})"]
    reasons = []
    if delta < policy.min_improvement:
        reasons.append(f"{metric} change {delta:+.4f} is below the required {policy.min_improvement:+.4f}")
    if lo <= 0:
        reasons.append(f"the {1 - policy.alpha:.0%} CI of the change [{lo:.4f}, {hi:.4f}] includes 0")
    if not significant:
        reasons.append(f"{test} p={p_value:.4g} is not below alpha={policy.alpha}")
    return Verdict.INCONCLUSIVE, reasons
