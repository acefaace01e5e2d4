"""A training job on a remote Ray cluster, through the Ray Jobs API (the dashboard's HTTP address).

The driver (`tuneloop.trainer.driver`) runs on the cluster, so the run does not depend on
the trainer staying connected: Ray Client, which the Ray Train docs advise against, ends a
session whose connection drops for ~30 s. The submission id is derived from the job id, so
a job is submitted at most once: a restarted trainer (or a second replica) finds the
submission and re-attaches, skipping the progress lines already recorded (`skip`). Progress
and the result come back as lines of the driver's log. `cancel()` stops the Ray job;
`release()` stops following it and leaves it running.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable

from tuneloop.trainer.driver import EVENT, RESULT, encode
from tuneloop.trainer.raytrain import RunResult

log = logging.getLogger(__name__)
_TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def _why(log: str, limit: int = 40) -> str:
    """What a failed driver's log says about it: its last traceback (Ray's own status lines
    come after it), else its last lines."""
    lines = [line for line in log.splitlines() if line.strip() and not line.startswith((EVENT, RESULT))]
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    if starts:
        block = lines[starts[-1]:]
        end = next((i for i, line in enumerate(block) if i and not line.startswith((" ", "\t", "Traceback"))), None)
        return "\n".join(block[:end + 1 if end is not None else limit][-limit:])
    return "\n".join(lines[-15:])


def submission_id(job_id: str) -> str:
    return f"tuneloop-{job_id}"


class RayJobHandle:
    """Submit (or find) the Ray job of a training job, follow it, cancel it."""

    def __init__(self, client, *, job_id: str, args: dict, python: str = sys.executable, skip: int = 0,
                 on_progress: Callable[[dict], None], on_lines: Callable[[int], None], poll: float = 1.0) -> None:
        self.client = client  # a ray.job_submission.JobSubmissionClient
        self.id = submission_id(job_id)
        self.seen = skip
        self._on_progress, self._on_lines, self._poll = on_progress, on_lines, poll
        self._released = threading.Event()
        self.attached = self._find()
        if not self.attached:
            self._submit(job_id, args, python)

    def _find(self) -> bool:
        try:
            self.client.get_job_info(self.id)
        except RuntimeError as exc:  # the Jobs API's "does not exist" (an HTTP 404)
            if "does not exist" not in str(exc) and "404" not in str(exc):
                raise
            return False
        log.info("re-attaching to Ray job %s", self.id)
        return True

    def _submit(self, job_id: str, args: dict, python: str) -> None:
        entrypoint = f"{python} -m tuneloop.trainer.driver {encode(args)}"
        try:
            self.client.submit_job(entrypoint=entrypoint, submission_id=self.id, entrypoint_num_cpus=0,
                                   metadata={"tuneloop_job": job_id},
                                   runtime_env={"env_vars": {"RAY_TRAIN_V2_ENABLED": "1"}})
        except RuntimeError as exc:
            if "already exists" not in str(exc):
                raise
            self.attached = True  # another trainer submitted it a moment ago
        log.info("submitted %s as Ray job %s", job_id, self.id)

    def wait(self) -> RunResult:
        """Follow the job until it ends; its result, or the error its log ends with."""
        said_pending = False
        while True:
            info = self.client.get_job_info(self.id)
            status = str(getattr(info.status, "value", info.status))
            result = self._read_log()
            if status in _TERMINAL:
                break
            if status == "PENDING" and not said_pending:
                said_pending = True
                self._on_progress({"type": "waiting", "message": f"Ray job {self.id} is pending: {info.message}"})
            if self._released.wait(self._poll):
                raise RuntimeError(f"stopped following Ray job {self.id}; it keeps running")
        if status == "SUCCEEDED" and result is not None:
            return result
        if status == "STOPPED":
            raise RuntimeError(f"Ray job {self.id} was stopped")
        raise RuntimeError(f"Ray job {self.id} ended {status}: {_why(self.client.get_job_logs(self.id))}")

    def _read_log(self) -> RunResult | None:
        """Deliver the event lines not delivered yet; the result line, once printed."""
        result, count = None, 0
        for line in self.client.get_job_logs(self.id).splitlines():
            if line.startswith(EVENT):
                count += 1
                if count > self.seen:
                    self._on_progress(json.loads(line[len(EVENT):]))
                    self.seen = count
                    self._on_lines(count)
            elif line.startswith(RESULT):
                result = RunResult(**json.loads(line[len(RESULT):]))
        return result

    def cancel(self) -> None:
        self.client.stop_job(self.id)

    def release(self) -> None:
        self._released.set()
