"""Reading an uploaded CSV, JSONL or Parquet file into (row, text, label) columns.

The file lies on disk (the servicer streams it there); only the two needed columns
are materialized. Anything wrong with the file itself becomes InvalidArgument with a
message naming the problem: a format that is not what it claims, a missing column,
an empty file. Mis-encoded bytes are replaced (U+FFFD), never fatal.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from pathlib import Path

import polars as pl

from tuneloop.dataprep.options import PrepareOptions
from tuneloop.errors import InvalidArgument

FORMATS = ("csv", "jsonl", "parquet")
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}
_PARQUET_MAGIC = b"PAR1"


def detect_format(options: PrepareOptions) -> str:
    if options.format:
        fmt = options.format.lower()
        if fmt not in FORMATS:
            raise InvalidArgument(f"unknown format {options.format!r}: use one of {', '.join(FORMATS)}")
        return fmt
    fmt = _SUFFIXES.get(Path(options.filename).suffix.lower())
    if fmt is None:
        raise InvalidArgument(
            f"cannot tell the format of {options.filename or 'the upload'!r}: name it .csv, .jsonl or "
            ".parquet, or pass the format"
        )
    return fmt


def _check_content(path: Path, fmt: str) -> None:
    size = path.stat().st_size
    if size == 0:
        raise InvalidArgument("the file is empty")
    with path.open("rb") as fh:
        head = fh.read(65536)
    is_parquet = head.startswith(_PARQUET_MAGIC)
    if fmt == "parquet" and not is_parquet:
        raise InvalidArgument("the file is not Parquet (no PAR1 magic bytes)")
    if fmt != "parquet":
        if is_parquet:
            raise InvalidArgument(f"the file is Parquet, not {fmt.upper()}")
        if b"\x00" in head:
            raise InvalidArgument(f"the file holds binary data, not {fmt.upper()} text")


def _lossy_utf8_copy(path: Path) -> Path:
    """A copy of `path` with invalid UTF-8 replaced, decoded incrementally in 8 MiB chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    fd, tmp = tempfile.mkstemp(suffix=".jsonl", dir=path.parent)
    with path.open("rb") as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(8 << 20):
            dst.write(decoder.decode(chunk).encode())
        dst.write(decoder.decode(b"", final=True).encode())
    return Path(tmp)


def _columns(names: list[str], options: PrepareOptions) -> None:
    missing = [c for c in (options.text_column, options.label_column) if c not in names]
    if missing:
        shown = ", ".join(repr(n) for n in names[:20])
        raise InvalidArgument(f"missing column {', '.join(repr(m) for m in missing)}; the file has {shown}")


def _read(path: Path, fmt: str, options: PrepareOptions) -> pl.DataFrame:
    cols = [options.text_column, options.label_column]
    if fmt == "csv":
        sep = "\t" if Path(options.filename).suffix.lower() == ".tsv" else ","
        header = pl.read_csv(path, n_rows=0, encoding="utf8-lossy", separator=sep)
        _columns(header.columns, options)
        return pl.read_csv(path, columns=cols, infer_schema=False, encoding="utf8-lossy", separator=sep)
    if fmt == "parquet":
        _columns(pl.read_parquet_schema(path).names(), options)
        return pl.read_parquet(path, columns=cols)
    clean = _lossy_utf8_copy(path)
    try:
        frame = pl.read_ndjson(clean, infer_schema_length=None)
    finally:
        clean.unlink(missing_ok=True)
    _columns(frame.columns, options)
    return frame.select(cols)


def _as_text(col: pl.Series) -> pl.Series:
    if col.dtype == pl.String:
        return col
    if col.dtype in (pl.List, pl.Struct) or isinstance(col.dtype, (pl.List, pl.Struct)):
        raise InvalidArgument(f"column {col.name!r} holds nested values, not text")
    return col.cast(pl.String)


def read_table(path: Path, options: PrepareOptions) -> pl.DataFrame:
    """Read `path` as a frame of `row` (source position), `text` and `label` (strings, may be null)."""
    fmt = detect_format(options)
    _check_content(path, fmt)
    try:
        frame = _read(path, fmt, options)
    except InvalidArgument:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InvalidArgument(f"cannot read the file as {fmt.upper()}: {str(exc).splitlines()[0]}") from exc
    if frame.height == 0:
        raise InvalidArgument("the file has no rows")
    text = _as_text(frame[options.text_column])
    label = _as_text(frame[options.label_column])
    return pl.DataFrame({"row": pl.int_range(frame.height, eager=True, dtype=pl.Int64),
                         "text": text, "label": label})
