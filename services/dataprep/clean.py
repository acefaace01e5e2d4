"""Text and label normalization, as polars expressions (vectorized, multi-threaded).

Text: Unicode NFKC, control and invisible format characters removed, runs of
whitespace collapsed to one space, trimmed. Labels: trimmed, optionally case-folded;
an empty label is a missing one. The dedupe key is the cleaned text lower-cased with
punctuation, symbols and whitespace removed, so "Hello, World" and "hello world!"
share a key.
"""

from __future__ import annotations

import polars as pl

from tuneloop.dataprep.options import PrepareOptions

# C0/C1 controls except the whitespace ones (collapsed below), zero-width and BOM characters.
_INVISIBLE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff\u00ad]"
_KEY_DROP = r"[\p{P}\p{S}\s]+"


def clean_text(col: pl.Expr) -> pl.Expr:
    return (
        col.str.normalize("NFKC")
        .str.replace_all(_INVISIBLE, "")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def clean_label(col: pl.Expr, *, casefold: bool) -> pl.Expr:
    label = col.str.normalize("NFKC").str.replace_all(r"\s+", " ").str.strip_chars()
    if casefold:
        label = label.str.to_lowercase()
    return pl.when(label == "").then(None).otherwise(label)


def dedupe_key(text: pl.Expr) -> pl.Expr:
    """Case/whitespace/punctuation-insensitive key of cleaned text (never empty for non-empty text)."""
    lower = text.str.to_lowercase()
    key = lower.str.replace_all(_KEY_DROP, "")
    return pl.when(key == "").then(lower).otherwise(key)


def clean_frame(frame: pl.DataFrame, options: PrepareOptions) -> pl.DataFrame:
    """Clean `text` and `label`, add `key`; fill missing labels when the options say so
    (`label_filled` marks the rows that got the fill label)."""
    cleaned = frame.with_columns(
        text=clean_text(pl.col("text")),
        label=clean_label(pl.col("label"), casefold=options.casefold_labels),
    )
    fill = options.fill_label
    cleaned = cleaned.with_columns(
        label_filled=pl.col("label").is_null() & pl.lit(fill is not None),
        label=pl.col("label").fill_null(pl.lit(fill)) if fill is not None else pl.col("label"),
    )
    return cleaned.with_columns(key=dedupe_key(pl.col("text")))
