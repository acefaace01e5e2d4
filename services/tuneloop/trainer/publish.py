"""What a finished job publishes beside the version it registered: the version's TensorBoard
run (`ml.board`), so `tensorboard --logdir <storage>/tensorboard/<model>` compares it with the
model's other versions.

The run holds the job's training scalars (copied from the job's own folder), the HParams
plugin's record of the spec with the final validation metrics, and the lineage as text; the
version's `tensorboard` tag names the run's URL, which is how the evaluator (another service)
finds where to log its evaluations and the CLI where to point TensorBoard.
"""

from __future__ import annotations

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
