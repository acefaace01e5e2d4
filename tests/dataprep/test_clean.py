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


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tuneloop.dataprep.clean import clean_ascii_text, clean_text  # noqa: E402

_ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=60)
_ANY = st.text(alphabet=st.sampled_from(list("ab ,.\t\n\r\x0b\x0c\x00\x1f\x7f\u00a0\u2003\u200b\ufb01Ｋ")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_ASCII, min_size=1, max_size=20))
def test_ascii_fast_path_equals_full_cleaning(texts):
    frame = pl.DataFrame({"t": texts})
    fast = frame.select(clean_ascii_text(pl.col("t")))["t"].to_list()
    full = frame.select(clean_text(pl.col("t")))["t"].to_list()
    assert fast == full


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_ANY, min_size=1, max_size=20))
def test_cleaning_matches_the_naive_definition(texts):
    import re
    import unicodedata

    def naive(s: str) -> str:
        s = unicodedata.normalize("NFKC", s)
        s = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff\u00ad]", "", s)
        return re.sub(r"\s+", " ", s).strip()

    frame = pl.DataFrame({"row": list(range(len(texts))), "text": texts, "label": ["x"] * len(texts)})
    out = clean_frame(frame, PrepareOptions())
    assert out["text"].to_list() == [naive(t) for t in texts]
