"""The registry store on SQLite and the real PostgreSQL: every field round-trips, numbers
never collide under parallel writers, alias moves are atomic and audited, events are ordered."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tuneloop.core.db import open_database
from tuneloop.errors import AlreadyExists, NotFound
from tuneloop.registry.records import FileEntry, Kind, Lineage, MetricFilter, NewVersion, Query, Ref
from tuneloop.registry.store import RegistryStore

SHA = "a" * 64


def _new(model: str, **kw) -> NewVersion:
    base = dict(model=model, kind=Kind.FINE_TUNED, sha256=SHA,
                files=(FileEntry("config.json", "b" * 64, 10), FileEntry("model.safetensors", "c" * 64, 1000)))
    return NewVersion(**{**base, **kw})


@pytest.fixture
def store(engine):
    return RegistryStore(engine)


def test_every_field_round_trips(store, db_url):
    store.create_model("clf", "a classifier", actor="ann")
    new = _new("clf", tags={"team": "nlp", "stage": "dev"}, metrics={"val_f1": 0.91, "loss": 0.2},
               lineage=Lineage("minilm@1", "bbc@d32d7094c31a", '{"lr": 2e-05}', "job-7", 0), description="first")
    created = store.create_version(new, actor="ann")
    store.set_aliases("clf", {"champion": 1, "candidate": 1}, actor="ann", reason="first")
    again = RegistryStore(open_database(db_url)).get_version(Ref("clf", 1))
    assert (again.model, again.version, again.kind, again.sha256) == ("clf", 1, Kind.FINE_TUNED, SHA)
    assert again.files == new.files and again.size_bytes == 1010
    assert again.tags == {"team": "nlp", "stage": "dev"}
    assert again.metrics == {"val_f1": 0.91, "loss": 0.2}
    assert again.lineage == new.lineage and again.description == "first"
    assert again.aliases == ("candidate", "champion")
    assert again.created_at == created.created_at
    assert again.created_at.tzinfo is not None
    # aliases come back in every path that returns a version: get, search by alias, search by tag
    assert store.get_version(Ref("clf", alias="champion")).aliases == ("candidate", "champion")
    assert store.search(Query(alias="champion"), limit=10, offset=0)[0] == again
    assert store.search(Query(tags={"team": "nlp"}), limit=10, offset=0)[0] == again
    model = store.get_model("clf")
    assert model.aliases == {"candidate": 1, "champion": 1} and model.latest_version == 1
    assert model.description == "a classifier"


def test_parallel_creates_never_share_a_number(store):
    store.create_model("m")
    barrier = threading.Barrier(8)

    def create(_):
        barrier.wait(timeout=30)
        return [store.create_version(_new("m")).version for _ in range(5)]

    with ThreadPoolExecutor(8) as pool:
        numbers = [n for batch in pool.map(create, range(8)) for n in batch]
    assert sorted(numbers) == list(range(1, 41))


def test_alias_moves_are_atomic_and_audited(store):
    store.create_model("m")
    for _ in range(3):
        store.create_version(_new("m"))
    store.set_aliases("m", {"champion": 1})
    store.set_aliases("m", {"champion": 2, "previous-champion": 1}, actor="controller", reason="better")
    with pytest.raises(NotFound, match="no version 9"):
        store.set_aliases("m", {"champion": 3, "previous-champion": 9})
    assert store.get_model("m").aliases == {"champion": 2, "previous-champion": 1}  # nothing half-moved
    history = [(c.alias, c.from_version, c.to_version, c.actor) for c in store.alias_history("m")]
    assert history == [("champion", 0, 1, ""), ("champion", 1, 2, "controller"), ("previous-champion", 0, 1, "controller")]
    store.delete_alias("m", "previous-champion")
    assert store.alias_history("m", "previous-champion")[-1].to_version == 0
    with pytest.raises(NotFound):
        store.delete_alias("m", "previous-champion")


def test_search_filters_and_orders(store):
    store.create_model("a")
    store.create_model("b")
    store.create_version(_new("a", kind=Kind.BASE, metrics={"f1": 0.5}))
    store.create_version(_new("a", metrics={"f1": 0.9}, tags={"env": "prod"}, lineage=Lineage(dataset="bbc@111")))
    store.create_version(_new("b", metrics={"f1": 0.7}, lineage=Lineage(dataset="bbc@222")))
    refs = lambda q: [v.ref for v in store.search(q, limit=10, offset=0)]  # noqa: E731
    assert refs(Query(model="a")) == ["a@2", "a@1"]
    assert refs(Query(kind=Kind.BASE)) == ["a@1"]
    assert refs(Query(dataset="bbc")) == ["b@1", "a@2"]
    assert refs(Query(dataset="bbc@111")) == ["a@2"]
    assert refs(Query(metrics=(MetricFilter("f1", ">=", 0.7),), order_by="metric:f1")) == ["a@2", "b@1"]
    assert refs(Query(order_by="metric:f1", ascending=True)) == ["a@1", "b@1", "a@2"]
    assert refs(Query(tags={"env": "prod"}, model="b")) == []
    assert [v.ref for v in store.search(Query(), limit=2, offset=2)] == ["a@1"]


def test_events_are_ordered_and_resumable(store):
    store.create_model("m")
    store.create_version(_new("m"))
    store.set_aliases("m", {"champion": 1})
    events = store.events_after(0)
    assert [e.type for e in events] == ["model_created", "version_created", "alias_moved"]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert store.events_after(events[0].id) == events[1:]
    assert store.events_after(0, model="other") == []


def test_errors(store):
    store.create_model("m")
    with pytest.raises(AlreadyExists):
        store.create_model("m")
    with pytest.raises(NotFound, match="model 'x' not found"):
        store.get_version(Ref("x"))
    with pytest.raises(NotFound, match="no versions yet"):
        store.get_version(Ref("m"))
    with pytest.raises(NotFound, match="no alias 'champion'"):
        store.get_version(Ref("m", alias="champion"))
    with pytest.raises(NotFound):
        store.create_version(_new("x"))
