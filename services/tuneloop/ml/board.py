"""TensorBoard that compares a model's versions: one log root per model, one run per version.

Layout, under the artifact storage (a folder or an fsspec URL: what crosses between services is
this URL, kept as the version's `tensorboard` tag in the registry, never a local path):

    <storage>/tensorboard/<model>/v<version>/   one run: TensorBoard reads every event file in it
        (the job's training scalars, copied)          train/loss, train/learning_rate, val/f1_macro...
        (written at registration, by the trainer)     HParams (the spec and the final metrics), lineage text
        (written by each evaluation, by the evaluator) eval/<split>/f1_macro..., PR curves per class,
                                                      the confusion matrix as an image

`tensorboard --logdir <storage>/tensorboard/<model>` then shows every version side by side:
scalars overlaid, the HParams table and parallel-coordinates view over all versions (the same
metric tags in each: `HPARAM_METRICS`), champion and candidates' evaluations as PR curves.

Each writer works on a local temporary folder and copies its event files into the run (`Board`):
several writers add files beside each other and none overwrites another's.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from tuneloop import plots
from tuneloop.core.storage import join, open_fs

TAG = "tensorboard"  # the registry tag of a version: its run's URL
# metrics the HParams view compares (the same in every run, so versions line up)
HPARAM_METRICS = ("val/f1_macro", "val/accuracy", "val/loss", "train/epoch_loss", "eval/test/f1_macro",
                  "eval/test/accuracy")


def model_root(storage_url: str, model: str) -> str:
    return join(storage_url, TAG, model)


def run_url(storage_url: str, model: str, version: int) -> str:
    return join(model_root(storage_url, model), f"v{version}")


class Board:
    """A SummaryWriter on a local temporary folder whose event files `sync` copies to `url`."""

    def __init__(self, url: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.url = url
        self.local = tempfile.mkdtemp(prefix="tuneloop-tb-")
        self.writer = SummaryWriter(self.local)

    def sync(self) -> None:
        self.writer.flush()
        fs, root = open_fs(self.url)
        fs.makedirs(root, exist_ok=True)
        for name in os.listdir(self.local):
            fs.put_file(os.path.join(self.local, name), f"{root}/{name}")

    def close(self) -> None:
        """Copy the files a last time and remove the local folder."""
        try:
            self.sync()
        finally:
            self.discard()

    def discard(self) -> None:
        """Close the writer and remove the local folder without copying (what was synced stays)."""
        self.writer.close()
        shutil.rmtree(self.local, ignore_errors=True)

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:  # nothing half-written is copied on a failure
            self.discard()


def copy_run(source_url: str, target_url: str) -> int:
    """Copy the event files of `source_url` (a job's TensorBoard folder) into `target_url`; returns how many."""
    fs, source = open_fs(source_url)
    _, target = open_fs(target_url)
    if not fs.exists(source):
        return 0
    names = [p for p in fs.ls(source, detail=False) if "tfevents" in p.rsplit("/", 1)[-1]]
    fs.makedirs(target, exist_ok=True)
    for path in names:
        fs.copy(path, f"{target}/{path.rsplit('/', 1)[-1]}")
    return len(names)


def write_hparams(board: Board, hparams: dict, metrics: dict[str, float]) -> None:
    """The HParams plugin's experiment, session start and end for this run: `hparams` (scalars and
    strings) and every HPARAM_METRICS tag, with the `metrics` known now written as scalars."""
    from torch.utils.tensorboard.summary import hparams as make

    values = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in hparams.items()}
    experiment, start, end = make(values, dict.fromkeys(HPARAM_METRICS, 0.0))
    file_writer = board.writer.file_writer  # made when the SummaryWriter was
    assert file_writer is not None
    for summary in (experiment, start, end):
        file_writer.add_summary(summary)
    for tag, value in metrics.items():
        board.writer.add_scalar(tag, value, 0)


def write_text(board: Board, tag: str, markdown: str) -> None:
    board.writer.add_text(tag, markdown, 0)


def write_classification(board: Board, prefix: str, truth: np.ndarray, probs: np.ndarray, labels: list[str],
                         scores: dict) -> None:
    """An evaluation: its headline scalars, per-class F1, a PR curve per class and the confusion
    matrix as an image, under `prefix` (eval/<split>)."""
    for name in ("f1_macro", "accuracy", "precision_macro", "recall_macro", "ece", "log_loss"):
        board.writer.add_scalar(f"{prefix}/{name}", scores[name], 0)
    for i, label in enumerate(labels):
        board.writer.add_scalar(f"{prefix}/f1/{label}", scores["per_class"][label]["f1"], 0)
        board.writer.add_pr_curve(f"{prefix}/pr/{label}", truth == i, probs[:, i], 0)
    board.writer.add_figure(f"{prefix}/confusion_matrix", plots.confusion(scores["confusion_matrix"]["matrix"],
                                                                          labels), 0, close=False)
