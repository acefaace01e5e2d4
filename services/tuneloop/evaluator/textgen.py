"""Scoring generated text against references, and candidate vs baseline on the same prompts.

Per example:
- exact match: equal after SQuAD's normalization (lower case, punctuation and the articles
  a/an/the removed, whitespace collapsed);
- ROUGE-L F-measure (Google's `rouge-score`, Porter stemming): longest common subsequence of
  words, the standard summary and headline metric;
- token F1: SQuAD's bag-of-words overlap of the normalized texts.
Over the split, their means; plus the reference completions' token loss and perplexity
(`ml.generation.Generator.loss`), which need no decoding at all.

Comparison: the per-example ROUGE-L of both models on the same prompts, a paired bootstrap
interval of the mean difference (resampled prompts, seeded), and the Wilcoxon signed-rank
test on the differences; the gate's verdict follows the same rules as classification's
(`compare.gate`), on ROUGE-L instead of macro-F1 and with no per-class rule. Exact match is
reported beside it as the "accuracy" change, with McNemar's test on it.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np

from tuneloop.errors import InvalidArgument
from tuneloop.evaluator.compare import GatePolicy, gate, mcnemar_p

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def rouge_l(predictions: list[str], references: list[str]) -> np.ndarray:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return np.array([scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references,
                                                                                     strict=True)])


def exact(predictions: list[str], references: list[str]) -> np.ndarray:
    return np.array([normalize(p) == normalize(r) for p, r in zip(predictions, references, strict=True)])


def scores(predictions: list[str], references: list[str], *, loss: float, rouge: np.ndarray | None = None) -> dict:
    """The split's means; `rouge`: the per-example ROUGE-L when the caller has it already."""
    rouge = rouge_l(predictions, references) if rouge is None else rouge
    return {"exact_match": float(exact(predictions, references).mean()),
            "rouge_l": float(rouge.mean()),
            "token_f1": float(np.mean([token_f1(p, r) for p, r in zip(predictions, references, strict=True)])),
            "loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def compare_generation(references: list[str], candidate: list[str], baseline: list[str], policy: GatePolicy) -> dict:
    from scipy.stats import wilcoxon

    n = len(references)
    if n == 0:
        raise InvalidArgument("nothing to compare: the split is empty")
    cand, base = rouge_l(candidate, references), rouge_l(baseline, references)
    diff = cand - base
    rng = np.random.default_rng(policy.seed)
    cand_right, base_right = exact(candidate, references), exact(baseline, references)
    deltas, acc_deltas = np.empty(policy.resamples), np.empty(policy.resamples)
    for i in range(policy.resamples):
        idx = rng.integers(0, n, n)
        deltas[i], acc_deltas[i] = diff[idx].mean(), cand_right[idx].mean() - base_right[idx].mean()
    tails = [100 * policy.alpha / 2, 100 * (1 - policy.alpha / 2)]
    lo, hi = (float(x) for x in np.percentile(deltas, tails))
    acc_lo, acc_hi = (float(x) for x in np.percentile(acc_deltas, tails))
    p_value = 1.0 if not diff.any() else float(wilcoxon(cand, base, zero_method="zsplit").pvalue)
    delta = float(diff.mean())
    verdict, reasons = gate(delta, lo, hi, p_value, {}, policy, metric="ROUGE-L", test="Wilcoxon")
    return {"n": n, "metric": "rouge_l", "delta": delta, "p_value": p_value, "test": "wilcoxon",
            "delta_f1_macro": 0.0, "ci_low": lo, "ci_high": hi,
            "delta_accuracy": float(cand_right.mean() - base_right.mean()), "accuracy_ci_low": acc_lo,
            "accuracy_ci_high": acc_hi, "mcnemar_p": mcnemar_p(cand_right, base_right), "per_class_delta": {},
            "verdict": verdict, "reasons": reasons}
