"""Image datasets through the dataprep service (issue 16): a folder tree, a zip, a tar, and tables
(Parquet bytes, a Hugging Face-style {bytes} struct, CSV base64) ingested; unreadable, truncated and
over-sized images dropped with their reasons; EXIF orientation applied; exact (bytes, pixels) and
near (perceptual hash) duplicates and label conflicts; a stratified split sticky on append; images
stored once by address; and archives that try to escape, link or explode refused."""

from __future__ import annotations

import base64
import hashlib
import tarfile
import zipfile
from pathlib import Path

import grpc
import numpy as np
import polars as pl
import pytest
from PIL import Image

from conftest import serving
from pictures import LABELS, picture, png, tree


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("state"), timeout=120, services=["dataprep"]) as both:
        yield both


def test_a_folder_of_images_is_cleaned_deduplicated_split_and_stored_once(served, tmp_path):
    server, client = served
    root = tree(tmp_path / "shapes")
    (root / "circle" / "copy.png").write_bytes((root / "circle" / "000.png").read_bytes())  # same bytes
    (root / "circle" / "same.bmp").write_bytes(png(picture("circle", 1), "BMP"))  # stored as the same PNG
    (root / "circle" / "same.webp").write_bytes(png(picture("circle", 2), "WEBP", lossless=True))  # same pixels
    (root / "square" / "notes.txt").write_text("not an image")
    (root / "square" / "cut.png").write_bytes(png(picture("square", 99))[:300])  # truncated
    (root / "stripe" / "huge.png").write_bytes(png(Image.new("1", (20000, 20000))))  # 400M pixels: a bomb
    (root / "stripe" / "alpha.png").write_bytes(png(picture("stripe", 60).convert("RGBA")))
    (root / "stripe" / ".DS_Store").write_bytes(b"\0\0")
    conflict = png(picture("square", 70))
    (root / "square" / "twice.png").write_bytes(conflict)
    (root / "circle" / "twice.png").write_bytes(conflict)  # one picture, two labels: a tie drops both
    rotated = picture("stripe", 61, size=48).resize((48, 24))
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees to display
    (root / "stripe" / "phone.jpg").write_bytes(png(rotated, "JPEG", exif=exif))

    version = client.dataprep.ingest(root, dataset="shapes")  # a folder: sent as a tar, the task inferred
    assert version.task == "image-classification"
    assert dict(version.dropped) == {"duplicate_exact": 2, "duplicate_normalized": 1, "unreadable_image": 2,
                                     "too_many_pixels": 1, "label_conflict": 2}
    assert dict(version.labels) == {"circle": 20, "square": 20, "stripe": 22}
    assert sum(version.splits.values()) == 62 and version.images_url.startswith("file://")
    dropped = {r.text: r.label for r in client.dataprep.read_split("shapes", version.version, "dropped")}
    assert dropped["square/notes.txt"] == "square" and "stripe/huge.png" in dropped and "circle/copy.png" in dropped

    report = client.dataprep.report("shapes", version.version)
    modes = {m: sum(s.modes.get(m, 0) for s in report.images.values()) for m in ("RGB", "RGBA")}
    assert modes == {"RGB": 61, "RGBA": 1}
    widths = [s.width.min for s in report.images.values()]
    assert min(widths) == 24, "the phone photo stands upright: 24 wide, 48 tall"
    for split, n in {"train": 14, "validation": 3, "test": 3}.items():  # stratified: 20 per label
        assert report.split_labels[split].counts["circle"] == n

    rows = [r for s in ("train", "validation", "test") for r in client.dataprep.read_split("shapes", version.version, s)]
    files = {p.name: p for p in Path(version.images_url.removeprefix("file://")).rglob("*") if p.is_file()}
    assert {r.text for r in rows} <= set(files), "every row's image is stored under its address"
    some = rows[0].text
    assert hashlib.sha256(files[some].read_bytes()).hexdigest() == some
    jpeg = next(r.text for r in rows if Image.open(files[r.text]).format == "JPEG")
    assert Image.open(files[jpeg]).getexif()[0x0112] == 6, "a JPEG is stored as uploaded, not re-encoded"

    # append: old images keep their split, a known picture is a duplicate, new ones are split apart
    more = tmp_path / "more"
    for label in LABELS:
        (more / label).mkdir(parents=True)
        for i in range(20, 30):
            (more / label / f"{i}.png").write_bytes(png(picture(label, i)))
    (more / "circle" / "old.png").write_bytes((root / "circle" / "005.png").read_bytes())
    appended = client.dataprep.append(more, dataset="shapes")
    assert appended.created and dict(appended.dropped) == {"duplicate_existing": 1}
    new = appended.version
    before, after = ({r.text: s for s in ("train", "validation", "test") for r in client.dataprep.read_split("shapes", v, s)}
                     for v in (version.version, new.version))
    assert all(after[t] == s for t, s in before.items()) and len(after) == 92
    count = len([p for p in Path(new.images_url.removeprefix("file://")).rglob("*") if p.is_file()])
    assert count == len(files) + 30, "each image is stored once, whichever versions name it"
    assert client.dataprep.report("shapes", new.version).drift.has_parent


