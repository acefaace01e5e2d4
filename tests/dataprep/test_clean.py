"""Cleaning of text and labels, and the dedupe key."""

import polars as pl

from tuneloop.dataprep.clean import clean_frame, dedupe_key
from tuneloop.dataprep.options import PrepareOptions


def _clean(texts, labels, **opts) -> pl.DataFrame:
    raw = pl.DataFrame({"row": list(range(len(texts))), "text": texts, "label": labels})
    return clean_frame(raw, PrepareOptions(**opts))


def test_text_is_nfkc_normalized_stripped_and_collapsed():
    out = _clean(["  \ufb01ne\u200b  Ｔext\x00\x07 with\t\ttabs\n\nand lines  "], ["x"])
    assert out["text"].to_list() == ["fine Text with tabs and lines"]


def test_mis_encoded_replacement_characters_survive_cleaning():
    out = _clean(["caf\ufffd au lait"], ["x"])
    assert out["text"].to_list() == ["caf\ufffd au lait"]


def test_labels_are_trimmed_empty_is_missing_and_casefold_is_optional():
    out = _clean(["a", "b", "c", "d"], ["  Sport ", "", None, "SPORT"])
    assert out["label"].to_list() == ["Sport", None, None, "SPORT"]
    folded = _clean(["a", "b"], [" Sport", "SPORT "], casefold_labels=True)
    assert folded["label"].to_list() == ["sport", "sport"]


def test_fill_label_fills_missing_labels_and_marks_them():
    out = _clean(["a", "b", "c"], ["x", None, "  "], fill_label="unknown")
    assert out["label"].to_list() == ["x", "unknown", "unknown"]
    assert out["label_filled"].to_list() == [False, True, True]


def test_dedupe_key_ignores_case_whitespace_and_punctuation():
    s = pl.DataFrame({"t": ["Hello, World!", "hello world", "HELLO-WORLD", "hello there", "!!!", "?!"]})
    keys = s.select(dedupe_key(pl.col("t")))["t"].to_list()
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] != keys[0]
    assert keys[4] != keys[5]  # punctuation-only texts keep a non-empty, distinct key
