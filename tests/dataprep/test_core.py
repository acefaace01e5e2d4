"""The dataprep core and its store on SQLite and the real PostgreSQL: versions, appends,
lookups, read-back, and nothing stored when input is bad."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from conftest import labeled_rows, write_jsonl
from tuneloop.core.artifacts import ArtifactStore
from tuneloop.core.db import open_database
from tuneloop.core.settings import DataprepSettings
from tuneloop.dataprep.core import DataprepCore
from tuneloop.dataprep.options import PrepareOptions
from tuneloop.dataprep.store import DatasetStore
from tuneloop.errors import AlreadyExists, InvalidArgument, NotFound


@pytest.fixture
def core(engine, tmp_path):
    return DataprepCore(DatasetStore(engine, ArtifactStore(str(tmp_path / "artifacts"))), DataprepSettings())


def _opts(name="d.jsonl", **kw):
    return PrepareOptions(filename=name, **kw)


def test_ingest_round_trips_through_the_store(core, db_url, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", labeled_rows(60) + [{"text": "row number 0 about a", "label": "a"}])
    record = core.ingest("news", path, _opts())
    assert (record.rows_in, record.rows_out, record.sequence, record.parent) == (61, 60, 1, None)
    assert record.report["dropped"] == {"duplicate_exact": 1}
    assert record.version == record.content_hash[:12]
    # a second engine on the same database sees every field as written
    fresh = DataprepCore(DatasetStore(open_database(db_url), core.store.artifacts), DataprepSettings())
    assert fresh.get_version("news") == record
    assert fresh.get_version("news", record.version[:6]) == record
    assert fresh.get_dataset("news").latest_version == record.version
    assert [d.name for d in fresh.list_datasets(limit=10, offset=0)] == ["news"]


def test_versions_are_content_hashed(core, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", labeled_rows(30))
    a = core.ingest("one", path, _opts())
    b = core.ingest("two", path, _opts())
    c = core.ingest("three", path, _opts(seed=7))
    assert a.content_hash == b.content_hash
    assert c.content_hash != a.content_hash


def test_append_makes_a_child_version_and_keeps_old_splits(core, tmp_path):
    first = core.ingest("news", write_jsonl(tmp_path / "a.jsonl", labeled_rows(100)), _opts())
    new_rows = labeled_rows(50, prefix="fresh") + labeled_rows(10)  # 10 repeat old texts
    result = core.append("news", write_jsonl(tmp_path / "b.jsonl", new_rows), _opts())
    assert result.created
    second = result.version
    assert (second.parent, second.sequence, second.rows_out) == (first.version, 2, 150)
    assert result.dropped == {"duplicate_existing": 10}
    assert second.report["new_rows"] == 50 and second.report["drift"]["has_parent"]
    old, new = core.rows(first), core.rows(second)
    old_splits = dict(zip(old["text"], old["split"], strict=True))
    new_splits = dict(zip(new["text"], new["split"], strict=True))
    assert all(new_splits[t] == s for t, s in old_splits.items())
    assert [v.version for v in core.list_versions("news", limit=10, offset=0)] == [first.version, second.version]


def test_appending_nothing_new_creates_no_version(core, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", labeled_rows(30))
    first = core.ingest("news", path, _opts())
    again = core.append("news", path, _opts())
    assert not again.created and again.version == first
    assert again.dropped == {"duplicate_existing": 30}
    assert len(core.list_versions("news", limit=10, offset=0)) == 1


def test_label_conflict_with_an_existing_row_keeps_the_existing_label(core, tmp_path):
    core.ingest("news", write_jsonl(tmp_path / "a.jsonl", labeled_rows(30)), _opts())
    flipped = [{"text": "Row number 1 about b!", "label": "c"}, {"text": "brand new", "label": "a"}]
    result = core.append("news", write_jsonl(tmp_path / "b.jsonl", flipped), _opts())
    assert result.dropped == {"label_conflict_existing": 1}
    rows = core.rows(result.version)
    assert rows.filter(pl.col("text") == "row number 1 about b")["label"].to_list() == ["b"]


def test_read_split_streams_batches_and_dropped_rows(core, tmp_path):
    rows = labeled_rows(95) + [{"text": "", "label": "a"}, {"text": "x y", "label": None}]
    record = core.ingest("news", write_jsonl(tmp_path / "a.jsonl", rows), _opts())
    batches = list(core.read_split("news", record.version, "train", batch_rows=10))
    assert all(len(b["text"]) <= 10 for b in batches)
    assert sum(len(b["text"]) for b in batches) == record.report["splits"]["train"]
    dropped = [r for b in core.read_split("news", "", "dropped") for r in zip(b["row"], b["reason"], strict=True)]
    assert dropped == [(95, "empty_text"), (96, "missing_label")]


def test_lookup_errors(core, tmp_path):
    record = core.ingest("news", write_jsonl(tmp_path / "a.jsonl", labeled_rows(20)), _opts())
    with pytest.raises(NotFound, match="dataset 'nope' not found"):
        core.get_version("nope")
    with pytest.raises(NotFound, match="has no version 'ffffff'"):
        core.get_version("news", "ffffff")
    with pytest.raises(InvalidArgument, match="too short"):
        core.get_version("news", record.version[:2])
    with pytest.raises(InvalidArgument, match="unknown split"):
        core.read_split("news", "", "holdout")
    with pytest.raises(NotFound):
        core.append("nope", tmp_path / "a.jsonl", _opts())


def test_bad_input_stores_nothing(core, tmp_path):
    artifacts = tmp_path / "artifacts"
    good = write_jsonl(tmp_path / "a.jsonl", labeled_rows(20))
    with pytest.raises(InvalidArgument, match="path characters"):
        core.ingest("../evil", good, _opts())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": "x"}\n')
    with pytest.raises(InvalidArgument, match="missing column"):
        core.ingest("news", bad, _opts())
    only_missing = write_jsonl(tmp_path / "m.jsonl", [{"text": "", "label": "a"}])
    with pytest.raises(InvalidArgument, match="no rows left"):
        core.ingest("news", only_missing, _opts())
    assert core.list_datasets(limit=10, offset=0) == []
    assert not (artifacts / "datasets").exists() or not any((artifacts / "datasets").iterdir())
    core.ingest("news", good, _opts())
    with pytest.raises(AlreadyExists, match="use append"):
        core.ingest("news", good, _opts())


def test_a_failed_commit_removes_the_files_it_wrote(core, tmp_path):
    record = core.ingest("news", write_jsonl(tmp_path / "a.jsonl", labeled_rows(20)), _opts())
    clash = replace(record, version="0" * 12, location="datasets/news/000000000000")
    with pytest.raises(AlreadyExists):
        core.store.save(clash, {"train": pl.DataFrame({"text": ["x"], "label": ["a"]})}, new_dataset=True)
    assert not (tmp_path / "artifacts" / "datasets" / "news" / "000000000000").exists()
    assert core.get_version("news") == record


def test_works_on_an_fsspec_artifact_url(engine, tmp_path):
    core = DataprepCore(DatasetStore(engine, ArtifactStore(f"memory://tuneloop-{tmp_path.name}")), DataprepSettings())
    record = core.ingest("news", write_jsonl(tmp_path / "a.jsonl", labeled_rows(40)), _opts())
    assert core.store.artifacts.exists(f"{record.location}/train.parquet")
    assert core.rows(record).height == 40
