"""The registry's SQL store: models, versions, tags, metrics, aliases, history and events.

Every change writes its event row in the same transaction, so the event stream and
the state never disagree. Version numbers come from an atomic `UPDATE models SET
next_version = next_version + 1 ... RETURNING`, which the database serializes per model:
parallel uploads never share a number. On PostgreSQL every writing transaction first
takes one advisory lock, so event ids commit in id order and a subscriber resuming
after id N can never miss a smaller id that committed later.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa

from tuneloop.core.db import write_transaction
from tuneloop.core.schema import (
    alias_history,
    aliases,
    model_versions,
    models,
    registry_events,
    version_metrics,
    version_tags,
)
from tuneloop.errors import AlreadyExists, InvalidArgument, NotFound
from tuneloop.registry.records import (
    AliasChange,
    Event,
    FileEntry,
    Kind,
    Lineage,
    ModelRecord,
    NewVersion,
    Query,
    Ref,
    VersionRecord,
)

_EVENT_LOCK = 7_424_242
_OPS = {">": "__gt__", ">=": "__ge__", "<": "__lt__", "<=": "__le__", "==": "__eq__"}
mv = model_versions


class RegistryStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    # -- helpers -----------------------------------------------------------------------
    def _write(self):
        return write_transaction(self.engine)

    def _lock_events(self, conn: sa.Connection) -> None:
        if self.postgres:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _EVENT_LOCK})

    def _event(self, conn: sa.Connection, type_: str, model: str, *, version: int = 0, alias: str = "",
               from_version: int = 0, actor: str = "") -> None:
        conn.execute(sa.insert(registry_events).values(
            type=type_, model=model, version=version, alias=alias, from_version=from_version, actor=actor,
            at=datetime.now(UTC)))

    def _version_row(self, conn: sa.Connection, ref: Ref) -> sa.Row:
        query = sa.select(mv).where(mv.c.model == ref.model)
        if ref.alias:
            target = sa.select(aliases.c.version).where(aliases.c.model == ref.model, aliases.c.alias == ref.alias)
            version = conn.execute(target).scalar()
            if version is None:
                self._require_model(conn, ref.model)
                raise NotFound(f"model {ref.model!r} has no alias {ref.alias!r}")
            query = query.where(mv.c.version == version)
        elif ref.version:
            query = query.where(mv.c.version == ref.version)
        else:
            query = query.order_by(mv.c.version.desc()).limit(1)
        row = conn.execute(query).first()
        if row is None:
            self._require_model(conn, ref.model)
            raise NotFound(f"model {ref.model!r} has no version {ref.version}" if ref.version
                           else f"model {ref.model!r} has no versions yet")
        return row

    def _require_model(self, conn: sa.Connection, name: str) -> None:
        if conn.execute(sa.select(models.c.name).where(models.c.name == name)).first() is None:
            raise NotFound(f"model {name!r} not found")

    def _hydrate(self, conn: sa.Connection, rows: list[sa.Row]) -> list[VersionRecord]:
        """Turn version rows into records with their tags, metrics and aliases (2 queries a page)."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        metrics: dict[int, dict[str, float]] = defaultdict(dict)
        both = sa.union_all(  # tags and metrics in one round trip
            sa.select(version_tags.c.version_id, version_tags.c.key, version_tags.c.value,
                      sa.cast(sa.null(), sa.Float).label("number")).where(version_tags.c.version_id.in_(ids)),
            sa.select(version_metrics.c.version_id, version_metrics.c.name, sa.cast(sa.null(), sa.String),
                      version_metrics.c.value).where(version_metrics.c.version_id.in_(ids)),
        )
        for version_id, key, text, number in conn.execute(both):
            if number is None:
                tags[version_id][key] = text
            else:
                metrics[version_id][key] = number
        names = {r.model for r in rows}
        held: dict[tuple[str, int], list[str]] = defaultdict(list)
        for a in conn.execute(sa.select(aliases).where(aliases.c.model.in_(names)).order_by(aliases.c.alias)):
            held[(a.model, a.version)].append(a.alias)
        return [self._record(r, tags[r.id], metrics[r.id], held[(r.model, r.version)]) for r in rows]

    @staticmethod
    def _record(row: sa.Row, tags: dict, metrics: dict, alias_names: list[str]) -> VersionRecord:
        files = row.files
        return VersionRecord(
            model=row.model, version=row.version, kind=Kind(row.kind), sha256=row.sha256, size_bytes=row.size_bytes,
            files=tuple(FileEntry(**f) for f in files), tags=dict(tags), metrics=dict(metrics),
            aliases=tuple(alias_names),
            lineage=Lineage(row.base_model, row.dataset, row.config_json, row.job, row.parent_version),
            description=row.description, created_at=row.created_at,
        )

    # -- models ------------------------------------------------------------------------
    def create_model(self, name: str, description: str = "", *, actor: str = "") -> ModelRecord:
        try:
            with self._write() as conn:
                self._lock_events(conn)
                conn.execute(sa.insert(models).values(name=name, description=description, next_version=1,
                                                      created_at=datetime.now(UTC)))
                self._event(conn, "model_created", name, actor=actor)
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"model {name!r} already exists") from exc
        return self.get_model(name)

    def get_model(self, name: str) -> ModelRecord:
        with self.engine.connect() as conn:
            found = self._models(conn, sa.select(models).where(models.c.name == name))
        if not found:
            raise NotFound(f"model {name!r} not found")
        return found[0]

    def referenced_blobs(self) -> set[str]:
        """The sha256 of every file some version holds (what garbage collection must keep)."""
        with self.engine.connect() as conn:
            return {f["sha256"] for (files,) in conn.execute(sa.select(mv.c.files)) for f in files}

    def list_models(self, *, limit: int, offset: int) -> list[ModelRecord]:
        with self.engine.connect() as conn:
            return self._models(conn, sa.select(models).order_by(models.c.name).limit(limit).offset(offset))

    def _models(self, conn: sa.Connection, query: sa.Select) -> list[ModelRecord]:
        rows = conn.execute(query).all()
        names = [r.name for r in rows]
        held: dict[str, dict[str, int]] = defaultdict(dict)
        for a in conn.execute(sa.select(aliases).where(aliases.c.model.in_(names)).order_by(aliases.c.alias)):
            held[a.model][a.alias] = a.version
        latest = dict(conn.execute(
            sa.select(mv.c.model, sa.func.max(mv.c.version)).where(mv.c.model.in_(names)).group_by(mv.c.model)).all())
        return [ModelRecord(r.name, r.description, latest.get(r.name, 0), held[r.name], r.created_at)
                for r in rows]

    # -- versions ----------------------------------------------------------------------
    def create_version(self, new: NewVersion, *, actor: str = "") -> VersionRecord:
        with self._write() as conn:
            self._lock_events(conn)
            bump = (sa.update(models).where(models.c.name == new.model)
                    .values(next_version=models.c.next_version + 1).returning(models.c.next_version))
            number = conn.execute(bump).scalar()
            if number is None:
                raise NotFound(f"model {new.model!r} not found")
            version = number - 1
            lin = new.lineage
            version_id = conn.execute(sa.insert(mv).values(
                model=new.model, version=version, kind=new.kind.value, sha256=new.sha256,
                size_bytes=new.size_bytes, files=[f.__dict__ for f in new.files], description=new.description,
                base_model=lin.base_model, dataset=lin.dataset, config_json=lin.config_json, job=lin.job,
                parent_version=lin.parent_version, created_at=datetime.now(UTC),
            ).returning(mv.c.id)).scalar_one()
            if new.tags:
                conn.execute(sa.insert(version_tags), [{"version_id": version_id, "key": k, "value": v}
                                                       for k, v in new.tags.items()])
            if new.metrics:
                conn.execute(sa.insert(version_metrics), [{"version_id": version_id, "name": k, "value": v}
                                                          for k, v in new.metrics.items()])
            self._event(conn, "version_created", new.model, version=version, actor=actor)
        return self.get_version(Ref(new.model, version))

    def get_version(self, ref: Ref) -> VersionRecord:
        with self.engine.connect() as conn:
            return self._hydrate(conn, [self._version_row(conn, ref)])[0]

    def search(self, query: Query, *, limit: int, offset: int) -> list[VersionRecord]:
        stmt = sa.select(mv)
        if query.model:
            stmt = stmt.where(mv.c.model == query.model)
        for i, (key, value) in enumerate(sorted(query.tags.items())):
            # a join (not EXISTS) lets the planner start from the (key, value) index
            t = version_tags.alias(f"tag{i}")
            stmt = stmt.join(t, sa.and_(t.c.version_id == mv.c.id, t.c.key == key, t.c.value == value))
        if query.alias:
            stmt = stmt.join(aliases, sa.and_(aliases.c.model == mv.c.model, aliases.c.version == mv.c.version,
                                              aliases.c.alias == query.alias))
        if query.kind is not None:
            stmt = stmt.where(mv.c.kind == query.kind.value)
        if query.dataset:
            exact = mv.c.dataset == query.dataset
            stmt = stmt.where(exact if "@" in query.dataset
                              else sa.or_(exact, mv.c.dataset.startswith(f"{query.dataset}@", autoescape=True)))
        for i, f in enumerate(query.metrics):
            if f.op not in _OPS:
                raise InvalidArgument(f"metric filter op {f.op!r} must be one of {', '.join(_OPS)}")
            m = version_metrics.alias(f"metric{i}")
            stmt = stmt.join(m, sa.and_(m.c.version_id == mv.c.id, m.c.name == f.name,
                                        getattr(m.c.value, _OPS[f.op])(f.value)))
        stmt = self._order(stmt, query).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return self._hydrate(conn, conn.execute(stmt).all())

    @staticmethod
    def _order(stmt: sa.Select, query: Query) -> sa.Select:
        direction = (lambda c: c.asc()) if query.ascending else (lambda c: c.desc())
        if query.order_by in ("", "created_at"):
            return stmt.order_by(direction(mv.c.created_at), direction(mv.c.id))
        if query.order_by == "version":
            return stmt.order_by(direction(mv.c.version), direction(mv.c.id))
        if query.order_by.startswith("metric:") and len(query.order_by) > 7:
            om = version_metrics.alias("order_metric")
            stmt = stmt.outerjoin(om, sa.and_(om.c.version_id == mv.c.id, om.c.name == query.order_by[7:]))
            return stmt.order_by(om.c.value.is_(None), direction(om.c.value), direction(mv.c.id))
        raise InvalidArgument(f"order_by {query.order_by!r}: use created_at, version or metric:<name>")

    def set_tags(self, ref: Ref, set_: dict[str, str], remove: list[str], *, actor: str = "") -> VersionRecord:
        with self._write() as conn:
            self._lock_events(conn)
            row = self._version_row(conn, ref)
            keys = list(set_) + list(remove)
            if keys:
                conn.execute(sa.delete(version_tags).where(version_tags.c.version_id == row.id,
                                                           version_tags.c.key.in_(keys)))
            if set_:
                conn.execute(sa.insert(version_tags), [{"version_id": row.id, "key": k, "value": v}
                                                       for k, v in set_.items()])
            self._event(conn, "tags_changed", row.model, version=row.version, actor=actor)
        return self.get_version(Ref(row.model, row.version))

    def set_metrics(self, ref: Ref, values: dict[str, float], *, actor: str = "") -> VersionRecord:
        with self._write() as conn:
            self._lock_events(conn)
            row = self._version_row(conn, ref)
            conn.execute(sa.delete(version_metrics).where(version_metrics.c.version_id == row.id,
                                                          version_metrics.c.name.in_(list(values))))
            conn.execute(sa.insert(version_metrics), [{"version_id": row.id, "name": k, "value": v}
                                                      for k, v in values.items()])
            self._event(conn, "metrics_changed", row.model, version=row.version, actor=actor)
        return self.get_version(Ref(row.model, row.version))

    # -- aliases -----------------------------------------------------------------------
    def set_aliases(self, model: str, targets: dict[str, int], *, actor: str = "", reason: str = "") -> int:
        """Point every alias in `targets` at its version in one transaction; returns moves made."""
        now = datetime.now(UTC)
        moved = 0
        with self._write() as conn:
            self._lock_events(conn)
            self._require_model(conn, model)
            current = dict(conn.execute(sa.select(aliases.c.alias, aliases.c.version)
                                        .where(aliases.c.model == model)).all())
            existing = set(conn.execute(sa.select(mv.c.version).where(
                mv.c.model == model, mv.c.version.in_(list(targets.values())))).scalars())
            missing = sorted({v for v in targets.values() if v not in existing})
            if missing:
                raise NotFound(f"model {model!r} has no version {', '.join(map(str, missing))}")
            for alias, version in sorted(targets.items()):
                before = current.get(alias, 0)
                if before == version:
                    continue
                if before:
                    conn.execute(sa.update(aliases).where(aliases.c.model == model, aliases.c.alias == alias)
                                 .values(version=version))
                else:
                    conn.execute(sa.insert(aliases).values(model=model, alias=alias, version=version))
                conn.execute(sa.insert(alias_history).values(model=model, alias=alias, from_version=before,
                                                             to_version=version, actor=actor, reason=reason, at=now))
                self._event(conn, "alias_moved", model, version=version, alias=alias, from_version=before,
                            actor=actor)
                moved += 1
        return moved

    def delete_alias(self, model: str, alias: str, *, actor: str = "", reason: str = "") -> None:
        with self._write() as conn:
            self._lock_events(conn)
            before = conn.execute(sa.select(aliases.c.version).where(aliases.c.model == model,
                                                                     aliases.c.alias == alias)).scalar()
            if before is None:
                self._require_model(conn, model)
                raise NotFound(f"model {model!r} has no alias {alias!r}")
            conn.execute(sa.delete(aliases).where(aliases.c.model == model, aliases.c.alias == alias))
            conn.execute(sa.insert(alias_history).values(model=model, alias=alias, from_version=before, to_version=0,
                                                         actor=actor, reason=reason, at=datetime.now(UTC)))
            self._event(conn, "alias_deleted", model, alias=alias, from_version=before, actor=actor)

    def alias_history(self, model: str, alias: str = "") -> list[AliasChange]:
        query = sa.select(alias_history).where(alias_history.c.model == model).order_by(alias_history.c.id)
        if alias:
            query = query.where(alias_history.c.alias == alias)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            if not rows:
                self._require_model(conn, model)
        return [AliasChange(r.model, r.alias, r.from_version, r.to_version, r.actor, r.reason, r.at)
                for r in rows]

    # -- events ------------------------------------------------------------------------
    def events_after(self, after_id: int, *, model: str = "", limit: int = 500) -> list[Event]:
        query = sa.select(registry_events).where(registry_events.c.id > after_id)
        if model:
            query = query.where(registry_events.c.model == model)
        query = query.order_by(registry_events.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [Event(r.id, r.type, r.model, r.version, r.alias, r.from_version, r.actor, r.at)
                    for r in conn.execute(query)]
