"""The preparation steps in order, on frames: clean -> drop missing -> conflicts -> dedupe
-> (against an existing version) -> (near dupes) -> split.

`prepare` is pure: frames in, frames out, no I/O. It is what the benchmark times.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tuneloop.dataprep import dedupe
from tuneloop.dataprep.clean import clean_frame
from tuneloop.dataprep.options import PrepareOptions
from tuneloop.dataprep.split import assign_splits


@dataclass
class Prepared:
    new_rows: pl.DataFrame  # row, text, label, key, split: the rows this run adds
    dropped: pl.DataFrame  # row, text, label, reason
    label_conflicts: int
    filled_labels: int

    def dropped_counts(self) -> dict[str, int]:
        counts = self.dropped.group_by("reason").agg(n=pl.len()).sort("reason")
        return dict(zip(counts["reason"].to_list(), counts["n"].to_list(), strict=True))


def prepare(raw: pl.DataFrame, options: PrepareOptions, *, existing: pl.DataFrame | None = None,
            near_num_perm: int = 64) -> Prepared:
    """Prepare `raw` (row, text, label). `existing` holds an earlier version's rows (text,
    label, key, split): new rows duplicating them are dropped and the rest split apart."""
    frame = clean_frame(raw, options)
    filled = int(frame["label_filled"].sum())
    frame = frame.drop("label_filled")
    frame, dropped = dedupe.drop_missing(frame, generation=options.generation)
    n_conflicts = 0
    if not options.generation:  # a prompt's second completion is a duplicate (below), not a conflict
        frame, conflicts, n_conflicts = dedupe.resolve_conflicts(frame, options.conflict_policy)
        dropped.append(conflicts)
    frame, dups = dedupe.drop_duplicates(frame)
    dropped += dups
    if existing is not None:
        frame, seen = dedupe.drop_existing(frame, existing, conflicts=not options.generation)
        dropped += seen
    if options.near_dedupe:
        frame, near = dedupe.drop_near_duplicates(
            frame, threshold=options.near_threshold, num_perm=near_num_perm, existing=existing
        )
        dropped.append(near)
    split = assign_splits(frame, seed=options.seed, train=options.train_fraction,
                          validation=options.validation_fraction, stratify=not options.generation)
    return Prepared(
        new_rows=split.select("row", "text", "label", "key", "split"),
        dropped=pl.concat(dropped).sort("row"),
        label_conflicts=n_conflicts,
        filled_labels=filled,
    )
