"""Reading CSV, JSONL and Parquet; every malformed file is InvalidArgument with a clear message."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tuneloop.dataprep.formats import read_table
from tuneloop.dataprep.options import PrepareOptions
from tuneloop.errors import InvalidArgument


def _read(path, **opts):
    return read_table(path, PrepareOptions(filename=path.name, **opts))


def test_csv_jsonl_parquet_read_alike(tmp_path):
    frame = pl.DataFrame({"body": ["one, with comma", "two \"quoted\""], "y": ["a", "b"], "extra": [1, 2]})
    frame.write_csv(tmp_path / "d.csv")
    frame.write_ndjson(tmp_path / "d.jsonl")
    frame.write_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.jsonl", "d.parquet"):
        out = _read(tmp_path / name, text_column="body", label_column="y")
        assert out.columns == ["row", "text", "label"]
        assert out["text"].to_list() == ["one, with comma", 'two "quoted"'], name
        assert out["label"].to_list() == ["a", "b"]


def test_numeric_labels_become_strings(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"t{i}", "label": i % 2}) + "\n" for i in range(4)))
    assert _read(path)["label"].to_list() == ["0", "1", "0", "1"]


def test_mis_encoded_bytes_are_replaced_not_fatal(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_bytes(b"text,label\ncaf\xe9 latin1,a\n")
    assert _read(csv)["text"].to_list() == ["caf\ufffd latin1"]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_bytes(b'{"text": "caf\xe9", "label": "a"}\n')
    assert _read(jsonl)["text"].to_list() == ["caf\ufffd"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("d.csv", b"", "the file is empty"),
        ("d.csv", b"text,label\n", "no rows"),
        ("d.csv", b"body,y\nx,a\n", "missing column 'text', 'label'"),
        ("d.parquet", b"text,label\nx,a\n", "not Parquet"),
        ("d.csv", b"PAR1\x00\x00garbage", "is Parquet, not CSV"),
        ("d.csv", b"text,label\n\x00\x01\x02,a\n", "binary data"),
        ("d.jsonl", b'{"text": "x", "label": "a"}\nnot json at all\n', "cannot read the file as JSONL"),
        ("d.txt", b"text,label\nx,a\n", "cannot tell the format"),
    ],
)
def test_bad_files_are_invalid_argument(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidArgument, match=message):
        _read(path)


def test_explicit_format_overrides_the_suffix(tmp_path):
    path = tmp_path / "upload.bin"
    path.write_text('{"text": "x", "label": "a"}\n')
    assert _read(path, format="jsonl")["text"].to_list() == ["x"]
    with pytest.raises(InvalidArgument, match="unknown format 'xml'"):
        _read(path, format="xml")
