"""The HTML report in a real headless browser: every plot drawn at a real size, no console error,
no fetch beyond the file itself; a report with parts missing says what is missing and draws no
empty plot. (The demo's report, gathered from real services, is opened in test_cli.py.)"""

from __future__ import annotations

import re

from reportpage import open_page

from tuneloop.report import render

LABELS = ["business", "sport", "tech"]


def _data(**overrides) -> dict:
    evaluation = {
        "dataset": "bbc@abc", "task": "text-classification", "n": 90, "accuracy": 0.9, "f1_macro": 0.89,
        "precision_macro": 0.9, "recall_macro": 0.89, "ece": 0.05, "log_loss": 0.3, "score": 0.89,
        "warnings": [], "generation": None,
        "per_class": {x: {"precision": 0.9, "recall": 0.88, "f1": 0.89, "support": 30} for x in LABELS},
        "confusion": {"labels": LABELS, "matrix": [[27, 2, 1], [1, 28, 1], [2, 2, 26]]},
        "calibration": [{"low": 0.6, "high": 0.8, "count": 30, "confidence": 0.7, "accuracy": 0.75},
                        {"low": 0.8, "high": 1.0, "count": 60, "confidence": 0.93, "accuracy": 0.95}]}
    data = {
        "model": "news@2", "ref": "news@2", "split": "test", "dataset": "bbc@abc", "missing": {},
        "version": {"kind": "fine-tuned", "aliases": ["champion"], "description": "fine-tuned by job-1.",
                    "tags": {}, "metrics": {}, "created_at": "2026-11-26T10:00:00Z",
                    "lineage": {"base_model": "minilm@1", "dataset": "bbc@abc", "job": "job-1", "parent_version": 0,
                                "config": {"epochs": 2, "learning_rate": 1e-4, "head_lr_multiplier": 50.0}}},
        "training": {"job": "job-1", "metrics": {}, "warnings": ["degenerate model: <b>tested</b>"],
                     "steps": [(i, 1.5 - i * 0.05) for i in range(1, 20)],
                     "epochs": [{"epoch": 0, "step": 10, "train_loss": 1.1, "val_f1_macro": 0.7, "val_accuracy": 0.72},
                                {"epoch": 1, "step": 19, "train_loss": 0.6, "val_f1_macro": 0.88,
                                 "val_accuracy": 0.9}]},
        "evaluation": evaluation,
        "data": {"version": "bbc@abc", "label_conflicts": 1, "new_rows": 40,
                 "splits": {s: dict.fromkeys(LABELS, n) for s, n in (("train", 70), ("validation", 15), ("test", 15))},
                 "drift": {"has_parent": True, "label_shift": 0.02, "length_shift": 0.05, "mean_length_change": 0.01,
                           "new_labels": [], "size_shift": 0.0}},
        "timeline": [{"at": "2026-11-26T09:00:00Z", "from": 0, "version": 1, "kind": "promotion", "actor": "controller",
                      "reason": "first champion", "score": 0.85, "delta": None},
                     {"at": "2026-11-26T10:00:00Z", "from": 1, "version": 2, "kind": "promotion", "actor": "controller",
                      "reason": "better", "score": 0.89, "delta": 0.04}],
        "comparison": {"candidate": "news@2", "baseline": "news@1", "metric": "f1_macro", "delta": 0.04,
                       "ci_low": 0.01, "ci_high": 0.07, "p_value": 0.02, "verdict": "promote", "reasons": ["gain"],
                       "per_class_delta": {"business": 0.05, "sport": -0.01, "tech": 0.08}, "n": 90},
    }
    return {**data, **overrides}


def test_every_plot_renders_with_no_console_error_and_no_fetch(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(_data()), encoding="utf-8")
    seen = open_page(page, "report-synthetic.png")
    assert seen["errors"] == [] and seen["requests"] == []
    assert set(seen["plots"]) == {"plot-curves", "plot-per-class", "plot-confusion", "plot-reliability",
                                  "plot-timeline", "plot-labels", "plot-class-deltas"}
    assert all(w > 150 and h > 100 for w, h in seen["plots"].values()), seen["plots"]
    assert seen["missing"] == [] and seen["screenshot"].stat().st_size > 10_000
    html = page.read_text()
    assert "<script" not in html and not re.search(r"""(src|href)=["']https?:""", html)  # nothing to fetch
    assert "degenerate model: &lt;b&gt;tested&lt;/b&gt;" in html  # escaped, shown as a warning


def test_a_model_with_no_evaluation_says_what_is_missing_instead_of_empty_plots(tmp_path):
    why = "no evaluation of news@2 on bbc@abc (test) is stored: evaluate it with `tuneloop eval ...`"
    data = _data(evaluation=None, comparison=None, training=None,
                 missing={"evaluation": why, "comparison": "nothing to compare", "training": "no training job"})
    page = tmp_path / "bare.html"
    page.write_text(render(data), encoding="utf-8")
    seen = open_page(page, "report-missing.png")
    assert seen["errors"] == []
    assert set(seen["missing"]) == {"missing-evaluation", "missing-comparison", "missing-training"}
    assert set(seen["plots"]) == {"plot-timeline", "plot-labels"}  # what there is data for
    assert "tuneloop eval" in page.read_text()
