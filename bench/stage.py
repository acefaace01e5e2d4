"""Benchmark: staging a dataset split for training, as stored bytes vs row by row.

Before (the baseline, the trainer's earlier path): `ReadSplit` streams one protobuf `Row`
per row, the client turns them into Python lists, polars builds a frame and writes Parquet
again. After (tuneloop's path now): `ReadSplitFile` streams the Parquet file dataprep
stored, and the client verifies its sha256 as it writes. Both run against the same
`tuneloop serve dataprep` on loopback, in this one process run, alternately, best of N.

    python bench/stage.py [--copies 1] [--repeat 5]

`--copies N` ingests BBC News N times over (texts suffixed with the copy number, so none is
a duplicate) to see how both paths scale with the split's size.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from tuneloop import bbc
from tuneloop.client import Client
from tuneloop.errors import TuneloopError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_serving(client: Client, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tuneloop serve dataprep exited with {proc.returncode}")
        try:
            client.dataprep.list_datasets()
            return
        except TuneloopError:
            time.sleep(0.2)
    raise TimeoutError(f"dataprep not serving within {timeout:.0f} s")


def rows_path(client: Client, dataset: str, version: str, out: Path) -> int:
    """The baseline: row messages -> lists -> polars -> Parquet (what Inputs.splits did)."""
    rows = [(r.text, r.label) for r in client.dataprep.read_split(dataset, version, "train")]
    frame = pl.DataFrame({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]},
                         schema={"text": pl.String, "label": pl.String})
    frame.write_parquet(out)
    return frame.height


def file_path(client: Client, dataset: str, version: str, out: Path) -> int:
    client.dataprep.download_split(dataset, version, "train", out)
    return pl.scan_parquet(out).select(pl.len()).collect().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work, port = Path(tmp), free_port()
        proc = subprocess.Popen([sys.executable, "-m", "tuneloop.cli", "serve", "dataprep", "--data-dir",
                                 str(work / "state"), "--address", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            with Client(f"127.0.0.1:{port}", timeout=600) as client:
                wait_serving(client, proc)
                items = [{"text": f"{r['text']} ({copy})", "label": r["label"]}
                         for copy in range(args.copies) for r in bbc.rows()]
                version = client.dataprep.ingest(bbc.write_jsonl(work / "bbc.jsonl", items), dataset="bbc")
                seconds: dict[str, list[float]] = {"rows": [], "file": []}
                counts = {}
                for i in range(args.repeat):
                    for name, stage in (("rows", rows_path), ("file", file_path)):
                        out = work / f"{name}-{i}.parquet"
                        started = time.perf_counter()
                        counts[name] = stage(client, "bbc", version.version, out)
                        seconds[name].append(time.perf_counter() - started)
                        out.unlink()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    best = {name: min(values) for name, values in seconds.items()}
    assert counts["rows"] == counts["file"], counts
    print(f"train split: {counts['file']:,} rows")
    print(f"(baseline) ReadSplit rows -> polars -> Parquet: {best['rows'] * 1000:8.1f} ms")
    print(f"(tuneloop) ReadSplitFile stored bytes, sha256-verified: {best['file'] * 1000:8.1f} ms")
    print(f"speed-up file/rows: {best['rows'] / best['file']:.2f}x")
    print(json.dumps({"rows": counts["file"], "rows_ms": best["rows"] * 1000, "file_ms": best["file"] * 1000,
                      "speedup": best["rows"] / best["file"]}))


if __name__ == "__main__":
    main()
