"""The benchmark script still runs end to end (on a small size) and both paths agree.

Speed itself is measured by running bench/dataprep.py, never asserted here."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dataprep_benchmark_runs_and_both_paths_keep_the_same_rows():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "dataprep.py"), "--rows", "20000"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    kept = re.findall(r"kept ([\d,]+)", proc.stdout)
    assert len(kept) == 2 and kept[0] == kept[1], proc.stdout
    assert "ratio tuneloop/pandas" in proc.stdout
    assert "warning" not in proc.stdout


def test_stage_benchmark_runs_and_both_paths_stage_the_same_rows():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "stage.py"), "--repeat", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "speed-up file/rows" in proc.stdout and "train split: 1," in proc.stdout


def test_checkpoint_storage_benchmark_runs_against_a_real_s3_server():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "checkpoint_storage.py"), "--repeat", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "S3 (moto_server, loopback)" in proc.stdout and "ratio S3/local" in proc.stdout


def test_step_compute_benchmark_prints_one_json_object():
    import json

    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "step_compute.py"), "--batch", "2", "--length", "16",
                           "--steps", "1", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["models"]) == {"MiniLM-L6 (all-MiniLM-L6-v2)", "MPNet-base"}
    assert 22e6 < result["models"]["MiniLM-L6 (all-MiniLM-L6-v2)"]["parameters"] < 24e6


def test_serving_benchmark_runs_and_a_hot_swap_under_load_fails_nothing():
    """bench/serve.py on a few headlines for a second per level; Ray Serve, the peer, is installed
    only with the bench extra, so here its path may be skipped."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "serve.py"), "--seconds", "1", "--texts", "40",
                           "--clients", "1,4", "--workloads", "headlines"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| headlines, (a) tuneloop gRPC | 4 |" in proc.stdout and "(a)/(b)" in proc.stdout
    assert "failed" not in proc.stdout.split("| workload, path")[1].split("hot swap")[0], proc.stdout
    swap = re.search(r"hot swap under 4 clients: (\d+) failed of (\d+) answered", proc.stdout)
    assert swap and swap[1] == "0" and int(swap[2]) > 0, proc.stdout
    assert "{'news@2': ['news:champion']}" in proc.stdout, "the alias moved and the old version was unloaded"


def test_asha_replay_runs_ray_tunes_rule_on_recorded_curves(tmp_path):
    """Four trials one at a time, two epochs, 20 s of start-up and 10 s an epoch each. Factor 2,
    grace 1: the third (0.3 after one epoch, below the median 0.7 of the two before it) stops, and
    it was the slow starter that ends best (0.99). Grace 2 leaves nothing to stop before the end."""
    import json

    def curve(first: float, second: float) -> list[dict]:
        return [{"epoch": 1, "val_score": first, "sweep_rank": first, "seconds": 30.0, "time": 0},
                {"epoch": 2, "val_score": second, "sweep_rank": second, "seconds": 40.0, "time": 0}]

    curves = {"none": {"t1": curve(0.5, 0.6), "t2": curve(0.9, 0.92), "t3": curve(0.3, 0.99), "t4": curve(0.95, 0.96)}}
    path = tmp_path / "curves.json"
    path.write_text(json.dumps(curves))
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "asha_replay.py"), str(path), "--concurrent", "1",
                           "--factors", "2", "--graces", "1", "2", "--orders", "24"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "full search: 4 trials, best val 0.9900, compute 160 s" in proc.stdout, proc.stdout
    assert "| 2 | 1 | 1 | 0.9600 | no | 150 s | 6% |" in proc.stdout, proc.stdout
    assert "| 2 | 2 | 0 | 0.9900 | yes | 160 s | 0% | 0% (0%-0%) | 100% |" in proc.stdout, proc.stdout
