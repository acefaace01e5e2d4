"""dataprep through a real gRPC server on loopback: happy paths and a precise status code
for every kind of bad input (never INTERNAL)."""

from __future__ import annotations

import hashlib

import grpc
import polars as pl
import pytest
import sqlalchemy as sa

from conftest import labeled_rows, write_jsonl
from tuneloop.core.db import create_engine
from tuneloop.core.schema import dataset_versions
from tuneloop.core.settings import ServerSettings
from tuneloop.errors import DataLoss
from tuneloop.v1 import dataprep_pb2


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


def test_ingest_show_read_back(client, tmp_path):
    rows = labeled_rows(300)
    version = client.dataprep.ingest(write_jsonl(tmp_path / "d.jsonl", rows), dataset="news", seed=5)
    assert (version.rows_in, version.rows_out) == (300, 300)
    assert dict(version.splits) == {"train": 210, "validation": 45, "test": 45}
    assert client.dataprep.get_version("news").version == version.version
    back = {(r.text, r.label) for s in ("train", "validation", "test")
            for r in client.dataprep.read_split("news", version.version, s, batch_size=7)}
    assert back == {(r["text"], r["label"]) for r in rows}
    report = client.dataprep.report("news")
    assert report.version.version == version.version
    assert dict(report.split_labels["test"].counts) == {"a": 15, "b": 15, "c": 15}
    assert report.lengths["train"].max >= report.lengths["train"].mean > 0


def test_multi_chunk_upload_of_a_large_file(client, tmp_path):
    n = 60_000
    pl.DataFrame({"text": [f"document {i} " + "lorem ipsum " * 5 for i in range(n)],
                  "label": [str(i % 4) for i in range(n)]}).write_csv(tmp_path / "big.csv")
    assert (tmp_path / "big.csv").stat().st_size > 3 * (1 << 20)  # several 1 MiB chunks
    version = client.dataprep.ingest(tmp_path / "big.csv", dataset="big")
    assert version.rows_out == n


def test_append_over_grpc(client, tmp_path):
    first = client.dataprep.ingest(write_jsonl(tmp_path / "a.jsonl", labeled_rows(60)), dataset="news")
    resp = client.dataprep.append(write_jsonl(tmp_path / "b.jsonl", labeled_rows(30, prefix="new")), dataset="news")
    assert resp.created and resp.version.parent == first.version and resp.version.rows_out == 90
    again = client.dataprep.append(tmp_path / "b.jsonl", dataset="news")
    assert not again.created and again.version.version == resp.version.version
    assert dict(again.dropped) == {"duplicate_existing": 30}
    assert [v.version for v in client.dataprep.list_versions("news")] == [first.version, resp.version.version]


def test_each_version_records_where_its_rows_came_from(client, tmp_path):
    first = client.dataprep.ingest(write_jsonl(tmp_path / "a.jsonl", labeled_rows(60)), dataset="sourced",
                                   source="crm export 2026-11")
    assert first.source == "crm export 2026-11"
    rows = write_jsonl(tmp_path / "b.jsonl", labeled_rows(30, prefix="new"))
    labelled = client.dataprep.append(rows, dataset="sourced", source="labelling vendor batch 7").version
    assert labelled.source == "labelling vendor batch 7"
    assert labelled.content_hash != first.content_hash
    plain = client.dataprep.append(write_jsonl(tmp_path / "c.jsonl", labeled_rows(30, prefix="more")), dataset="sourced")
    assert plain.version.source == "c.jsonl", "a source is never inherited: without one the file names itself"
    assert [v.source for v in client.dataprep.list_versions("sourced")] == [
        "crm export 2026-11", "labelling vendor batch 7", "c.jsonl"]
    # the source is not content: the same rows with another source are the same version
    again = client.dataprep.ingest(tmp_path / "a.jsonl", dataset="sourced-again", source="elsewhere")
    assert again.version == first.version
    code, details = _code(lambda: client.dataprep.append(rows, dataset="sourced", source="x" * 501))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "source" in details


def test_bad_input_gets_precise_codes(client, tmp_path):
    good = write_jsonl(tmp_path / "d.jsonl", labeled_rows(20))
    csv_named_parquet = tmp_path / "d.parquet"
    csv_named_parquet.write_text("text,label\nx,a\n")
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    no_column = write_jsonl(tmp_path / "n.jsonl", [{"body": "x", "label": "a"}])
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: client.dataprep.ingest(csv_named_parquet, dataset="x"))[0] == invalid
    assert _code(lambda: client.dataprep.ingest(empty, dataset="x")) == (invalid, "the file is empty")
    code, details = _code(lambda: client.dataprep.ingest(no_column, dataset="x"))
    assert code == invalid and "missing column 'text'" in details
    code, details = _code(lambda: client.dataprep.ingest(good, dataset="a/b"))
    assert code == invalid and "path characters" in details
    assert _code(lambda: client.dataprep.ingest(good, dataset="x", train_fraction=0.9, validation_fraction=0.2))[0] \
        == invalid
    assert _code(lambda: client.dataprep.get_dataset("nope"))[0] == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: client.dataprep.append(good, dataset="nope"))[0] == grpc.StatusCode.NOT_FOUND
    client.dataprep.ingest(good, dataset="x")
    assert _code(lambda: client.dataprep.ingest(good, dataset="x"))[0] == grpc.StatusCode.ALREADY_EXISTS
    assert _code(lambda: client.dataprep.get_version("x", "abcdef99"))[0] == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: list(client.dataprep.read_split("x", "", "holdout")))[0] == invalid
    assert _code(lambda: client.dataprep.stub.ListDatasets(
        dataprep_pb2.ListDatasetsRequest(page={"page_token": "%%%"})))[0] == invalid
    assert [d.name for d in client.dataprep.list_datasets()] == ["x"]  # nothing else was stored


