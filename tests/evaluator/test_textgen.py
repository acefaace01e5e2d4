"""Generation metrics and the paired ROUGE-L comparison, on texts whose scores are known."""

from __future__ import annotations

import pytest

from tuneloop.evaluator.compare import GatePolicy
from tuneloop.evaluator.textgen import compare_generation, exact, normalize, rouge_l, scores, token_f1


def test_normalization_exact_match_and_token_f1_follow_squad():
    assert normalize("The Cat, sat!  on a mat.") == "cat sat on mat"
    assert exact(["The cat sat."], ["cat sat"]).tolist() == [True]
    assert token_f1("cat sat on mat", "the cat sat") == pytest.approx(2 * (2 / 4) * (2 / 2) / (2 / 4 + 2 / 2))
    assert token_f1("", "") == 1.0 and token_f1("dog", "") == 0.0 and token_f1("dog", "cat") == 0.0


def test_rouge_l_is_the_longest_common_subsequence_f_measure():
    # LCS of "profits jump at bank" and "bank profits jump sharply" is "profits jump": P=R=2/4
    assert rouge_l(["profits jump at bank"], ["bank profits jump sharply"])[0] == pytest.approx(0.5)
    assert rouge_l(["Shares rising"], ["shares rise"])[0] == pytest.approx(1.0), "stemmed"
    report = scores(["a b", "c"], ["a b", "d"], loss=0.0)
    assert report["exact_match"] == 0.5 and report["rouge_l"] == 0.5 and report["perplexity"] == 1.0


def test_a_better_generator_is_promoted_a_worse_one_rejected_and_a_tie_inconclusive():
    references = [f"headline number {i} about markets" for i in range(60)]
    good = list(references)
    poor = [f"story {i}" for i in range(60)]
    policy = GatePolicy(resamples=200)
    better = compare_generation(references, good, poor, policy)
    assert better["verdict"] == "promote" and better["ci_low"] > 0 and better["p_value"] < 0.05
    assert better["delta_accuracy"] == 1.0 and better["metric"] == "rouge_l"
    assert compare_generation(references, poor, good, policy)["verdict"] == "reject"
    tie = compare_generation(references, good, good, policy)
    assert tie["verdict"] == "inconclusive" and tie["p_value"] == 1.0 and tie["delta"] == 0.0
