"""Invariants of dedupe and split, checked on generated data with hypothesis.

- every input row is either kept or dropped with a reason, once;
- no normalized text appears twice, so none can sit in two splits;
- each label's count in each split is within one row of its target share;
- the same input and seed give the same split, whatever the input order;
- on append, old rows keep their split and new rows never repeat old texts.
"""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuneloop.dataprep.clean import dedupe_key
from tuneloop.dataprep.options import ConflictPolicy, PrepareOptions
from tuneloop.dataprep.pipeline import prepare

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "news", "sport", "tech", "film", "vote"]


@st.composite
def texts(draw):
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5))
    text = " ".join(words)
    variant = draw(st.sampled_from(["same", "upper", "spaces", "punct", "none"]))
    if variant == "upper":
        text = text.upper()
    elif variant == "spaces":
        text = "  " + text.replace(" ", "   ") + " "
    elif variant == "punct":
        text = text + "!"
    elif variant == "none":
        text = draw(st.sampled_from(["", "   ", None]))
    return text


rows_strategy = st.lists(
    st.tuples(texts(), st.sampled_from(["a", "b", "c", "d", None])), min_size=1, max_size=120
)


def _raw(rows) -> pl.DataFrame:
    return pl.DataFrame({"row": list(range(len(rows))), "text": [t for t, _ in rows], "label": [lab for _, lab in rows]},
                        schema={"row": pl.Int64, "text": pl.String, "label": pl.String})


def _keys(frame: pl.DataFrame) -> list[str]:
    return frame.select(dedupe_key(pl.col("text")))["text"].to_list()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_strategy, seed=st.integers(0, 2**31), policy=st.sampled_from(list(ConflictPolicy)))
def test_every_row_accounted_no_leakage_stratified(rows, seed, policy):
    opts = PrepareOptions(seed=seed, conflict_policy=policy)
    out = prepare(_raw(rows), opts)
    kept, dropped = out.new_rows, out.dropped
    assert sorted(kept["row"].to_list() + dropped["row"].to_list()) == list(range(len(rows)))
    keys = _keys(kept)
    assert len(keys) == len(set(keys)), "a normalized text survived twice"
    by_split = {s: set(_keys(kept.filter(pl.col("split") == s))) for s in ("train", "validation", "test")}
    assert not (by_split["train"] & by_split["validation"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["validation"] & by_split["test"])
    for label, group in kept.group_by("label"):
        n = group.height
        for split, frac in (("train", 0.7), ("validation", 0.15), ("test", 0.15)):
            count = group.filter(pl.col("split") == split).height
            assert abs(count - n * frac) <= 1.0, (label, split, count, n)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, seed=st.integers(0, 2**31), data=st.data())
def test_split_is_deterministic_and_order_independent(rows, seed, data):
    opts = PrepareOptions(seed=seed)
    first = prepare(_raw(rows), opts).new_rows
    again = prepare(_raw(rows), opts).new_rows
    assert first.equals(again)
    # with no duplicates or conflicts (one row per normalized key), row order must not change any text's split
    survivors = first  # already one row per normalized text, each with one label
    unique = list(zip(survivors["text"].to_list(), survivors["label"].to_list(), strict=True))
    shuffled = data.draw(st.permutations(unique))
    a = prepare(_raw(unique), opts).new_rows
    b = prepare(_raw(shuffled), opts).new_rows
    assert dict(zip(a["text"], a["split"], strict=True)) == dict(zip(b["text"], b["split"], strict=True))


@settings(max_examples=60, deadline=None)
@given(old=rows_strategy, new=rows_strategy, seed=st.integers(0, 1000))
def test_append_is_sticky_and_never_repeats_old_texts(old, new, seed):
    opts = PrepareOptions(seed=seed)
    first = prepare(_raw(old), opts).new_rows
    existing = first.select("text", "label", "split", "key")
    second = prepare(_raw(new), opts, existing=existing)
    assert not set(_keys(second.new_rows)) & set(_keys(existing))
    combined = pl.concat([existing.select("text", "label", "split"), second.new_rows.select("text", "label", "split")])
    keys = _keys(combined)
    assert len(keys) == len(set(keys))
    # the old rows are all still there, each in its old split
    assert combined.head(existing.height).equals(existing.select("text", "label", "split"))


def test_large_labels_are_within_two_points_of_target():
    rows = [(f"text {i} {i * 7919 % 1000}", ["a", "b", "c"][i % 3] if i % 10 else "d") for i in range(5000)]
    kept = prepare(_raw(rows), PrepareOptions(seed=3)).new_rows
    for split, _frac in (("train", 0.7), ("validation", 0.15), ("test", 0.15)):
        part = kept.filter(pl.col("split") == split)
        for label in "abcd":
            share_all = kept.filter(pl.col("label") == label).height / kept.height
            share_split = part.filter(pl.col("label") == label).height / part.height
            assert abs(share_split - share_all) < 0.02


def test_reasons_are_counted():
    rows = [
        ("Hello world", "a"), ("Hello world", "a"),  # exact duplicate
        ("hello, WORLD!", "a"),  # normalized duplicate
        ("", "a"), ("   ", "b"), (None, "a"),  # empty text
        ("no label here", None), ("no label either", "  "),  # missing label
        ("shared text", "x"), ("shared text", "x"), ("Shared text.", "y"),  # conflict, majority x
        ("tied", "p"), ("tied", "q"),  # conflict, tie
    ]
    out = prepare(_raw(rows), PrepareOptions())
    assert out.dropped_counts() == {
        "duplicate_exact": 2, "duplicate_normalized": 1, "empty_text": 3, "label_conflict": 3, "missing_label": 2,
    }
    assert out.label_conflicts == 2
    assert sorted(zip(out.new_rows["text"], out.new_rows["label"], strict=True)) == [
        ("Hello world", "a"), ("shared text", "x")]


def test_drop_all_policy_drops_every_conflicting_row():
    rows = [("shared", "x"), ("shared", "x"), ("SHARED", "y"), ("clean", "x")]
    out = prepare(_raw(rows), PrepareOptions(conflict_policy=ConflictPolicy.DROP_ALL))
    assert out.new_rows["text"].to_list() == ["clean"]
    assert out.dropped_counts() == {"label_conflict": 3}


def test_fill_label_keeps_rows_without_a_label():
    out = prepare(_raw([("one", None), ("two", "b")]), PrepareOptions(fill_label="other"))
    assert sorted(out.new_rows["label"].to_list()) == ["b", "other"]
    assert out.filled_labels == 1


def test_near_duplicates_are_dropped_only_when_asked():
    base = " ".join(f"word{i}" for i in range(60))
    near = base.replace("word30", "changed")
    rows = [(base, "a"), (near, "a"), ("something else entirely different here", "b")]
    assert prepare(_raw(rows), PrepareOptions()).new_rows.height == 3
    out = prepare(_raw(rows), PrepareOptions(near_dedupe=True, near_threshold=0.8))
    assert out.dropped_counts() == {"duplicate_near": 1}
    assert out.dropped["row"].to_list() == [1]
