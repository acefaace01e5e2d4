"""Uploads and downloads through a real gRPC server: a 200 MB artifact verified both ways,
cut-off uploads that leave nothing visible and succeed on retry, resumed downloads."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import grpc
import pytest

from tuneloop.client.registry import sha256_file
from tuneloop.v1 import registry_pb2


def _artifact(root: Path, size: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text('{"model_type": "bert"}')
    with (root / "model.safetensors").open("wb") as fh:
        for _ in range(size // (8 << 20)):
            fh.write(os.urandom(8 << 20))
        fh.write(os.urandom(size % (8 << 20)))
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "empty.txt").write_bytes(b"")
    return root


def _blob_files(state: Path, *, settle: float = 5.0) -> list[Path]:
    """Blob files on disk, once the server's handler of a failed call had up to `settle` s to clean up."""
    root = state / "artifacts" / "blobs"
    deadline = time.monotonic() + settle
    while True:
        found = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        if not any(".tmp-" in p.name for p in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_200mb_round_trip(client, tmp_path):
    src = _artifact(tmp_path / "src", 200 * 1024 * 1024)
    version = client.registry.upload_dir(src, model="big", kind="fine-tuned")
    assert version.version == 1 and version.size_bytes == 200 * 1024 * 1024 + 22
    assert {f.path for f in version.files} == {"config.json", "model.safetensors", "sub/empty.txt"}
    out = tmp_path / "out"
    client.registry.download("big@1", out)
    for name in ("config.json", "model.safetensors", "sub/empty.txt"):
        assert sha256_file(out / name) == sha256_file(src / name)


def _cut_off(client, header, data: bytes, after: int):
    def stream():
        yield registry_pb2.UploadVersionRequest(header=header)
        for i in range(0, after, 1 << 16):
            yield registry_pb2.UploadVersionRequest(chunk=registry_pb2.UploadChunk(path="w.safetensors",
                                                                                   data=data[i:i + (1 << 16)]))
        raise ConnectionError("network went away")

    with pytest.raises(grpc.RpcError) as err:
        client.registry.stub.UploadVersion(stream())
    return err.value


def test_cut_off_upload_leaves_nothing_and_retry_succeeds(client, tmp_path):
    state = tmp_path / "state"
    data = os.urandom(3 << 20)
    entry = registry_pb2.ArtifactFile(path="w.safetensors", sha256=hashlib.sha256(data).hexdigest(),
                                      size_bytes=len(data))
    header = registry_pb2.UploadHeader(model="m", create_model=True, files=[entry])
    _cut_off(client, header, data, after=1 << 20)
    assert client.registry.search(model="m") == []
    with pytest.raises(grpc.RpcError) as err:
        client.registry.get_version("m@1")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert _blob_files(state) == []  # no orphan, no temporary file left behind
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.safetensors").write_bytes(data)
    version = client.registry.upload_dir(src, model="m")
    assert version.version == 1 and version.files[0].sha256 == entry.sha256
    assert len(_blob_files(state)) == 1


def test_checksum_mismatch_is_data_loss_and_stores_nothing(client, tmp_path):
    data = b"x" * 5000
    header = registry_pb2.UploadHeader(model="m", create_model=True, files=[
        registry_pb2.ArtifactFile(path="w.safetensors", sha256="0" * 64, size_bytes=len(data))])
    reqs = [registry_pb2.UploadVersionRequest(header=header),
            registry_pb2.UploadVersionRequest(chunk=registry_pb2.UploadChunk(path="w.safetensors", data=data))]
    with pytest.raises(grpc.RpcError) as err:
        client.registry.stub.UploadVersion(iter(reqs))
    assert err.value.code() == grpc.StatusCode.DATA_LOSS and "checksum mismatch" in err.value.details()
    assert client.registry.search(model="m") == [] and _blob_files(tmp_path / "state") == []


def test_interrupted_download_resumes(client, tmp_path):
    src = _artifact(tmp_path / "src", 6 << 20)
    client.registry.upload_dir(src, model="m")
    out = tmp_path / "out"
    req = registry_pb2.DownloadVersionRequest(ref=registry_pb2.VersionRef(model="m", version=1))
    stream = client.registry.stub.DownloadVersion(req)
    manifest = next(stream).manifest
    files = sorted(manifest.files, key=lambda f: f.path)
    assert [f.path for f in manifest.files] == [f.path for f in files]
    # take the first file whole and two chunks of the big one, then drop the connection
    got: dict[str, bytearray] = {}
    for msg in stream:
        got.setdefault(msg.chunk.path, bytearray()).extend(msg.chunk.data)
        if len(got.get("model.safetensors", b"")) >= 2 << 20:
            stream.cancel()
            break
    (out).mkdir()
    (out / "config.json").write_bytes(got["config.json"])
    (out / "model.safetensors.partial").write_bytes(got["model.safetensors"])
    client.registry.download("m@1", out)
    assert sha256_file(out / "model.safetensors") == sha256_file(src / "model.safetensors")
    assert not (out / "model.safetensors.partial").exists()
    # resuming asked for the remainder only
    resumed = client.registry.stub.DownloadVersion(registry_pb2.DownloadVersionRequest(
        ref=registry_pb2.VersionRef(model="m", version=1), start_path="model.safetensors", start_offset=2 << 20))
    sent = sum(len(m.chunk.data) for m in resumed if m.WhichOneof("part") == "chunk")
    assert sent == (6 << 20) - (2 << 20)


def test_bad_uploads_get_precise_codes(client, server_factory, tmp_path, monkeypatch):
    def upload(header, chunks=()):
        reqs = [registry_pb2.UploadVersionRequest(header=header)]
        reqs += [registry_pb2.UploadVersionRequest(chunk=registry_pb2.UploadChunk(path=p, data=d)) for p, d in chunks]
        with pytest.raises(grpc.RpcError) as err:
            client.registry.stub.UploadVersion(iter(reqs))
        return err.value.code(), err.value.details()

    ok = registry_pb2.ArtifactFile(path="w.safetensors", sha256=hashlib.sha256(b"abc").hexdigest(), size_bytes=3)
    H = registry_pb2.UploadHeader  # noqa: N806
    assert upload(H(model="m", files=[ok]))[0] == grpc.StatusCode.NOT_FOUND  # no such model, not creating
    code, msg = upload(H(model="m", create_model=True, files=[
        registry_pb2.ArtifactFile(path="pytorch_model.bin", sha256=ok.sha256, size_bytes=3)]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "pickle" in msg
    code, msg = upload(H(model="m", create_model=True, files=[
        registry_pb2.ArtifactFile(path="../escape", sha256=ok.sha256, size_bytes=3)]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "relative" in msg
    assert upload(H(model="a/b", create_model=True, files=[ok]))[0] == grpc.StatusCode.INVALID_ARGUMENT
    code, msg = upload(H(model="m", create_model=True, files=[ok]), [("w.safetensors", b"ab")])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "ended early" in msg
    code, msg = upload(H(model="m", create_model=True, files=[ok]), [("other", b"abc")])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "manifest order" in msg
    monkeypatch.setenv("TUNELOOP_REGISTRY_MAX_ARTIFACT_BYTES", "100")
    from tuneloop.client import Client

    small = server_factory()
    big = registry_pb2.ArtifactFile(path="w.safetensors", sha256=ok.sha256, size_bytes=101)
    with Client(f"127.0.0.1:{small.port}") as c, pytest.raises(grpc.RpcError) as err:
        c.registry.stub.UploadVersion(iter([registry_pb2.UploadVersionRequest(
            header=H(model="m", create_model=True, files=[big]))]))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_lookup_codes(client, tmp_path):
    client.registry.create_model("m")
    with pytest.raises(grpc.RpcError) as err:
        client.registry.create_model("m")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    for ref in ("nope@1", "m@3", "m:champion"):
        with pytest.raises(grpc.RpcError) as err:
            client.registry.get_version(ref)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND, ref
    with pytest.raises(grpc.RpcError) as err:
        client.registry.set_aliases("m", {"champion": 4})
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        client.registry.search(order_by="size")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        client.registry.search(metrics=[registry_pb2.MetricFilter(name="f1", op="~", value=1)])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
