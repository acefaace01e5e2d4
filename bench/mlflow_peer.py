"""The MLflow side of bench/registry.py, run by the MLflow bench environment's python (MLflow is
never a dependency of tuneloop, and its pins would fight tuneloop's: it gets its own venv).

Against an MLflow tracking server already running (`mlflow server` with a SQLite backend and
`--serve-artifacts`, the set-up MLflow documents for teams), with `MlflowClient`:

- `transfer FOLDER`: `log_artifacts` of the folder into a new run, then `download_artifacts` of
  it, each timed, the download verified by sha256 against the folder;
- `search`: registers VERSIONS model versions across MODELS registered models (a `champion`
  alias on each model's last version; tags `team` and `run` like tuneloop's bench), then times
  `get_model_version_by_alias` and `search_model_versions` by tag.

Prints one JSON object.

    python bench/mlflow_peer.py --tracking-uri http://127.0.0.1:PORT transfer FOLDER
    python bench/mlflow_peer.py --tracking-uri http://127.0.0.1:PORT search [--versions 10000] [--models 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def transfer(client, folder: Path) -> dict:
    expected = {p.name: _sha256(p) for p in folder.iterdir()}
    experiment = client.create_experiment(f"bench-{time.time_ns()}")
    run = client.create_run(experiment).info.run_id
    t0 = time.perf_counter()
    client.log_artifacts(run, str(folder), "model")
    up = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        local = Path(client.download_artifacts(run, "model", out))
        down = time.perf_counter() - t0
        got = {p.name: _sha256(p) for p in local.iterdir()}
    if got != expected:
        raise SystemExit(f"MLflow's download differs from what was logged: {sorted(got)} vs {sorted(expected)}")
    return {"upload_s": up, "download_s": down, "bytes": sum(p.stat().st_size for p in folder.iterdir())}


def _percentiles(times: list[float]) -> dict:
    times = sorted(times)
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1]}


def search(client, n_versions: int, n_models: int, queries: int, threads: int) -> dict:
    per_model = n_versions // n_models
    t0 = time.perf_counter()

    def register(m: int) -> None:
        name = f"model-{m:03d}"
        client.create_registered_model(name)
        for v in range(1, per_model + 1):
            n = m * per_model + v
            client.create_model_version(name, f"s3://bench/{name}/{v}", tags={"team": f"team-{n % 10}",
                                                                             "run": f"run-{n}"})
        client.set_registered_model_alias(name, "champion", str(per_model))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(register, range(n_models)))
    seeded = time.perf_counter() - t0
    one_model, one_run = f"model-{min(42, n_models - 1):03d}", f"run-{min(4242, n_versions - 1)}"
    cases = {
        "alias champion of one model (1 hit)": lambda: [client.get_model_version_by_alias(one_model, "champion")],
        "tag run=<one run> (1 hit)": lambda: client.search_model_versions(f"tags.run = '{one_run}'"),
        "tag team=team-3, first page (50 of 1000)": lambda: client.search_model_versions(
            "tags.team = 'team-3'", max_results=50),
    }
    out = {}
    for name, call in cases.items():
        for _ in range(5):
            call()
        times = []
        for _ in range(queries):
            t = time.perf_counter()
            hits = call()
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {**_percentiles(times), "hits": len(hits)}
    return {"seed_s": seeded, "versions": per_model * n_models, "cases": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("transfer")
    t.add_argument("folder", type=Path)
    s = sub.add_parser("search")
    s.add_argument("--versions", type=int, default=10_000)
    s.add_argument("--models", type=int, default=100)
    s.add_argument("--queries", type=int, default=200)
    s.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # else a line per registered version
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=args.tracking_uri, registry_uri=args.tracking_uri)
    if args.what == "transfer":
        result = transfer(client, args.folder)
    else:
        result = search(client, args.versions, args.models, args.queries, args.threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
