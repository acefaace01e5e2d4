"""Stratified train/validation/test split with no leakage and sticky assignment on append.
(Text-generation datasets are split the same way without strata: the whole set is one.)

Within each label, rows are ordered by a seeded hash of their dedupe key (so the split
does not depend on the file's row order) and cut at round(n * train_fraction) and
round(n * validation_fraction): each label's count in each split is within one row of
its target share. Keys are unique after dedupe, so no normalized text can sit in two
splits. On append, old rows keep their split and only the new rows are split, by the
same rule.

The hash is polars' seeded hash: stable within one polars version. Versions store
their assignment, so an upgrade never moves an existing row.
"""

from __future__ import annotations

import polars as pl

SPLITS = ("train", "validation", "test")


def _cut(n: pl.Expr, fraction: float) -> pl.Expr:
    return (n.cast(pl.Float64) * fraction + 0.5).floor().cast(pl.Int64)


def assign_splits(frame: pl.DataFrame, *, seed: int, train: float, validation: float,
                  stratify: bool = True) -> pl.DataFrame:
    """Add a `split` column; rows come back ordered by label (when stratified), then hash."""
    stratum = pl.col("label") if stratify else pl.lit(0)
    ordered = frame.with_columns(_h=pl.col("key").hash(seed=seed), _s=stratum).sort("_s", "_h", "row")
    n = pl.len().over("_s")
    rank = pl.int_range(pl.len()).over("_s")
    n_train = _cut(n, train)
    n_val = _cut(n, validation)
    split = (
        pl.when(rank < n_train).then(pl.lit("train"))
        .when(rank < n_train + n_val).then(pl.lit("validation"))
        .otherwise(pl.lit("test"))
    )
    return ordered.with_columns(split=split).drop("_h", "_s")