def test_near_duplicates_fall_within_the_hamming_distance(served, tmp_path):
    _, client = served
    root = tree(tmp_path / "near", per_label=10)
    base = np.asarray(picture("circle", 3)).copy()
    base[0, 0] = (255, 255, 255)  # one pixel changed: not the same pixels, nearly the same picture
    (root / "circle" / "touched.png").write_bytes(png(Image.fromarray(base)))
    plain = client.dataprep.ingest(root, dataset="near-off")
    assert "duplicate_near" not in plain.dropped
    near = client.dataprep.ingest(root, dataset="near-on", near_dedupe=True, near_distance=4)
    assert near.dropped["duplicate_near"] >= 1


def test_tables_of_image_bytes_base64_and_structs(served, tmp_path):
    _, client = served
    images = [png(picture(LABELS[i % 3], i)) for i in range(30)]
    labels = [LABELS[i % 3] for i in range(30)]
    pl.DataFrame({"image": images, "label": labels}).write_parquet(tmp_path / "bytes.parquet")
    pl.DataFrame({"img": [{"bytes": b, "path": f"{i}.png"} for i, b in enumerate(images)], "label": labels}) \
        .write_parquet(tmp_path / "hf.parquet")
    encoded = [base64.b64encode(b).decode() for b in images]
    encoded[1] = "data:image/png;base64," + encoded[1]
    encoded[2] = "%%% not base64"
    pl.DataFrame({"image": encoded, "label": labels}).write_csv(tmp_path / "b64.csv")

    one = client.dataprep.ingest(tmp_path / "bytes.parquet", dataset="t-bytes", task="image-classification")
    two = client.dataprep.ingest(tmp_path / "hf.parquet", dataset="t-hf", task="image-classification",
                                 image_column="img")
    three = client.dataprep.ingest(tmp_path / "b64.csv", dataset="t-b64", task="image-classification")
    assert one.rows_out == two.rows_out == 30 and one.content_hash == two.content_hash
    assert three.rows_out == 29 and dict(three.dropped) == {"unreadable_image": 1}
    dropped = list(client.dataprep.read_split("t-b64", three.version, "dropped"))
    assert [r.text for r in dropped] == ["row 2"]


def _zip(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "/etc/passwd")
    return path


def test_archives_that_escape_link_or_overflow_are_refused(served, tmp_path):
    _, client = served
    good = {f"{label}/{i}.png": png(picture(label, i)) for label in LABELS for i in range(5)}
    cases = {
        "traversal.zip": _zip(tmp_path / "traversal.zip", {**good, "../evil.png": good["circle/0.png"]}),
        "absolute.zip": _zip(tmp_path / "absolute.zip", {**good, "/tmp/evil.png": good["circle/0.png"]}),
        "link.zip": _zip(tmp_path / "link.zip", good, links=("circle/link.png",)),
    }
    tar = tmp_path / "link.tar"
    with tarfile.open(tar, "w") as t:
        info = tarfile.TarInfo("square/link.png")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    cases["link.tar"] = tar
    expected = {"traversal.zip": "path traversal", "absolute.zip": "path traversal", "link.zip": "symbolic link",
                "link.tar": "is a link"}
    for name, path in cases.items():
        with pytest.raises(grpc.RpcError) as err:
            client.dataprep.ingest(path, dataset=f"bad-{name.replace('.', '-')}")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        assert expected[name] in err.value.details(), (name, err.value.details())
    assert not (tmp_path / "evil.png").exists() and not Path("/tmp/evil.png").exists()


@pytest.fixture
def strict(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELOOP_DATAPREP_MAX_UPLOAD_BYTES", str(1 << 20))
    monkeypatch.setenv("TUNELOOP_DATAPREP_MAX_ARCHIVE_MEMBERS", "50")
    with serving(tmp_path / "state", timeout=120, services=["dataprep"]) as (_, client):
        yield client


def test_zip_bombs_and_crowded_archives_hit_the_limits(strict, tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("circle/0.png", png(picture("circle", 0)))
        z.writestr("circle/1.png", b"\0" * (8 << 20))  # 8 MiB of zeros, 8 KB compressed
    assert bomb.stat().st_size < 64 << 10
    with pytest.raises(grpc.RpcError) as err:
        strict.dataprep.ingest(bomb, dataset="bomb")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "MAX_UPLOAD_BYTES" in err.value.details()

    crowded = _zip(tmp_path / "crowded.zip", {f"circle/{i}.png": b"x" for i in range(51)})
    with pytest.raises(grpc.RpcError) as err:
        strict.dataprep.ingest(crowded, dataset="crowded")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "MAX_ARCHIVE_MEMBERS=50" in err.value.details()


def test_the_cli_ingests_a_folder_and_reports_its_images(served, tmp_path):
    import json
    import os
    import subprocess
    import sys

    server, _ = served
    env = {**os.environ, "TUNELOOP_ADDRESS": f"127.0.0.1:{server.port}"}

    def cli(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "tuneloop.cli", *args, "--json"], capture_output=True, text=True,
                              timeout=300, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    version = cli("data", "ingest", str(tree(tmp_path / "cli-shapes", per_label=10)), "--dataset", "cli-shapes")
    assert version["task"] == "image-classification" and version["labels"] == {"circle": 10, "square": 10, "stripe": 10}
    report = cli("data", "report", "cli-shapes")
    assert report["images"]["train"]["width"]["p50"] == 32 and report["images"]["train"]["modes"] == {"RGB": 21}
