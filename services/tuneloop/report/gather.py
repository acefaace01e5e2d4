"""What a model version's report shows, gathered through the client from the services that know
it (the registry, the trainer, the evaluator, dataprep): a plain, JSON-able dict.

Nothing is computed here that a service has not stored: an evaluation missing from the
evaluator is reported missing (`stored_only`), not run; a part whose service is not there (a
base model has no training job) says so instead of being drawn empty. Each part is one entry of
`missing` or a value, never both.
"""

from __future__ import annotations

import json
from typing import Any

import grpc

from tuneloop.client import Client

_ABSENT = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAVAILABLE)


def _absent(call, *args, **kwargs) -> tuple[Any, str]:
    """(the result, "") or (None, why not) when the thing or its service is not there."""
    try:
        return call(*args, **kwargs), ""
    except grpc.RpcError as exc:
        if exc.code() not in _ABSENT:  # type: ignore[attr-defined]
            raise
        return None, exc.details() or exc.code().name  # type: ignore[attr-defined]


def gather(client: Client, ref: str, *, dataset: str = "", split: str = "test") -> dict:
    """The report's content for NAME[@VERSION|:ALIAS] `ref`, on `dataset` (default: the one the
    version was trained on) and `split`."""
    version = client.registry.get_version(ref)
    key = f"{version.model}@{version.version}"
    data: dict[str, Any] = {"model": key, "ref": ref, "split": split, "missing": {},
                            "version": _version(version)}
    dataset = dataset or version.lineage.dataset
    data["dataset"] = dataset
    data["training"] = _training(client, version.lineage.job, data["missing"])
    if dataset:
        data["evaluation"], why = _absent(_evaluation, client, key, dataset, split)
        if why:
            data["missing"]["evaluation"] = (f"{why}: evaluate it with `tuneloop eval --model {key} --dataset "
                                             f"{dataset} --split {split}`")
        data["data"] = _dataset(client, dataset, data["missing"])
    else:
        data["evaluation"] = data["data"] = None
        data["missing"]["evaluation"] = f"{key} names no dataset (a base model): pass --dataset"
    data["timeline"] = _timeline(client, version.model)
    data["comparison"] = _comparison(client, version, dataset, split, data["timeline"], data["missing"])
    return data


def _version(v) -> dict:
    return {"kind": {1: "base", 2: "fine-tuned"}.get(v.kind, str(v.kind)), "aliases": list(v.aliases),
            "description": v.description, "tags": dict(v.tags), "metrics": dict(v.metrics),
            "created_at": v.created_at.ToDatetime().isoformat(timespec="seconds") + "Z",
            "lineage": {"base_model": v.lineage.base_model, "dataset": v.lineage.dataset, "job": v.lineage.job,
                        "parent_version": v.lineage.parent_version,
                        "config": json.loads(v.lineage.config_json or "{}")}}


def _training(client: Client, job_id: str, missing: dict) -> dict | None:
    if not job_id:
        missing["training"] = "no training job: this version was not trained by tuneloop's trainer"
        return None
    job, why = _absent(client.trainer.get, job_id)
    if job is None:
        missing["training"] = f"training job {job_id}: {why}"
        return None
    steps, epochs = [], []
    for msg in client.trainer.watch(job_id, follow=False, timeout=120):
        event = json.loads(msg.event.data_json)
        if msg.event.type == "step":
            steps.append((event["step"], event["loss"]))
        elif msg.event.type == "epoch":
            epochs.append({k: v for k, v in event.items() if isinstance(v, (int, float))})
    return {"job": job_id, "metrics": dict(job.metrics), "warnings": list(job.warnings), "steps": steps,
            "epochs": epochs}


