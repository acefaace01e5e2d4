"""Reading an uploaded CSV, JSONL or Parquet file into (row, text, label) columns.

The file lies on disk (the servicer streams it there); only the two needed columns
are materialized. Anything wrong with the file itself becomes InvalidArgument with a
message naming the problem: a format that is not what it claims, a missing column,
an empty file. Mis-encoded bytes are replaced (U+FFFD), never fatal.

`Limits` hold before anything is materialized, whatever the compression: a compressed CSV
or JSONL (zstd, gzip, bz2, xz, lz4) is decompressed to disk while its bytes are counted; a
Parquet file's declared uncompressed column sizes and row count are read from its footer
first. Past a limit: RESOURCE_EXHAUSTED naming the setting (a 24 KB zstd CSV was a 200 MB cell).
"""

from __future__ import annotations

import codecs
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tuneloop.dataprep.options import PrepareOptions
from tuneloop.errors import InvalidArgument, ResourceExhausted

FORMATS = ("csv", "jsonl", "parquet", "archive")
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
             ".parquet": "parquet", ".pq": "parquet", ".zip": "archive", ".tar": "archive", ".tgz": "archive"}
_PARQUET_MAGIC = b"PAR1"
_COMPRESSED = {b"\x28\xb5\x2f\xfd": "zstd", b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz",
               b"\x04\x22\x4d\x18": "lz4"}


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2 * 1024**3  # decompressed
    max_rows: int = 20_000_000
    max_text_bytes: int = 1_000_000
    max_image_pixels: int = 50_000_000
    max_archive_members: int = 200_000

    def exceeded(self, what: str, setting: str, limit: int) -> ResourceExhausted:
        return ResourceExhausted(f"{what} exceeds TUNELOOP_DATAPREP_{setting}={limit}")


def decompressed(path: Path, limits: Limits) -> Path | None:
    """A decompressed copy of a compressed text file (None if it is not compressed), written in
    1 MiB pieces and abandoned as soon as it outgrows the byte limit."""
    with path.open("rb") as fh:
        head = fh.read(8)
    codec = next((c for magic, c in _COMPRESSED.items() if head.startswith(magic)), None)
    if codec is None:
        return None
    import pyarrow as pa

    fd, tmp = tempfile.mkstemp(suffix=".decompressed", dir=path.parent)
    written = 0
    try:
        with pa.input_stream(str(path), compression=codec) as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > limits.max_bytes:
                    raise limits.exceeded(f"the {codec}-compressed file, decompressed,", "MAX_UPLOAD_BYTES",
                                          limits.max_bytes)
                dst.write(chunk)
    except ResourceExhausted:
        Path(tmp).unlink(missing_ok=True)
        raise
    except (OSError, pa.ArrowException) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidArgument(f"cannot decompress the {codec} file: {str(exc).splitlines()[0][:200]}") from exc
    return Path(tmp)


def check_parquet_size(path: Path, columns: list[str], limits: Limits) -> None:
    """What reading `columns` would take, from the footer, before reading them."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    if meta.num_rows > limits.max_rows:
        raise limits.exceeded(f"{meta.num_rows} rows", "MAX_ROWS", limits.max_rows)
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    wanted = [i for i, name in enumerate(names) if name in columns]
    size = sum(meta.row_group(g).column(i).total_uncompressed_size
               for g in range(meta.num_row_groups) for i in wanted)
    if size > limits.max_bytes:
        raise limits.exceeded(f"the Parquet columns' {size} uncompressed bytes", "MAX_UPLOAD_BYTES", limits.max_bytes)


def _suffix(filename: str) -> str:
    """The format's suffix: data.csv.gz is CSV, compressed."""
    name = Path(filename)
    if name.suffix.lower() in (".zst", ".zstd", ".gz", ".bz2", ".xz", ".lz4"):
        name = name.with_suffix("")
    return name.suffix.lower()


def suffix_format(filename: str) -> str | None:
    """The format a file's name says (None when it says none)."""
    return _SUFFIXES.get(_suffix(filename))


