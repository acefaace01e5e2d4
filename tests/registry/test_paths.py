"""Upload paths every client can download, and pickle refused by what a file holds, not only
by its name (issue 13, defect 7). Each case was accepted before; `models download` then failed
or crashed, or pickle weights slipped past the check."""

from __future__ import annotations

import io
import pickle

import grpc
import pytest

from tuneloop.client.registry import Source


def _source(path: str, data: bytes = b"{}") -> Source:
    return Source(path, len(data), lambda: io.BytesIO(data))


@pytest.mark.parametrize("paths, message", [
    (["a\x00b"], "control character"),
    (["x", "x/y"], "both a file and a folder"),
    (["d/" + "c" * 300], "longer than 255"),
    (["evil\u202etxt.json"], "bidirectional"),
    (["w.bin "], "space"),
    ([" lead.json"], "space"),
])
def test_paths_no_client_can_download_are_refused(client, paths, message):
    with pytest.raises(grpc.RpcError) as err:
        client.registry.upload_files([_source(p) for p in paths], model="m")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details(), err.value.details()
    assert client.registry.search(model="m") == []


@pytest.mark.parametrize("name, data", [
    ("weights", pickle.dumps({"w": [1.0, 2.0]}, protocol=4)),
    ("w.bin/x", pickle.dumps([1], protocol=2)),
    ("model.data", b"PK\x03\x04" + b"\x00" * 60),  # torch.save's zip: its data.pkl unpickles
])
def test_pickle_is_refused_by_its_content_whatever_its_name(client, name, data):
    with pytest.raises(grpc.RpcError) as err:
        client.registry.upload_files([_source("config.json"), _source(name, data)], model="m")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pickle" in err.value.details() and name in err.value.details()
    assert client.registry.search(model="m") == []
    version = client.registry.upload_files([_source(name, data)], model="m", allow_pickle=True)
    assert version.version == 1  # allowed explicitly, it is kept


def test_ordinary_model_files_still_pass(client):
    version = client.registry.upload_files([_source("config.json"), _source("tokenizer/vocab.txt", b"[PAD]\nhello\n"),
                                            _source("model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")],
                                           model="ok")
    assert version.version == 1
