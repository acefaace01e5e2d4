"""Text and label normalization, as polars expressions (vectorized, multi-threaded).

Text: Unicode NFKC, control and invisible format characters removed, runs of
whitespace collapsed to one space, trimmed. Labels: trimmed, optionally case-folded;
an empty label is a missing one. The dedupe key is the cleaned text lower-cased with
punctuation, symbols and whitespace removed, so "Hello, World" and "hello world!"
share a key.

Speed: NFKC and the Unicode classes only matter for text with non-ASCII characters, so
ASCII rows (most of most corpora) take a cheaper path with the same result, and the
whole query runs on polars' streaming engine, which spreads it over every core.
"""

from __future__ import annotations

import polars as pl

from tuneloop.dataprep.options import PrepareOptions

# C0/C1 controls except the whitespace ones (collapsed below), zero-width and BOM characters.
_INVISIBLE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff\u00ad]"
_ASCII_INVISIBLE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
# Whitespace that is not already a single plain space: runs, tabs, newlines, NBSP...
# (replacing only these gives the same result as replacing every \s+ run, far faster)
_SPACE_RUNS = r"\s\s+|[^\S ]"
_KEY_DROP = r"[\p{P}\p{S}\s]+"


def _collapse(col: pl.Expr) -> pl.Expr:
    return col.str.replace_all(_SPACE_RUNS, " ").str.strip_chars()


def clean_text(col: pl.Expr) -> pl.Expr:
    """The full cleaning, right for any text."""
    return _collapse(col.str.normalize("NFKC").str.replace_all(_INVISIBLE, ""))


def clean_ascii_text(col: pl.Expr) -> pl.Expr:
    """The same result as clean_text for ASCII-only text (NFKC is the identity there)."""
    return _collapse(col.str.replace_all(_ASCII_INVISIBLE, ""))


def is_ascii(col: pl.Expr) -> pl.Expr:
    return (col.str.len_bytes() == col.str.len_chars()).fill_null(True)


def clean_label(col: pl.Expr, *, casefold: bool) -> pl.Expr:
    label = col.str.normalize("NFKC").str.replace_all(r"\s+", " ").str.strip_chars()
    if casefold:
        label = label.str.to_lowercase()
    return pl.when(label == "").then(None).otherwise(label)


def dedupe_key(text: pl.Expr) -> pl.Expr:
    """Case/whitespace/punctuation-insensitive key of cleaned text (never empty for non-empty text)."""
    lower = text.str.to_lowercase()
    key = lower.str.replace_all(" ", "", literal=True).str.replace_all(_KEY_DROP, "")
    return pl.when(key == "").then(lower).otherwise(key)


def clean_multiline(col: pl.Expr) -> pl.Expr:
    """Prompts and completions keep their lines (a completion may be code or a list): NFKC,
    invisible characters removed, CRLF to LF, runs of spaces to one, spaces around line breaks
    and more than one blank line dropped, trimmed; empty is missing."""
    text = (col.str.normalize("NFKC").str.replace_all(_INVISIBLE, "").str.replace_all(r"\r\n?", "\n")
            .str.replace_all(r"[^\S\n]+", " ").str.replace_all(r" ?\n ?", "\n").str.replace_all(r"\n{3,}", "\n\n")
            .str.strip_chars())
    return pl.when(text == "").then(None).otherwise(text)


def clean_pairs(frame: pl.DataFrame) -> pl.DataFrame:
    """Clean a text-generation frame (text: the prompt, label: the completion), add the prompt's `key`."""
    cleaned = frame.lazy().with_columns(text=clean_multiline(pl.col("text")), label=clean_multiline(pl.col("label")))
    return cleaned.with_columns(label_filled=pl.lit(False), key=dedupe_key(pl.col("text").fill_null(""))) \
        .collect(engine="streaming").sort("row")


def clean_frame(frame: pl.DataFrame, options: PrepareOptions) -> pl.DataFrame:
    """Clean `text` and `label`, add `key`; fill missing labels when the options say so
    (`label_filled` marks the rows that got the fill label)."""
    if options.generation:
        return clean_pairs(frame)
    fill = options.fill_label
    label = clean_label(pl.col("label"), casefold=options.casefold_labels)
    lazy = frame.lazy()
    ascii_rows = is_ascii(pl.col("text"))
    texts = pl.concat([
        lazy.filter(ascii_rows).with_columns(text=clean_ascii_text(pl.col("text"))),
        lazy.filter(~ascii_rows).with_columns(text=clean_text(pl.col("text"))),
    ])
    cleaned = texts.with_columns(label=label).with_columns(
        label_filled=pl.col("label").is_null() & pl.lit(fill is not None),
        label=pl.col("label").fill_null(pl.lit(fill)) if fill is not None else pl.col("label"),
        key=dedupe_key(pl.col("text")),
    )
    return cleaned.collect(engine="streaming").sort("row")
