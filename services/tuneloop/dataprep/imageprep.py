"""The preparation of an image dataset, step by step like text's (`pipeline`): decode -> labels
-> drop missing -> conflicts -> duplicates -> (against an existing version) -> (near
duplicates) -> stratified split. The steps after decoding are text's own (`dedupe`, `split`),
run on the columns `dataprep.images` gives each image.

Reasons an image is dropped: `unreadable_image`, `too_many_pixels`, `missing_label`,
`label_conflict` (one picture, several labels: the conflict policy decides), `duplicate_exact`
(the same bytes), `duplicate_normalized` (the same pixels in another encoding or container),
`duplicate_near` (a perceptual hash within `near_distance` bits of a kept image's, when
`near_dedupe` is on), `duplicate_existing` and `label_conflict_existing` (on append). A dropped
row's `text` names it: its archive member or `row N`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tuneloop.dataprep import dedupe
from tuneloop.dataprep.clean import clean_label
from tuneloop.dataprep.images import decode_rows
from tuneloop.dataprep.options import PrepareOptions
from tuneloop.dataprep.pipeline import Prepared
from tuneloop.dataprep.split import assign_splits

IMAGE_COLUMNS = ("phash", "width", "height", "mode")  # kept in the stored split files, beside image and label


def prepare_images(raw: pl.DataFrame, options: PrepareOptions, *, max_pixels: int,
                   existing: pl.DataFrame | None = None) -> Prepared:
    """Prepare `raw` (row, name, data, label). `existing` holds an earlier version's rows
    (text, label, key, split, phash): new images duplicating them are dropped."""
    frame, unreadable = decode_rows(raw, max_pixels)
    fill = options.fill_label
    label = clean_label(pl.col("label"), casefold=options.casefold_labels)
    frame = frame.with_columns(label=label).with_columns(label_filled=pl.col("label").is_null() & (fill is not None))
    if fill is not None:
        frame = frame.with_columns(label=pl.col("label").fill_null(fill))
    filled = int(frame["label_filled"].sum())
    names = raw.select("row", "name")
    frame, dropped = dedupe.drop_missing(frame.drop("label_filled"))
    frame, conflicts, n_conflicts = dedupe.resolve_conflicts(frame, options.conflict_policy)
    dropped.append(conflicts)
    frame, dups = dedupe.drop_duplicates(frame)
    dropped += dups
    if existing is not None:
        frame, seen = dedupe.drop_existing(frame, existing)
        dropped += seen
    if options.near_dedupe:
        near = near_duplicates(frame["phash"].to_numpy(), options.near_distance,
                               existing["phash"].to_numpy() if existing is not None else None)
        mask = pl.col("row").is_in(frame["row"].filter(pl.Series(near)).implode())
        dropped.append(dedupe.dropped_rows(frame, mask, "duplicate_near"))
        frame = frame.filter(~mask)
    split = assign_splits(frame, seed=options.seed, train=options.train_fraction,
                          validation=options.validation_fraction)
    named = [d.drop("text").join(names, on="row").select("row", pl.col("name").alias("text"), "label", "reason")
             for d in dropped]
    return Prepared(
        new_rows=split.select("row", "text", "label", "key", "split", *IMAGE_COLUMNS, "data"),
        dropped=pl.concat([unreadable, *named]).sort("row"),
        label_conflicts=n_conflicts,
        filled_labels=filled,
    )


def near_duplicates(hashes: np.ndarray, distance: int, existing: np.ndarray | None = None) -> np.ndarray:
    """Which images (in order) lie within `distance` bits of an earlier kept one or an existing one.

    Pairwise, against the kept images so far, vectorized: fine for the tens of thousands of
    images a fine-tuning set holds; not an index for millions."""
    kept = np.zeros(len(hashes) + (0 if existing is None else len(existing)), dtype=np.uint64)
    n = 0
    if existing is not None:
        kept[:len(existing)], n = existing.astype(np.uint64), len(existing)
    near = np.zeros(len(hashes), dtype=bool)
    for i, h in enumerate(hashes.astype(np.uint64)):
        if n and int(np.bitwise_count(kept[:n] ^ h).min()) <= distance:
            near[i] = True
        else:
            kept[n], n = h, n + 1
    return near
