"""Long input at the registry's edge (issue 13, defect 6), on SQLite and the real PostgreSQL
(whose columns have limits SQLite ignores): refused as INVALID_ARGUMENT naming the field,
never INTERNAL, never silently stored; and no message echoes input without bound (a
20,000-character name ended in 'received metadata size exceeds hard limit')."""

from __future__ import annotations

import grpc
import pytest

from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.core.settings import ServerSettings
from tuneloop.v1 import registry_pb2


@pytest.fixture
def client(db_url, tmp_path):
    server = start(ServerSettings(data_dir=tmp_path / "state", database_url=db_url, address="127.0.0.1:0",
                                  shutdown_grace_seconds=1), ["registry"])
    with Client(f"127.0.0.1:{server.port}", timeout=30) as c:
        yield c
    server.stop()


def _refused(call) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert len(err.value.details()) < 1000
    return err.value.details()


def test_a_20000_character_name_gets_a_short_answer(client):
    assert "model name" in _refused(lambda: client.registry.get_version("a" * 20_000))
    assert "model name" in _refused(lambda: client.registry.get_model("b" * 20_000))


@pytest.mark.parametrize("field, lineage", [
    ("lineage.base_model", registry_pb2.Lineage(base_model="m" * 300)),
    ("lineage.dataset", registry_pb2.Lineage(dataset="d" * 300)),
    ("lineage.job", registry_pb2.Lineage(job="j" * 300)),
])
def test_overlong_lineage_fields(client, tmp_path, field, lineage):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert field in _refused(lambda: client.registry.upload_dir(tmp_path / "m", model="m", lineage=lineage))
    assert client.registry.search(model="m") == []


def test_overlong_tag_values_and_actors(client, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert "tag" in _refused(lambda: client.registry.upload_dir(tmp_path / "m", model="m", tags={"k": "v" * 600}))
    client.registry.upload_dir(tmp_path / "m", model="m")
    assert "tag" in _refused(lambda: client.registry.set_tags("m@1", {"k": "v" * 600}))
    stub = client.registry.stub
    for actor in ({"actor": "a" * 300}, {}):  # in the request, or as x-tuneloop-actor metadata
        metadata = [] if actor else [("x-tuneloop-actor", "a" * 300)]
        with pytest.raises(grpc.RpcError) as err:
            stub.SetAliases(registry_pb2.SetAliasesRequest(model="m", aliases={"champion": 1}, **actor),
                            metadata=metadata, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "actor" in err.value.details()
    assert client.registry.get_model("m").aliases == {}