def _evaluation(client: Client, key: str, dataset: str, split: str) -> dict:
    r = client.evaluator.evaluate(key, dataset, split, stored_only=True)
    return {"dataset": r.dataset, "task": r.task or "text-classification", "n": r.n, "accuracy": r.accuracy,
            "f1_macro": r.f1_macro, "precision_macro": r.precision_macro, "recall_macro": r.recall_macro,
            "ece": r.ece, "log_loss": r.log_loss, "score": r.score, "warnings": list(r.warnings),
            "per_class": {k: {"precision": v.precision, "recall": v.recall, "f1": v.f1, "support": v.support}
                          for k, v in sorted(r.per_class.items())},
            "confusion": {"labels": list(r.confusion_matrix.labels),
                          "matrix": [list(row.counts) for row in r.confusion_matrix.rows]},
            "calibration": [{"low": b.low, "high": b.high, "count": b.count, "confidence": b.confidence,
                             "accuracy": b.accuracy} for b in r.calibration],
            "generation": {"rouge_l": r.generation.rouge_l, "exact_match": r.generation.exact_match,
                           "token_f1": r.generation.token_f1} if r.HasField("generation") else None}


def _dataset(client: Client, ref: str, missing: dict) -> dict | None:
    name, _, number = ref.partition("@")
    report, why = _absent(client.dataprep.report, name, number)
    if report is None:
        missing["data"] = f"dataset {ref}: {why}"
        return None
    drift = report.drift
    return {"version": f"{report.version.dataset}@{report.version.version}",
            "splits": {split: dict(counts.counts) for split, counts in sorted(report.split_labels.items())},
            "drift": {"has_parent": drift.has_parent, "label_shift": drift.label_shift,
                      "length_shift": drift.length_shift, "mean_length_change": drift.mean_length_change,
                      "new_labels": list(drift.new_labels), "size_shift": drift.size_shift},
            "label_conflicts": report.label_conflicts, "new_rows": report.new_rows}


def _timeline(client: Client, model: str) -> list[dict]:
    """Every change of the champion alias, oldest first, with the champion's stored score after it."""
    changes = sorted(client.registry.alias_history(model, "champion"), key=lambda c: c.at.ToDatetime())
    scores: dict[int, float | None] = {}
    points = []
    for change in changes:
        for v in (change.from_version, change.to_version):
            if v and v not in scores:
                scores[v] = _score(client.registry.get_version(f"{model}@{v}"))
        kind = "rollback" if change.from_version and change.to_version < change.from_version else "promotion"
        before, after = scores.get(change.from_version), scores.get(change.to_version)
        points.append({"at": change.at.ToDatetime().isoformat(timespec="seconds") + "Z", "from": change.from_version,
                       "version": change.to_version, "kind": kind if change.to_version else "deleted",
                       "actor": change.actor, "reason": change.reason, "score": after,
                       "delta": after - before if after is not None and before is not None else None})
    return points


def _score(version) -> float | None:
    """The version's test score on the dataset it was trained on (the evaluator stores it in the
    registry as <dataset>/test/f1_macro, or rouge_l for generation), else its validation F1."""
    dataset = version.lineage.dataset
    for name in (f"{dataset}/test/f1_macro", f"{dataset}/test/rouge_l", "val_f1_macro"):
        if name in version.metrics:
            return float(version.metrics[name])
    return None


def _comparison(client: Client, version, dataset: str, split: str, timeline: list[dict], missing: dict) -> dict | None:
    """The version against the champion (or, for the champion, against the one it replaced), paired
    on the same examples; only when both evaluations are stored."""
    key = f"{version.model}@{version.version}"
    champion = next((p["version"] for p in reversed(timeline) if p["version"]), 0)
    baseline = champion if champion != version.version else \
        next((p["from"] for p in reversed(timeline) if p["version"] == version.version and p["from"]), 0)
    if not baseline or not dataset:
        missing["comparison"] = f"nothing to compare {key} with: the model has no other champion"
        return None
    other = f"{version.model}@{baseline}"
    for ref in (key, other):
        _, why = _absent(client.evaluator.evaluate, ref, dataset, split, stored_only=True)
        if why:
            missing["comparison"] = f"{why}: both {key} and {other} must be evaluated to be compared"
            return None
    c = client.evaluator.compare(key, other, dataset, split)
    return {"candidate": c.candidate, "baseline": c.baseline, "metric": c.metric or "f1_macro", "delta": c.delta,
            "ci_low": c.ci_low, "ci_high": c.ci_high, "p_value": c.p_value, "verdict": c.verdict,
            "reasons": list(c.reasons), "per_class_delta": dict(sorted(c.per_class_delta.items())), "n": c.n}
