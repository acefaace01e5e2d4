"""Benchmark: registry transfer throughput and search latency, each against a named baseline.

1. Transfer: a 200 MB artifact uploaded and downloaded through a registry server running
   in its own process (`tuneloop serve registry`), sha256-verified on both sides, against
   the baseline of a plain local file copy (shutil.copyfile) of the same file. Goal: >= 0.5x.
2. Search: p50/p95 latency of SearchVersions over gRPC, by alias and by tag, with 10,000
   versions across 100 models, on SQLite and on PostgreSQL (127.0.0.1:5432). Goal p95 <= 20 ms.

    python bench/registry.py [--size-mb 200] [--versions 10000] [--queries 200] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.core.db import open_database
from tuneloop.core.schema import aliases, model_versions, models, version_metrics, version_tags
from tuneloop.core.settings import ServerSettings

PG_URL = os.environ.get("TUNELOOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(client: Client, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("registry server exited")
        try:
            client.registry.list_models()
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise TimeoutError("registry server did not start within 60 s")


def transfer(size_mb: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "src"
        src.mkdir()
        with (src / "model.safetensors").open("wb") as fh:
            for _ in range(size_mb):
                fh.write(os.urandom(1 << 20))
        size = size_mb * (1 << 20)
        copy_s = min(_timed(shutil.copyfile, src / "model.safetensors", tmp / f"copy{i}") for i in range(repeat))
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "tuneloop.cli", "serve", "registry", "--data-dir",
                                 str(tmp / "state"), "--address", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Client(f"127.0.0.1:{port}") as client:
                _wait_ready(client, proc)
                up_s = min(_timed(client.registry.upload_dir, src, model=f"m{i}") for i in range(repeat))
                down_s = min(_timed(client.registry.download, f"m{i}@1", tmp / f"out{i}") for i in range(repeat))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    mbps = lambda s: size / s / 1e6  # noqa: E731
    print(f"transfer of {size_mb} MB (best of {repeat}):")
    print(f"  baseline local copy   {copy_s:6.3f}s  {mbps(copy_s):8.0f} MB/s")
    print(f"  upload (sha256-verified)  {up_s:6.3f}s  {mbps(up_s):8.0f} MB/s  {copy_s / up_s:.2f}x of copy")
    print(f"  download (sha256-verified){down_s:6.3f}s  {mbps(down_s):8.0f} MB/s  {copy_s / down_s:.2f}x of copy")
    print(f"  upload+download vs two copies: {2 * copy_s / (up_s + down_s):.2f}x  (goal >= 0.5x)")


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def seed(engine: sa.Engine, n_versions: int, n_models: int = 100) -> None:
    """Bulk-insert n_versions versions across n_models models (tags, metrics, aliases)."""
    now = datetime.now(UTC)
    per_model = n_versions // n_models
    with engine.begin() as conn:
        conn.execute(sa.insert(models), [{"name": f"model-{m:03d}", "description": "", "next_version": per_model + 1,
                                          "created_at": now} for m in range(n_models)])
        rows = [{"model": f"model-{m:03d}", "version": v, "kind": "fine-tuned", "sha256": "0" * 64,
                 "size_bytes": 1000, "files": [{"path": "model.safetensors", "sha256": "0" * 64, "size_bytes": 1000}],
                 "description": "", "base_model": "minilm@1", "dataset": f"bbc@{v:012d}", "config_json": "{}",
                 "job": "", "parent_version": 0, "created_at": now - timedelta(seconds=m * per_model + v)}
                for m in range(n_models) for v in range(1, per_model + 1)]
        conn.execute(sa.insert(model_versions), rows)
        ids = conn.execute(sa.select(model_versions.c.id, model_versions.c.model, model_versions.c.version)).all()
        conn.execute(sa.insert(version_tags), [{"version_id": i, "key": "team", "value": f"team-{n % 10}"}
                                               for n, (i, _, _) in enumerate(ids)])
        conn.execute(sa.insert(version_tags), [{"version_id": i, "key": "run", "value": f"run-{n}"}
                                               for n, (i, _, _) in enumerate(ids)])
        conn.execute(sa.insert(version_metrics), [{"version_id": i, "name": "val_f1_macro", "value": (n % 997) / 997}
                                                  for n, (i, _, _) in enumerate(ids)])
        conn.execute(sa.insert(aliases), [{"model": f"model-{m:03d}", "alias": alias, "version": version}
                                          for m in range(n_models)
                                          for alias, version in (("champion", per_model),
                                                                 ("previous-champion", per_model - 1))])


def search_latency(label: str, url: str, n_versions: int, queries: int) -> None:
    engine = open_database(url)
    seed(engine, n_versions)
    engine.dispose()
    with tempfile.TemporaryDirectory() as tmp:
        server = start(ServerSettings(data_dir=Path(tmp), database_url=url, address="127.0.0.1:0"), ["registry"])
        try:
            with Client(f"127.0.0.1:{server.port}") as client:
                cases = {
                    "alias champion, all models (100 hits)": dict(alias="champion", page_size=100),
                    "alias champion of one model (1 hit)": dict(model="model-042", alias="champion"),
                    "tag run=<one run> (1 hit)": dict(tags={"run": "run-4242"}),
                    "tag team=team-3, first page (50 of 1000)": dict(tags={"team": "team-3"}, page_size=50),
                    "tag team=team-3 + metric >= 0.9 (page of 50)": dict(
                        tags={"team": "team-3"}, page_size=50,
                        metrics=[{"name": "val_f1_macro", "op": ">=", "value": 0.9}]),
                }
                print(f"search latency on {label}, {n_versions:,} versions across 100 models, {queries} queries each:")
                for name, case in cases.items():
                    page_size = case.pop("page_size", 0)
                    for _ in range(10):  # warm-up
                        client.registry.search(limit=page_size or 100, page_size=page_size, **case)
                    times = []
                    for _ in range(queries):
                        t0 = time.perf_counter()
                        found = client.registry.search(limit=page_size or 100, page_size=page_size, **case)
                        times.append((time.perf_counter() - t0) * 1000)
                    times.sort()
                    p95 = times[int(len(times) * 0.95) - 1]
                    print(f"  {name:46s} p50 {statistics.median(times):6.2f} ms  p95 {p95:6.2f} ms  "
                          f"({len(found)} hits)  {'ok' if p95 <= 20 else 'OVER the 20 ms goal'}")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    transfer(args.size_mb, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        search_latency("SQLite", f"sqlite:///{tmp}/bench.db", args.versions, args.queries)
    if not args.skip_postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            search_latency("PostgreSQL", f"{PG_URL}?options=-csearch_path%3D{schema}", args.versions, args.queries)
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