def detect_format(options: PrepareOptions) -> str:
    if options.format:
        fmt = options.format.lower()
        if fmt not in FORMATS:
            raise InvalidArgument(f"unknown format {options.format!r}: use one of {', '.join(FORMATS)}")
        return fmt
    fmt = suffix_format(options.filename)
    if fmt is None:
        raise InvalidArgument(
            f"cannot tell the format of {options.filename or 'the upload'!r}: name it .csv, .jsonl, "
            ".parquet (or, for images, .zip or .tar), or pass the format"
        )
    return fmt


def check_content(path: Path, fmt: str) -> None:
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


def check_columns(names: list[str], options: PrepareOptions) -> None:
    missing = [c for c in options.source_columns() if c not in names]
    if missing:
        shown = ", ".join(repr(n) for n in names[:20])
        raise InvalidArgument(f"missing column {', '.join(repr(m) for m in missing)}; the file has {shown}")


def _read(path: Path, fmt: str, options: PrepareOptions, limits: Limits) -> pl.DataFrame:
    cols = list(options.source_columns())
    if fmt == "csv":
        sep = "\t" if _suffix(options.filename) == ".tsv" else ","
        header = pl.read_csv(path, n_rows=0, encoding="utf8-lossy", separator=sep)
        check_columns(header.columns, options)
        return pl.read_csv(path, columns=cols, infer_schema=False, encoding="utf8-lossy", separator=sep)
    if fmt == "parquet":
        check_columns(pl.read_parquet_schema(path).names(), options)
        check_parquet_size(path, cols, limits)
        return pl.read_parquet(path, columns=cols)
    clean = _lossy_utf8_copy(path)
    try:
        frame = pl.read_ndjson(clean, infer_schema_length=None)
    finally:
        clean.unlink(missing_ok=True)
    check_columns(frame.columns, options)
    return frame.select(cols)


def _as_text(col: pl.Series) -> pl.Series:
    if col.dtype == pl.String:
        return col
    if col.dtype in (pl.List, pl.Struct) or isinstance(col.dtype, (pl.List, pl.Struct)):
        raise InvalidArgument(f"column {col.name!r} holds nested values, not text")
    return col.cast(pl.String)


def read_table(path: Path, options: PrepareOptions, limits: Limits = Limits()) -> pl.DataFrame:
    """Read `path` as a frame of `row` (source position), `text` and `label` (strings, may be null)."""
    fmt = detect_format(options)
    if fmt == "archive":
        raise InvalidArgument("an archive holds images: ingest it with the task image-classification")
    plain = decompressed(path, limits) if fmt != "parquet" else None
    try:
        return _read_checked(plain or path, fmt, options, limits)
    finally:
        if plain is not None:
            plain.unlink(missing_ok=True)


def _read_checked(path: Path, fmt: str, options: PrepareOptions, limits: Limits) -> pl.DataFrame:
    check_content(path, fmt)
    try:
        frame = _read(path, fmt, options, limits)
    except (InvalidArgument, ResourceExhausted):
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InvalidArgument(f"cannot read the file as {fmt.upper()}: {str(exc).splitlines()[0][:300]}") from exc
    if frame.height == 0:
        raise InvalidArgument("the file has no rows")
    if frame.height > limits.max_rows:
        raise limits.exceeded(f"{frame.height} rows", "MAX_ROWS", limits.max_rows)
    text_column, label_column = options.source_columns()
    text = _as_text(frame[text_column])
    label = _as_text(frame[label_column])
    for name, col in ((text_column, text), (label_column, label)):
        longest = col.str.len_bytes().max()
        if longest is not None and int(longest) > limits.max_text_bytes:  # type: ignore[arg-type]
            row = int(col.str.len_bytes().arg_max() or 0)
            raise limits.exceeded(f"a {name!r} cell of {longest} bytes (row {row})", "MAX_TEXT_BYTES",
                                  limits.max_text_bytes)
    return pl.DataFrame({"row": pl.int_range(frame.height, eager=True, dtype=pl.Int64),
                         "text": text, "label": label})
