"""Benchmark: registry transfer throughput and search latency, each against a named baseline.

1. Transfer: a 200 MB artifact uploaded and downloaded through a registry server running
   in its own process (`tuneloop serve registry`), sha256-verified on both sides, against
   the baseline of a plain local file copy (shutil.copyfile) of the same file. Goal: >= 0.5x.
2. Search: p50/p95 latency of SearchVersions over gRPC, by alias and by tag, with 10,000
   versions across 100 models, on SQLite and on PostgreSQL (127.0.0.1:5432). Goal p95 <= 20 ms.
3. With --mlflow-python (the python of a separate venv holding MLflow: never a dependency of
   tuneloop), the same against MLflow, the tool a team would otherwise run: its tracking server
   in its own process on loopback, a SQLite backend and `--serve-artifacts` proxying to a local
   folder (MLflow's documented team set-up); `MlflowClient.log_artifacts` / `download_artifacts`
   of the same folder (sha256-checked), and 10,000 versions registered across 100 models searched
   by alias (`get_model_version_by_alias`) and tag (`search_model_versions`), through
   bench/mlflow_peer.py. Goals (issue 19): transfer >= 2x MLflow's throughput both ways, search
   p95 >= 10x lower.

    python -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow==3.17.2
    python bench/registry.py [--size-mb 200] [--versions 10000] [--queries 200] [--skip-postgres]
                             [--mlflow-python /tmp/mlflow-venv/bin/python]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.core.db import open_database
from tuneloop.core.schema import aliases, model_versions, models, version_metrics, version_tags
from tuneloop.core.settings import ServerSettings

ROOT = Path(__file__).resolve().parent
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


@contextlib.contextmanager
def mlflow_server(python: str, workdir: Path) -> Iterator[str]:
    """MLflow's tracking server, its own process on loopback: SQLite backend, artifacts proxied
    (`--serve-artifacts`) to a local folder; yields its URL."""
    port = _free_port()
    log = (workdir / "mlflow-server.log").open("w")
    proc = subprocess.Popen([str(Path(python).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}", "--serve-artifacts",
                             "--artifacts-destination", str(workdir / "mlartifacts")],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {workdir / 'mlflow-server.log'}")
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("mlflow server did not start within 120 s") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def mlflow_peer(python: str, url: str, *args: str) -> dict:
    proc = subprocess.run([python, str(ROOT / "mlflow_peer.py"), "--tracking-uri", url, *args],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"bench/mlflow_peer.py {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def transfer(size_mb: int, repeat: int, mlflow_python: str | None = None) -> None:
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
        if mlflow_python:
            with mlflow_server(mlflow_python, tmp) as url:
                runs = [mlflow_peer(mlflow_python, url, "transfer", str(src)) for _ in range(repeat)]
            ml_up, ml_down = min(r["upload_s"] for r in runs), min(r["download_s"] for r in runs)
    mbps = lambda s: size / s / 1e6  # noqa: E731
    print(f"transfer of {size_mb} MB (best of {repeat}):")
    print(f"  baseline local copy   {copy_s:6.3f}s  {mbps(copy_s):8.0f} MB/s")
    print(f"  upload (sha256-verified)  {up_s:6.3f}s  {mbps(up_s):8.0f} MB/s  {copy_s / up_s:.2f}x of copy")
    print(f"  download (sha256-verified){down_s:6.3f}s  {mbps(down_s):8.0f} MB/s  {copy_s / down_s:.2f}x of copy")
    print(f"  upload+download vs two copies: {2 * copy_s / (up_s + down_s):.2f}x  (goal >= 0.5x)")
    if mlflow_python:
        print(f"  MLflow log_artifacts       {ml_up:6.3f}s  {mbps(ml_up):8.0f} MB/s  tuneloop/MLflow {ml_up / up_s:.2f}x"
              "  (goal >= 2x)")
        print(f"  MLflow download_artifacts  {ml_down:6.3f}s  {mbps(ml_down):8.0f} MB/s  tuneloop/MLflow "
              f"{ml_down / down_s:.2f}x  (goal >= 2x)")


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


def search_latency(label: str, url: str, n_versions: int, queries: int) -> dict[str, float]:
    """Each case's p95 in ms (and prints p50/p95)."""
    p95s: dict[str, float] = {}
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
                    p95 = p95s[name] = times[int(len(times) * 0.95) - 1]
                    print(f"  {name:46s} p50 {statistics.median(times):6.2f} ms  p95 {p95:6.2f} ms  "
                          f"({len(found)} hits)  {'ok' if p95 <= 20 else 'OVER the 20 ms goal'}")
        finally:
            server.stop()
    return p95s


def mlflow_search(python: str, n_versions: int, queries: int, ours: dict[str, float]) -> None:
    with tempfile.TemporaryDirectory() as tmp, mlflow_server(python, Path(tmp)) as url:
        result = mlflow_peer(python, url, "search", "--versions", str(n_versions), "--queries", str(queries))
    print(f"MLflow search, {result['versions']:,} versions across 100 models (registered through its API in "
          f"{result['seed_s']:.0f} s), {queries} queries each:")
    for name, r in result["cases"].items():
        print(f"  {name:46s} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  ({r['hits']} hits)  "
              f"MLflow/tuneloop p95 {r['p95_ms'] / ours[name]:.1f}x  (goal >= 10x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--mlflow-python", default="", help="the python of a venv holding MLflow: also measure it")
    args = parser.parse_args()
    transfer(args.size_mb, args.repeat, args.mlflow_python or None)
    with tempfile.TemporaryDirectory() as tmp:
        ours = search_latency("SQLite", f"sqlite:///{tmp}/bench.db", args.versions, args.queries)
    if args.mlflow_python:
        mlflow_search(args.mlflow_python, args.versions, args.queries, ours)
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
