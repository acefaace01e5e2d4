"""An image dataset's rows: read from an upload, each image decoded once and checked.

Uploads: a zip or tar of `<label>/<file>` (`dataprep.archives`), or a CSV, JSONL or Parquet
table with an image column and a label column. The image column may hold bytes (Parquet), base64
text (with or without a `data:image/...;base64,` prefix), or a struct with a `bytes` field (how
Hugging Face `datasets` writes an Image column to Parquet).

Each image is opened once: one wider or taller than the pixel limit
(TUNELOOP_DATAPREP_MAX_IMAGE_PIXELS) is dropped as `too_many_pixels` without being decoded (a
decompression bomb's header is enough), one that is not an image or whose data is truncated or
corrupt is dropped as `unreadable_image`. What a kept image becomes (`core.pictures`): upright
(EXIF), RGB. Its row carries
- `text`: its address, the sha256 of the bytes stored: the uploaded file itself when it is a
  JPEG, PNG or WebP (no lossy re-encoding, no growth), else a PNG of the RGB picture;
- `key`: the sha256 of its size and RGB pixels: the same picture in two encodings is one key;
- `phash`: its 64-bit perceptual hash (`imagehash.phash`), for near-duplicates;
- `width`, `height` and `mode` (the source colour mode), for the report.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from tuneloop.core.pictures import UNREADABLE, Unreadable, read_checked
from tuneloop.dataprep import formats
from tuneloop.dataprep.archives import archive_members, label_of
from tuneloop.dataprep.options import PrepareOptions
from tuneloop.errors import InvalidArgument

KEPT_FORMATS = ("JPEG", "PNG", "WEBP")  # stored as uploaded
DECODED = {"row": pl.Int64, "text": pl.String, "label": pl.String, "key": pl.String, "phash": pl.UInt64,
           "width": pl.Int64, "height": pl.Int64, "mode": pl.String, "data": pl.Binary}


def read_images(path: Path, options: PrepareOptions, limits: formats.Limits) -> pl.DataFrame:
    """The upload as rows of `row`, `name` (member name, or `row N`), `data` (bytes; null when a
    cell could not be read as bytes) and `label`."""
    fmt = formats.detect_format(options)
    if fmt == "archive":
        names, datas, labels = [], [], []
        for name, data in archive_members(path, limits):
            names.append(name)
            datas.append(data)
            labels.append(label_of(name))
        if not names:
            raise InvalidArgument("the archive holds no files")
        return pl.DataFrame({"row": pl.int_range(len(names), eager=True, dtype=pl.Int64), "name": names,
                             "data": pl.Series(datas, dtype=pl.Binary), "label": pl.Series(labels, dtype=pl.String)})
    return _table(path, fmt, options, limits)


def _table(path: Path, fmt: str, options: PrepareOptions, limits: formats.Limits) -> pl.DataFrame:
    plain = formats.decompressed(path, limits) if fmt != "parquet" else None
    source = plain or path
    try:
        formats.check_content(source, fmt)
        cols = [options.image_column, options.label_column]
        if fmt == "parquet":
            formats.check_columns(pl.read_parquet_schema(source).names(), options)
            formats.check_parquet_size(source, cols, limits)
            frame = pl.read_parquet(source, columns=cols)
        elif fmt == "csv":
            frame = pl.read_csv(source, infer_schema=False, encoding="utf8-lossy")
            formats.check_columns(frame.columns, options)
        else:
            frame = pl.read_ndjson(source, infer_schema_length=None)
            formats.check_columns(frame.columns, options)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidArgument(f"cannot read the file as {fmt.upper()}: {str(exc).splitlines()[0][:300]}") from exc
    finally:
        if plain is not None:
            plain.unlink(missing_ok=True)
    if frame.height == 0:
        raise InvalidArgument("the file has no rows")
    if frame.height > limits.max_rows:
        raise limits.exceeded(f"{frame.height} rows", "MAX_ROWS", limits.max_rows)
    label = frame[options.label_column]
    return pl.DataFrame({
        "row": pl.int_range(frame.height, eager=True, dtype=pl.Int64),
        "name": [f"row {i}" for i in range(frame.height)],
        "data": pl.Series(_image_bytes(frame[options.image_column]), dtype=pl.Binary),
        "label": label if label.dtype == pl.String else label.cast(pl.String),
    })


def _image_bytes(col: pl.Series) -> list[bytes | None]:
    if isinstance(col.dtype, pl.Struct):
        if "bytes" not in [f.name for f in col.dtype.fields]:
            raise InvalidArgument(f"column {col.name!r} holds records without a 'bytes' field, not images")
        col = col.struct.field("bytes")
    if col.dtype == pl.Binary:
        return col.to_list()
    if col.dtype == pl.String:
        return [_from_base64(v) for v in col.to_list()]
    raise InvalidArgument(f"column {col.name!r} holds {col.dtype}, not image bytes or base64 text")


def _from_base64(value: str | None) -> bytes | None:
    if not value:
        return None
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def decode(data: bytes | None, max_pixels: int) -> dict | str:
    """One image's row values (see the module docstring), or the reason it is dropped."""
    import imagehash

    if not data:
        return UNREADABLE
    try:
        image, rgb = read_checked(data, max_pixels)
    except Unreadable as exc:
        return exc.reason
    source_format, mode = image.format, image.mode
    if source_format not in KEPT_FORMATS:
        buf = io.BytesIO()
        rgb.save(buf, format="PNG")
        data = buf.getvalue()
    pixels = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    pixels.update(rgb.tobytes())
    return {"text": hashlib.sha256(data).hexdigest(), "key": pixels.hexdigest(),
            "phash": int(str(imagehash.phash(rgb)), 16), "width": rgb.width, "height": rgb.height, "mode": mode,
            "data": data}


def decode_rows(raw: pl.DataFrame, max_pixels: int, threads: int = 4) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(decoded rows, dropped rows): see `DECODED`; dropped rows name the member (or table row)."""
    with ThreadPoolExecutor(threads) as pool:  # Pillow releases the GIL while decoding
        results = list(pool.map(lambda d: decode(d, max_pixels), raw["data"].to_list()))
    kept = [i for i, r in enumerate(results) if isinstance(r, dict)]
    rows, labels = raw["row"].to_list(), raw["label"].to_list()
    values = [results[i] for i in kept]
    decoded = pl.DataFrame({"row": [rows[i] for i in kept], "label": [labels[i] for i in kept],
                            **{c: [v[c] for v in values] for c in DECODED if c not in ("row", "label")}},
                           schema=DECODED)
    bad = [i for i, r in enumerate(results) if isinstance(r, str)]
    dropped = pl.DataFrame({"row": [rows[i] for i in bad], "text": [raw["name"][i] for i in bad],
                            "label": [labels[i] for i in bad], "reason": [results[i] for i in bad]},
                           schema={"row": pl.Int64, "text": pl.String, "label": pl.String, "reason": pl.String})
    return decoded.select(*DECODED), dropped
