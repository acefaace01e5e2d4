"""What a finished job publishes beside the version it registered: the version's TensorBoard
run (`ml.board`), so `tensorboard --logdir <storage>/tensorboard/<model>` compares it with the
model's other versions.

The run holds the job's training scalars (copied from the job's own folder), the HParams
plugin's record of the spec with the final validation metrics, and the lineage as text; the
version's `tensorboard` tag names the run's URL, which is how the evaluator (another service)
finds where to log its evaluations and the CLI where to point TensorBoard.

A sweep publishes its best trial as the version's run and every trial as a run of its own,
`sweep-<job>/<trial>` under the same root, with HParams (the trial's hyperparameters over the
sweep's fixed options, its state and best score): the parallel-coordinates view then shows
what the sweep tried beside the versions.
"""

from __future__ import annotations

from tuneloop.core.storage import join
from tuneloop.ml import board
from tuneloop.ml.spec import HYPERPARAMETERS, TrainSpec

# job summary metric -> the tag TensorBoard shows it under
_FINAL = {"val_f1_macro": "val/f1_macro", "val_accuracy": "val/accuracy", "val_loss": "val/loss",
          "train_loss": "train/epoch_loss"}


def lineage_markdown(version: str, spec: TrainSpec, job_id: str, dataset: str, base: str,
                     warnings: list[str]) -> str:
    lines = [f"**{version}**, fine-tuned by job `{job_id}`", "", f"- base model: `{base}`",
             f"- dataset: `{dataset}`", f"- task: {spec.task or 'text-classification'}"]
    lines += [f"- **warning**: {w}" for w in warnings]
    return "\n".join(lines)


def publish_run(storage_url: str, job_tensorboard: str, *, spec: TrainSpec, version: str, job_id: str,
                dataset: str, base: str, summary: dict, warnings: list[str]) -> str:
    """Write the version's run (NAME@VERSION `version`); returns its URL."""
    name, number = version.rsplit("@", 1)
    url = board.run_url(storage_url, name, int(number))
    board.copy_run(job_tensorboard, url)
    hparams = {k: getattr(spec, k) for k in HYPERPARAMETERS} | {"base_model": base, "dataset": dataset}
    with board.Board(url) as run:
        board.write_hparams(run, hparams, {tag: summary[k] for k, tag in _FINAL.items() if k in summary})
        board.write_text(run, "lineage", lineage_markdown(version, spec, job_id, dataset, base, warnings))
    return url


def fold_trial(trials: list[dict], event: dict) -> list[dict]:
    """`trials` (a sweep job's records) updated by one trial event (trainer.sweep's callback)."""
    trial_id = event["trial"]
    found = next((t for t in trials if t["trial"] == trial_id), None)
    if found is None:
        found = {"trial": trial_id, "state": "PENDING", "config": {}, "best_score": None, "epochs": 0,
                 "seconds": 0.0, "error": ""}
        trials.append(found)
    kind = event["type"]
    if kind == "trial_started":
        found.update(state="RUNNING", config=event.get("config", {}))
    elif kind == "trial_result":
        score = event.get("val_score")
        best = found.get("best_score")
        found.update(state="RUNNING", epochs=found.get("epochs", 0) + 1, seconds=event.get("seconds", 0.0),
                     best_score=score if best is None or (score is not None and score > best) else best)
    else:  # trial_ended, trial_failed: the whole record
        found.update({k: v for k, v in event.items() if k != "type"})
    return trials


def publish_trials(storage_url: str, job_storage: str, fixed: TrainSpec, model: str, job_id: str, trials: list[dict],
                   *, dataset: str, base: str) -> list[str]:
    """One TensorBoard run per trial of sweep `job_id` (its scalars and HParams over the sweep's
    `fixed` options); their URLs."""
    urls = []
    for trial in trials:
        url = join(board.model_root(storage_url, model), f"sweep-{job_id}", trial["trial"])
        board.copy_run(join(job_storage, "trials", trial["trial"], "tensorboard"), url)
        spec = fixed.model_copy(update=trial.get("config", {}))
        hparams = {k: getattr(spec, k) for k in HYPERPARAMETERS} | {
            "base_model": base, "dataset": dataset, "sweep": job_id, "trial": trial["trial"],
            "trial_state": trial.get("state", ""),
            "trial_epochs": int(trial.get("epochs", 0))}
        score = trial.get("best_score")
        final = {"val/f1_macro": score} if score is not None and score > -1e29 and (
            spec.task or "text-classification") != "text-generation" else {}
        with board.Board(url) as run:
            board.write_hparams(run, hparams, final)
        urls.append(url)
    return urls
