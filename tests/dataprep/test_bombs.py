"""Compression bombs and huge cells (issue 13, defect 2): a 24 KB zstd CSV became a 200 MB text
field and a 91 KB zstd Parquet 200 MB of text, past a 1 MiB upload limit. The limits now hold on
decompressed bytes, rows and each cell, checked before the data is materialized:
RESOURCE_EXHAUSTED naming the limit, and the server's memory stays flat."""

from __future__ import annotations

import grpc
import polars as pl
import psutil
import pyarrow as pa
import pytest

from conftest import serving

BOMB = 100 * 1024 * 1024  # decompressed bytes of each bomb


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELOOP_DATAPREP_MAX_UPLOAD_BYTES", str(1 << 20))
    monkeypatch.setenv("TUNELOOP_DATAPREP_MAX_ROWS", "5000")
    monkeypatch.setenv("TUNELOOP_DATAPREP_MAX_TEXT_BYTES", "10000")
    with serving(tmp_path / "state", timeout=120, services=["dataprep"]) as (_, client):
        yield client


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as z:
        z.write(data)
    return sink.getvalue().to_pybytes()


def _refused(client, path, limit_name: str) -> None:
    rss = psutil.Process().memory_info().rss
    with pytest.raises(grpc.RpcError) as err:
        client.dataprep.ingest(path, dataset="bomb")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value.details()
    assert limit_name in err.value.details()
    grown = psutil.Process().memory_info().rss - rss
    assert grown < 60 * 1024 * 1024, f"memory grew by {grown / 1e6:.0f} MB reading a refused upload"


def _one_huge_cell() -> bytes:
    chunk = b"a" * (1 << 20)
    return b"text,label\n" + b"".join(chunk for _ in range(BOMB >> 20)) + b",x\n"


def test_a_zstd_csv_bomb(client, tmp_path):
    path = tmp_path / "bomb.csv.zst"
    path.write_bytes(_zstd(_one_huge_cell()))
    assert path.stat().st_size < 64 * 1024
    _refused(client, path, "TUNELOOP_DATAPREP_MAX_UPLOAD_BYTES")


def test_a_parquet_bomb(client, tmp_path):
    path = tmp_path / "bomb.parquet"
    pl.DataFrame({"text": ["a" * (BOMB // 4)] * 4, "label": ["x"] * 4}).write_parquet(path, compression="zstd")
    assert path.stat().st_size < 1 << 20
    _refused(client, path, "TUNELOOP_DATAPREP_MAX_UPLOAD_BYTES")


def test_too_many_rows(client, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("text,label\n" + "".join(f"t{i},x\n" for i in range(6000)))
    _refused(client, path, "TUNELOOP_DATAPREP_MAX_ROWS")


def test_one_cell_over_the_text_limit(client, tmp_path):
    path = tmp_path / "cell.csv"
    path.write_text("text,label\n" + "a" * 20000 + ",x\nshort,y\n")
    _refused(client, path, "TUNELOOP_DATAPREP_MAX_TEXT_BYTES")
