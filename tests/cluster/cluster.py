"""A two-node Ray cluster with no shared disk, S3 storage and tuneloop, on loopback inside the
network namespace `test_two_nodes.py` creates (no port of the host is touched, and a Ray
cluster of several nodes may bind loopback only there).

- storage: a `moto_server` speaking S3 on 127.0.0.1, bucket `tuneloop`;
- head: `ray start --head --num-cpus=0` (no training runs there) with the Jobs API;
- worker node: `ray start --address=...` in its own mount namespace with a tmpfs over the
  trainer's state folder and over the head's temp folder: no path of the trainer exists
  there, so whatever a worker needs it must fetch from the services or S3;
- tuneloop: `tuneloop up` with `TUNELOOP_ARTIFACT_URL=s3://tuneloop/...` and
  `TUNELOOP_RAY_ADDRESS` = the head's dashboard.
Every Ray process and client shares one token (`RAY_AUTH_MODE=token`): the one in this
process's environment, set before Ray was first imported (Ray reads the mode once).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from conftest import free_port, stop_process, wait_until

BIN = Path(sys.executable).parent
BUCKET = "tuneloop"


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"  # the trainer's (and every service's) own disk
        self.state.mkdir(parents=True)
        self.head_tmp = Path(tempfile.mkdtemp(prefix="rh-"))  # Ray's socket paths must stay short
        self.worker_tmp = Path(tempfile.mkdtemp(prefix="rw-"))
        self.s3_port, self.gcs, self.dashboard, self.port = free_port(), free_port(), free_port(), free_port()
        self.s3 = f"http://127.0.0.1:{self.s3_port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "TUNELOOP_"))} | {
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": os.environ["RAY_AUTH_TOKEN"], "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
            "TUNELOOP_S3_ENDPOINT_URL": self.s3, "TUNELOOP_S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
            # a dead node is noticed in seconds, not the default ~30 s
            "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
        }
        self.procs: dict[str, subprocess.Popen] = {}

    # -- processes ---------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_storage(self) -> None:
        import boto3

        self._spawn("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)])
        s3 = boto3.client("s3", endpoint_url=self.s3, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        wait_until("moto_server", lambda: s3.list_buckets() is not None, timeout=60, every=0.5, ignore=(Exception,))
        s3.create_bucket(Bucket=BUCKET)

    def start_head(self) -> None:
        self._spawn("head", [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                             f"--port={self.gcs}", "--num-cpus=0", "--include-dashboard=true",
                             "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard}",
                             f"--temp-dir={self.head_tmp}", "--disable-usage-stats"])

    def start_worker_node(self) -> None:
        """The worker node in a mount namespace of its own, where the trainer's state folder and
        the head's temp folder are empty tmpfs mounts."""
        env = self.env | {"TUNELOOP_WORKER_CACHE": str(self.worker_tmp / "cache")}
        script = (f"mount -t tmpfs tmpfs {self.state} && mount -t tmpfs tmpfs {self.head_tmp} && "
                  f"exec {BIN / 'ray'} start --block --address=127.0.0.1:{self.gcs} --node-ip-address=127.0.0.1 "
                  f"--num-cpus=2 --temp-dir={self.worker_tmp} --disable-usage-stats")
        self._spawn("worker", ["unshare", "--mount", "--propagation", "private", "bash", "-c", script], env)

    def kill_worker_node(self) -> None:
        """SIGKILL the worker node: its raylet and every process it started."""
        proc = self.procs.pop("worker")
        tree = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)

    def start_tuneloop(self) -> subprocess.Popen:
        env = self.env | {"TUNELOOP_ARTIFACT_URL": f"s3://{BUCKET}/artifacts",
                          "TUNELOOP_RAY_ADDRESS": f"http://127.0.0.1:{self.dashboard}",
                          "TUNELOOP_TRAINER_POLL_SECONDS": "0.5"}
        return self._spawn("up", [str(BIN / "tuneloop"), "up", "--data-dir", str(self.state), "--address",
                                  f"127.0.0.1:{self.port}"], env)

    def kill_tuneloop(self) -> None:
        proc = self.procs.pop("up")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def jobs_client(self):
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(f"http://127.0.0.1:{self.dashboard}")

    def worker_nodes_alive(self) -> int:
        import ray

        return sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0)

    def stop(self) -> None:
        for name in ("up", "worker", "head", "s3"):
            if name in self.procs:
                stop_process(self.procs[name], group=True, timeout=20)
        for folder in ("head", "worker"):
            logs = (self.head_tmp if folder == "head" else self.worker_tmp) / "session_latest" / "logs"
            if logs.is_dir():  # kept beside the test's logs for a failure's post-mortem
                shutil.copytree(logs, self.root / f"ray-{folder}-logs", dirs_exist_ok=True, ignore_dangling_symlinks=True)
        shutil.rmtree(self.head_tmp, ignore_errors=True)
        shutil.rmtree(self.worker_tmp, ignore_errors=True)
