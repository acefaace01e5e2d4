"""WatchEvents over gRPC: a subscriber that disconnects and resumes from its cursor gets
every event exactly once; a following subscriber sees new events as they commit."""

from __future__ import annotations

import queue
import threading

import grpc


def _changes(client, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        client.registry.set_aliases("m", {f"a{i}": 1})


def test_resume_from_cursor_gets_every_event_once(client, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "w.safetensors").write_bytes(b"weights")
    client.registry.upload_dir(tmp_path / "src", model="m")  # model_created, version_created
    _changes(client, 5)
    seen = []
    stream = client.registry.watch_events(0, follow=True, timeout=30)
    for msg in stream:
        seen.append(msg.event)
        if len(seen) == 4:
            stream.cancel()  # the subscriber goes away part-way
            break
    cursor = seen[-1].id
    _changes(client, 3, start=5)  # events while it is away
    rest = list(client.registry.watch_events(cursor, follow=False, timeout=30))
    everything = seen + [m.event for m in rest]
    assert [e.id for e in everything] == sorted({e.id for e in everything})  # in order, no duplicates
    assert len(everything) == 2 + 5 + 3
    assert [e.type for e in everything][:3] == ["model_created", "version_created", "alias_moved"]
    assert {e.alias for e in everything if e.type == "alias_moved"} == {f"a{i}" for i in range(8)}


def test_follow_delivers_new_events_as_they_happen(client, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "w.safetensors").write_bytes(b"weights")
    client.registry.upload_dir(tmp_path / "src", model="m")
    start = list(client.registry.watch_events(0))[-1].event.id
    got: queue.Queue = queue.Queue()
    stream = client.registry.watch_events(start, model="m", follow=True, timeout=60)

    def consume():
        try:
            for msg in stream:
                got.put(msg.event)
        except grpc.RpcError:
            pass  # cancelled below

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    client.registry.set_aliases("m", {"champion": 1}, actor="ci")
    event = got.get(timeout=10)
    assert (event.type, event.alias, event.version, event.actor) == ("alias_moved", "champion", 1, "ci")
    client.registry.set_tags("m@1", {"stage": "prod"})
    assert got.get(timeout=10).type == "tags_changed"
    stream.cancel()
    thread.join(timeout=10)
    assert not thread.is_alive()
