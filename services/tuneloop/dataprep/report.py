"""The report of a prepared version: counts by split and label, text lengths, drift vs parent;
for a text-generation version, prompt and completion lengths in tokens instead of labels; for an
image-classification version, image sizes, aspect ratios and source colour modes instead of text
lengths, and drift in image size (pixel counts) instead of text length."""

from __future__ import annotations

import numpy as np
import polars as pl

from tuneloop.dataprep.options import Task
from tuneloop.dataprep.split import SPLITS


def length_stats(lengths: pl.Series) -> dict[str, float]:
    if lengths.len() == 0:
        return {"mean": 0.0, "min": 0.0, "max": 0.0, "p50": 0.0, "p95": 0.0}
    return {
        "mean": float(lengths.mean()),
        "min": float(lengths.min()),
        "max": float(lengths.max()),
        "p50": float(lengths.quantile(0.5, "nearest")),
        "p95": float(lengths.quantile(0.95, "nearest")),
    }


def label_counts(frame: pl.DataFrame) -> dict[str, int]:
    counts = frame.group_by("label").agg(n=pl.len()).sort("label")
    return dict(zip(counts["label"].to_list(), counts["n"].to_list(), strict=True))


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two CDFs."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def tokens(col: pl.Series) -> pl.Series:
    """Approximate token counts: words and punctuation marks (a pre-tokenizer's pieces; a
    model's subword tokenizer makes ~1.3x as many for English). Dataprep has no model to ask."""
    return col.str.count_matches(r"\w+|[^\w\s]")


def image_stats(frame: pl.DataFrame) -> dict:
    modes = frame.group_by("mode").agg(n=pl.len()).sort("mode")
    return {"width": length_stats(frame["width"]), "height": length_stats(frame["height"]),
            "aspect": length_stats(frame["width"] / frame["height"]),
            "modes": dict(zip(modes["mode"].to_list(), modes["n"].to_list(), strict=True))}


def _pixels(frame: pl.DataFrame) -> np.ndarray:
    return (frame["width"] * frame["height"]).to_numpy()


def drift(parent: pl.DataFrame | None, new_rows: pl.DataFrame, *, labelled: bool = True, images: bool = False) -> dict:
    """How the rows a version adds differ from its parent's rows."""
    if parent is None or parent.height == 0 or new_rows.height == 0:
        return {"has_parent": parent is not None, "label_shift": 0.0, "length_shift": 0.0,
                "mean_length_change": 0.0, "new_labels": [], "size_shift": 0.0}
    old, new = (label_counts(parent), label_counts(new_rows)) if labelled else ({}, {})
    labels = sorted(set(old) | set(new))
    p = np.array([old.get(lab, 0) for lab in labels], dtype=float) / parent.height
    q = np.array([new.get(lab, 0) for lab in labels], dtype=float) / new_rows.height
    shifts = {"has_parent": True, "label_shift": float(0.5 * np.abs(p - q).sum()),
              "new_labels": sorted(set(new) - set(old))}
    if images:
        return {**shifts, "length_shift": 0.0, "mean_length_change": 0.0,
                "size_shift": ks_statistic(_pixels(parent), _pixels(new_rows))}
    old_len = parent["text"].str.len_chars().to_numpy()
    new_len = new_rows["text"].str.len_chars().to_numpy()
    return {**shifts, "length_shift": ks_statistic(old_len, new_len), "size_shift": 0.0,
            "mean_length_change": float((new_len.mean() - old_len.mean()) / max(old_len.mean(), 1e-9))}


def build_report(*, rows: pl.DataFrame, new_rows: pl.DataFrame, parent_rows: pl.DataFrame | None,
                 rows_in: int, dropped: dict[str, int], label_conflicts: int, filled_labels: int,
                 options: dict) -> dict:
    """Everything `GetReport` returns, as plain JSON-able values."""
    per_split = {s: rows.filter(pl.col("split") == s) for s in SPLITS}
    generation = options.get("task") == Task.GENERATION.value
    images = options.get("task") == Task.IMAGE_CLASSIFICATION.value
    counts = (lambda frame: {}) if generation else label_counts  # noqa: E731 (completions are no labels)
    report = {
        "rows_in": rows_in,
        "rows_out": rows.height,
        "new_rows": new_rows.height,
        "dropped": dropped,
        "filled_labels": filled_labels,
        "label_conflicts": label_conflicts,
        "splits": {s: f.height for s, f in per_split.items()},
        "labels": counts(rows),
        "split_labels": {s: counts(f) for s, f in per_split.items()},
        "lengths": {} if images else {s: length_stats(f["text"].str.len_chars()) for s, f in per_split.items()},
        "drift": drift(parent_rows, new_rows, labelled=not generation, images=images),
        "options": options,
    }
    if generation:  # how long prompts and completions are, in (approximate) tokens, per split
        report["tokens"] = {s: {"prompt": length_stats(tokens(f["text"])), "completion": length_stats(tokens(f["label"]))}
                            for s, f in per_split.items()}
    if images:
        report["images"] = {s: image_stats(f) for s, f in per_split.items()}
    return report