def test_upload_must_start_with_a_header(client):
    def chunks_only():
        yield dataprep_pb2.IngestRequest(chunk=b"text,label\nx,a\n")

    code, details = _code(lambda: client.dataprep.stub.Ingest(chunks_only()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "header" in details


def test_upload_over_the_limit_is_resource_exhausted(server_factory, tmp_path, monkeypatch):
    from tuneloop.client import Client

    monkeypatch.setenv("TUNELOOP_DATAPREP_MAX_UPLOAD_BYTES", "4096")
    server = server_factory()
    path = write_jsonl(tmp_path / "d.jsonl", labeled_rows(500))
    with Client(f"127.0.0.1:{server.port}") as c:
        code, details = _code(lambda: c.dataprep.ingest(path, dataset="big"))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "4096 bytes" in details
        assert c.dataprep.list_datasets() == []


def test_paging(client, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", labeled_rows(10))
    for i in range(5):
        client.dataprep.ingest(path, dataset=f"set{i}")
    first = client.dataprep.stub.ListDatasets(dataprep_pb2.ListDatasetsRequest(page={"page_size": 2}))
    assert [d.name for d in first.datasets] == ["set0", "set1"] and first.next_page_token
    assert [d.name for d in client.dataprep.list_datasets()] == [f"set{i}" for i in range(5)]


def test_dataprep_metrics(server_factory, tmp_path):
    import urllib.request

    from tuneloop.client import Client

    server = server_factory(metrics_port=0)

    def scrape() -> dict[str, float]:
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                if line.startswith("tuneloop_dataprep_")}

    before = scrape()
    rows = labeled_rows(30) + [{"text": "", "label": "a"}] * 2
    with Client(f"127.0.0.1:{server.port}") as c:
        c.dataprep.ingest(write_jsonl(tmp_path / "d.jsonl", rows), dataset="m")
    after = scrape()

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta("tuneloop_dataprep_rows_ingested_total") == 32
    assert delta('tuneloop_dataprep_rows_dropped_total{reason="empty_text"}') == 2
    assert delta('tuneloop_dataprep_ingest_duration_seconds_count{operation="ingest"}') == 1


def test_split_file_arrives_as_stored_and_verified(client, tmp_path):
    """ReadSplitFile sends the stored Parquet bytes with the sha256 recorded at ingest; the
    client keeps the file only when they match."""
    rows = labeled_rows(300)
    version = client.dataprep.ingest(write_jsonl(tmp_path / "d.jsonl", rows), dataset="news", seed=5)
    stored = next((tmp_path / "state").rglob(f"datasets/news/{version.version}-*/train.parquet"))
    header = client.dataprep.download_split("news", "", "train", tmp_path / "train.parquet")
    assert (header.version, header.split, header.size_bytes) == (version.version, "train", stored.stat().st_size)
    assert header.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert (tmp_path / "train.parquet").read_bytes() == stored.read_bytes()
    frame = pl.read_parquet(tmp_path / "train.parquet")
    assert frame.height == 210
    assert [(r.text, r.label) for r in client.dataprep.read_split("news", version.version, "train")] == list(
        zip(frame["text"], frame["label"], strict=True))

    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")  # the stored file is damaged
    with pytest.raises(DataLoss, match="expected .* hashing to"):
        client.dataprep.download_split("news", version.version, "train", tmp_path / "bad.parquet")
    assert not list(tmp_path.glob("*bad.parquet*"))  # nothing half-written stays
    assert _code(lambda: client.dataprep.download_split("news", "", "nope", tmp_path / "x"))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: client.dataprep.download_split("nope", "", "train", tmp_path / "x"))[0] == \
        grpc.StatusCode.NOT_FOUND


def test_split_file_of_a_version_without_recorded_hashes(client, tmp_path):
    """A version made before sha256s were recorded: the server hashes the file once."""
    version = client.dataprep.ingest(write_jsonl(tmp_path / "d.jsonl", labeled_rows(60)), dataset="old")
    engine = create_engine(ServerSettings(data_dir=tmp_path / "state").resolved_database_url())
    with engine.begin() as conn:  # what such a version's row looks like
        report = conn.execute(sa.select(dataset_versions.c.report)).scalar_one()
        report.pop("files")
        conn.execute(sa.update(dataset_versions).values(report=report))
    header = client.dataprep.download_split("old", version.version, "test", tmp_path / "test.parquet")
    assert header.sha256 == hashlib.sha256((tmp_path / "test.parquet").read_bytes()).hexdigest()
