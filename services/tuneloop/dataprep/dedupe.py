"""Dropping what must not be trained on twice: missing values, label conflicts, duplicates.

Every function takes a frame with `row, text, label, key` and returns (kept, dropped)
where `dropped` has `row, text, label, reason`. Reasons: `empty_text`, `missing_label`,
`label_conflict`, `duplicate_exact`, `duplicate_normalized`, `duplicate_near`,
`duplicate_existing`, `label_conflict_existing`; for text-generation, where `text` is the
prompt and `label` the completion, `empty_prompt` and `missing_completion` instead of the
first two, and no conflicts: duplicates are found on the prompt alone. The first occurrence (lowest source
row) of a text is the one kept.

Label conflicts (one normalized text, several labels) follow the policy: `majority`
keeps the rows of the label with the most rows and drops the others; a tie drops them
all. `drop_all` drops every row of a conflicting text.
"""

from __future__ import annotations

import polars as pl
from datasketch import MinHash, MinHashLSH

from tuneloop.dataprep.options import ConflictPolicy

DROP_COLUMNS = ["row", "text", "label", "reason"]


def dropped_rows(frame: pl.DataFrame, mask: pl.Expr, reason: str) -> pl.DataFrame:
    return frame.filter(mask).select("row", "text", "label", pl.lit(reason).alias("reason"))


def drop_missing(frame: pl.DataFrame, *, generation: bool = False) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    no_text = pl.col("text").is_null() | (pl.col("text") == "")
    no_label = ~no_text & pl.col("label").is_null()
    reasons = ("empty_prompt", "missing_completion") if generation else ("empty_text", "missing_label")
    dropped = [dropped_rows(frame, no_text, reasons[0]), dropped_rows(frame, no_label, reasons[1])]
    return frame.filter(~no_text & ~no_label), dropped


def resolve_conflicts(frame: pl.DataFrame, policy: ConflictPolicy) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Apply the conflict policy; returns (kept, dropped, number of conflicting texts)."""
    n_labels = pl.col("label").n_unique().over("key")
    flagged = frame.with_columns(_conflict=n_labels > 1)
    clean = flagged.filter(~pl.col("_conflict")).drop("_conflict")
    conflicted = flagged.filter(pl.col("_conflict")).drop("_conflict")
    n_conflicts = conflicted["key"].n_unique()
    if conflicted.height == 0:
        return clean, dropped_rows(frame, pl.lit(False), "label_conflict"), 0
    if policy == ConflictPolicy.DROP_ALL:
        return clean, dropped_rows(conflicted, pl.lit(True), "label_conflict"), n_conflicts
    votes = conflicted.group_by("key", "label").agg(n=pl.len())
    top = votes.filter(pl.col("n") == pl.col("n").max().over("key"))
    winners = top.filter(pl.len().over("key") == 1).select("key", "label", _win=pl.lit(True))
    marked = conflicted.join(winners, on=["key", "label"], how="left").with_columns(pl.col("_win").fill_null(False))
    kept = marked.filter(pl.col("_win")).drop("_win")
    dropped = dropped_rows(marked, ~pl.col("_win"), "label_conflict")
    return pl.concat([clean, kept]).sort("row"), dropped, n_conflicts


def drop_duplicates(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Keep the first row of each exact text, then of each normalized key."""
    frame = frame.sort("row")
    exact = ~pl.col("text").is_first_distinct()
    first_exact = frame.filter(~exact)
    normalized = ~pl.col("key").is_first_distinct()
    dropped = [dropped_rows(frame, exact, "duplicate_exact"), dropped_rows(first_exact, normalized, "duplicate_normalized")]
    return first_exact.filter(~normalized), dropped


def drop_existing(frame: pl.DataFrame, existing: pl.DataFrame, *, conflicts: bool = True
                  ) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Drop new rows whose key an earlier version already holds; a different label is a conflict
    (unless `conflicts` is off: a prompt seen before is a duplicate whatever its completion).

    The existing row keeps its label and split: versions are immutable.
    """
    old = existing.select("key", _old_label=pl.col("label")).unique("key")
    joined = frame.join(old, on="key", how="left")
    seen = pl.col("_old_label").is_not_null()
    same = seen & ((pl.col("_old_label") == pl.col("label")) | pl.lit(not conflicts))
    dropped = [dropped_rows(joined, same, "duplicate_existing"),
               dropped_rows(joined, seen & ~same, "label_conflict_existing")]
    return joined.filter(~seen).drop("_old_label"), dropped


def _shingles(text: str, size: int = 5) -> set[bytes]:
    words = text.lower().split()
    if len(words) >= 3:
        return {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}
    return {text[i : i + size].encode() for i in range(max(1, len(text) - size + 1))}


def drop_near_duplicates(
    frame: pl.DataFrame, *, threshold: float, num_perm: int, existing: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """MinHash/LSH near-duplicate removal: a row whose estimated Jaccard similarity (word
    3-gram shingles) to an earlier kept row, or to an existing version's row, reaches
    `threshold` is dropped."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)

    def signature(text: str) -> MinHash:
        sig = MinHash(num_perm=num_perm, seed=1)
        sig.update_batch(list(_shingles(text)))
        return sig

    if existing is not None:
        for i, text in enumerate(existing["text"].to_list()):
            lsh.insert(f"old{i}", signature(text))
    near = []
    for row, text in zip(frame["row"].to_list(), frame["text"].to_list(), strict=True):
        sig = signature(text)
        if lsh.query(sig):
            near.append(row)
        else:
            lsh.insert(f"new{row}", sig)
    mask = pl.col("row").is_in(near)
    return frame.filter(~mask), dropped_rows(frame, mask, "duplicate_near")
