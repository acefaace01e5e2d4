"""The registry as a running service: parallel clients on SQLite and PostgreSQL, metrics."""

from __future__ import annotations

import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from tuneloop.client import Client
from tuneloop.errors import InvalidArgument, NotFound, Unavailable


def test_parallel_clients_get_distinct_version_numbers(db_url, server_factory, tmp_path):
    # db_url first: fixtures tear down in reverse, so the server stops before its schema is dropped
    server = server_factory(database_url=db_url)
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.safetensors").write_bytes(b"weights" * 1000)
    barrier = threading.Barrier(6)

    def upload(i: int) -> list[int]:
        with Client(f"127.0.0.1:{server.port}", timeout=60) as c:
            barrier.wait(timeout=30)
            return [c.registry.upload_dir(src, model="shared", tags={"client": str(i)}).version for _ in range(3)]

    with ThreadPoolExecutor(6) as pool:
        numbers = sorted(n for batch in pool.map(upload, range(6)) for n in batch)
    assert numbers == list(range(1, 19))
    with Client(f"127.0.0.1:{server.port}") as c:
        assert c.registry.get_model("shared").latest_version == 18
        assert len(c.registry.search(model="shared")) == 18


def test_registry_metrics(server_factory, tmp_path):
    server = server_factory(metrics_port=0)

    def scrape() -> dict[str, float]:
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                if line.startswith("tuneloop_registry_")}

    before = scrape()
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.safetensors").write_bytes(b"x" * 12345)
    with Client(f"127.0.0.1:{server.port}") as c:
        c.registry.upload_dir(src, model="m")
        c.registry.download("m@1", tmp_path / "out")
        c.registry.set_aliases("m", {"champion": 1, "candidate": 1})
    after = scrape()

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta('tuneloop_registry_versions_created_total{kind="fine-tuned"}') == 1
    assert delta("tuneloop_registry_bytes_uploaded_total") == 12345
    assert delta("tuneloop_registry_bytes_downloaded_total") == 12345
    assert delta("tuneloop_registry_alias_moves_total") == 2


def test_the_client_raises_the_domain_error_of_each_status(client, tmp_path):
    """One mapping, in the client: NOT_FOUND is NotFound, INVALID_ARGUMENT InvalidArgument, and
    each is still a grpc.RpcError with the server's code and message; a bad ref is refused
    before any call, as InvalidArgument (also a ValueError, as before)."""
    with pytest.raises(NotFound) as err:
        client.registry.get_model("nope")
    assert isinstance(err.value, grpc.RpcError) and err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in err.value.details() and str(err.value) == err.value.details()
    with pytest.raises(InvalidArgument):
        client.registry.set_aliases("bad name!", {"champion": 1})
    with pytest.raises(InvalidArgument, match="must be a number") as bad_ref:
        client.registry.get_version("m@latest")
    assert isinstance(bad_ref.value, ValueError)
    with pytest.raises(NotFound):  # a stream's error too
        list(client.trainer.watch("job-nope", follow=False))
    with Client("127.0.0.1:1", timeout=2) as nobody, pytest.raises(Unavailable):
        nobody.registry.get_model("m")
