"""The driver of a training job on a remote Ray cluster: `python -m tuneloop.trainer.driver ARGS`,
the entrypoint the trainer submits through the Ray Jobs API.

It runs on the cluster, not in the trainer: it fits the TorchTrainer (`raytrain.fit`, the
same code the local path runs) and prints what the trainer must know as lines of its log,
which the trainer follows through the Jobs API: one `EVENT` line per progress event (in
order, so a re-attaching trainer skips the ones it has recorded) and one `RESULT` line at
the end. It also writes them to the job's storage (`Outbox`: events/NNNNNN.json, result.json,
or failure.json), where the trainer reads them when the job is a KubeRay RayJob: that Ray
cluster, and its logs, are deleted soon after the job ends. ARGS is one base64 JSON object
(`encode`): the loop's config without secrets, which every node takes from its own environment.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
import threading
import traceback
import uuid
from dataclasses import asdict

EVENT = "@@tuneloop-event "
RESULT = "@@tuneloop-result "


def encode(args: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(args, sort_keys=True).encode()).decode()


def decode(text: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(text.encode()))


def _emit(prefix: str, payload: dict) -> None:
    sys.stdout.write(prefix + json.dumps(payload, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


class Outbox:
    """What the driver tells the trainer, as files under `<job storage>/driver/`."""

    def __init__(self, storage_url: str) -> None:
        from tuneloop.core.storage import join, open_fs

        self.url = join(storage_url, "driver")
        self.fs, self.root = open_fs(self.url)
        self.count = 0

    def _write(self, name: str, payload: dict) -> None:
        """Whole or absent: written beside the folder the trainer lists, then renamed into place
        (on a shared filesystem the trainer could otherwise read a file still empty)."""
        path = f"{self.root}/{name}"
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{self.root}/.writing-{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as out:
            out.write(json.dumps(payload, sort_keys=True, default=str).encode())
        self.fs.mv(tmp, path)

    def event(self, payload: dict) -> None:
        self.count += 1
        self._write(f"events/{self.count:06d}.json", payload)

    def result(self, payload: dict) -> None:
        self._write("result.json", payload)

    def failure(self, message: str) -> None:
        self._write("failure.json", {"error": message})


def arguments(config, run: dict) -> dict:
    """What the runner hands the driver for `config` (a LoopConfig) and the run's settings
    (`fit`'s keywords): every field but the progress queue, as JSON values."""
    args = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in ("progress", "spec")}
    return args | {"spec": config.spec.model_dump(mode="json"), **run}


def loop_config(args: dict, progress):
    """The worker's LoopConfig from the driver's arguments: every field the runner sent (all but
    the progress queue, made here), so a field added to LoopConfig cannot be dropped on the way."""
    from tuneloop.ml.spec import TrainSpec
    from tuneloop.trainer.loop import LoopConfig

    fields = {f.name for f in dataclasses.fields(LoopConfig)} - {"spec", "progress"}
    return LoopConfig(spec=TrainSpec(**args["spec"]), progress=progress, **{k: args[k] for k in fields if k in args})


def main(argv: list[str]) -> None:
    import ray
    from ray.util.queue import Empty

    from tuneloop.trainer import groups
    from tuneloop.trainer.raytrain import fit, progress_queue
    from tuneloop.trainer.sweep import fit_sweep, queue_name

    args = decode(argv[0])
    ray.init(log_to_driver=False)  # RAY_ADDRESS, set by the job supervisor, is the cluster
    queue = progress_queue(queue_name(args["name"]) if args.get("sweep") else "")
    config = loop_config(args, queue)
    done, outbox = threading.Event(), Outbox(args["storage_url"])
    watcher = groups.start(args["name"])  # a sweep's stopped trials: their placement groups

    def drain() -> None:
        while not done.is_set() or queue.qsize():
            try:
                event = queue.get(timeout=0.5)
            except Empty:
                continue
            _emit(EVENT, event)
            outbox.event(event)

    drainer = threading.Thread(target=drain, name="progress", daemon=True)
    drainer.start()
    try:
        run = {"name": args["name"], "workers": args["workers"], "use_gpu": args["use_gpu"],
               "max_failures": args["max_failures"]}
        result = fit_sweep(config, sweep=args["sweep"], **run) if args.get("sweep") else fit(config, **run)
    except BaseException as exc:
        outbox.failure("".join(traceback.format_exception_only(exc)).strip())
        raise
    finally:
        done.set()
        drainer.join(timeout=30)
        groups.stop(watcher)
    _emit(RESULT, asdict(result))
    outbox.result(asdict(result))


if __name__ == "__main__":
    main(sys.argv[1:])
