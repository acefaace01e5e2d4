"""The training loop each Ray Train worker runs (`train_loop`), and its checkpoints.

One epoch: length-grouped batches (this worker's shard), fused AdamW with weight decay on all but
biases and LayerNorm (a classifier's new head at `head_lr_multiplier` times the rate; the loss
class-weighted on imbalanced labels: `ml.collapse`), warmup then linear/cosine decay, gradient accumulation, bf16
autocast on GPU. After each epoch (and every `checkpoint_every_steps` steps, if set) every
worker reports metrics, and rank 0 attaches a checkpoint: the model as `save_pretrained`
(safetensors + tokenizer) plus the optimizer, scheduler and position. A restarted worker
group (a lost worker, a restarted service) resumes from the latest checkpoint: same epoch,
same batch order, the batches already trained on skipped. Early stopping watches the
validation score (macro-F1 for classification, the completions' negative loss for generation:
`ml.tasks`, which holds everything that differs between the two) with a patience in epochs.

Every worker fetches its own inputs from the services, by content address (the dataset
version, the base model version) into its node's cache: no path of the trainer's is used, so
workers may run on any node. Rank 0 alone writes checkpoints (to the run's storage, through
Ray Train), sends progress (step, loss, learning rate, samples/s, its pid) to the job's
progress queue, and writes TensorBoard events, which it copies to the job's storage folder.

The worker receives one typed `LoopConfig` (the job's `TrainSpec` plus where its inputs
are); `train_loop` reads top to bottom as set-up (`_Training.__init__`), one epoch
(`run_epoch`), evaluate-and-report (`end_epoch`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tuneloop.ml import batching, collapse
from tuneloop.ml.board import Board
from tuneloop.ml.imagetask import ImageClassification
from tuneloop.ml.inputs import Inputs
from tuneloop.ml.modeling import ensure_pad
from tuneloop.ml.spec import CLASSIFICATION, GENERATION, IMAGE_CLASSIFICATION, TrainSpec
from tuneloop.ml.tasks import make_task, wrap_or_load

STATE = "state.pt"
_POSITION = ("epoch", "batch", "step", "best_score", "bad_epochs")
UNSCORED = -1e30  # the score of a checkpoint taken without validation (mid-epoch)


@dataclass(frozen=True)
class LoopConfig:
    """Everything a worker needs: the spec, the labels, and where to fetch the inputs from."""

    spec: TrainSpec
    labels: list[str]  # text-classification's, sorted; empty for text-generation
    dataset: str  # NAME@VERSION: its split files come from dataprep
    base_model: str  # NAME@VERSION: its files come from the registry
    services: dict[str, Any] = field(default_factory=dict)  # ClientSettings fields: how to reach them
    storage_url: str = ""  # the job's storage folder (checkpoints under ray/, TensorBoard under tensorboard/)
    threads: int = 1
    task: str = CLASSIFICATION  # or GENERATION: see ml.tasks
    progress: Any = None  # a ray.util.queue.Queue, set by the run's handle


def fetch_inputs(config: LoopConfig) -> tuple[Path, Path, Path]:
    """(folder with train.parquet and validation.parquet, base model folder, image cache), fetched
    by this worker into its node's cache (TUNELOOP_WORKER_CACHE, default the temp folder); an
    image dataset's train and validation images land in the image cache first."""
    from tuneloop.client import Client
    from tuneloop.client.settings import ClientSettings

    cache = Path(os.environ.get("TUNELOOP_WORKER_CACHE") or tempfile.gettempdir()) / "tuneloop-inputs"
    client = Client(settings=ClientSettings(**config.services), timeout=600)
    try:
        inputs = Inputs(lambda: client, cache)
        dataset = inputs.dataset(config.dataset)
        data_dir, _ = inputs.splits(dataset)
        if config.task == IMAGE_CLASSIFICATION:
            for split in ("train", "validation"):
                inputs.images(dataset, split)
        return data_dir, inputs.model_dir(inputs.model(config.base_model)), inputs.images_dir
    finally:
        client.close()


def _optimizer(model, lr: float, weight_decay: float, device: torch.device, *, head: set[int] | None = None,
               head_lr_multiplier: float = 1.0) -> torch.optim.Optimizer:
    """AdamW, fused on CPU and CUDA: one kernel over all parameters instead of a Python loop of
    per-tensor ops (on 2 CPU cores the step itself goes from ~90 ms to ~18 ms for MiniLM). The
    new head's parameters (`head`: their ids) learn `head_lr_multiplier` times faster."""
    groups: dict[tuple[bool, bool], list] = {(h, d): [] for h in (False, True) for d in (True, False)}
    for name, p in model.named_parameters():
        if p.requires_grad:
            no_decay = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
            groups[(id(p) in (head or set()), not no_decay)].append(p)
    return torch.optim.AdamW([{"params": params, "weight_decay": weight_decay if decay else 0.0,
                               "lr": lr * head_lr_multiplier if in_head else lr}
                              for (in_head, decay), params in groups.items() if params], lr=lr,
                             fused=device.type in ("cpu", "cuda") or None)


class _Progress:
    """Rank 0's side channel to the service: progress events and TensorBoard (`ml.board.Board`)."""

    def __init__(self, config: LoopConfig, rank: int) -> None:
        self.queue = config.progress if rank == 0 else None
        target = f"{config.storage_url.rstrip('/')}/tensorboard" if config.storage_url else ""
        self.board = Board(target) if rank == 0 and target else None

    def send(self, event: dict) -> None:
        if self.queue is not None:
            self.queue.put({**event, "pid": os.getpid(), "time": time.time()}, block=False)

    def scalars(self, step: int, values: dict) -> None:
        if self.board is not None:
            for key, value in values.items():
                self.board.writer.add_scalar(key, value, step)
            self.board.writer.flush()

    def sync(self) -> None:
        """Copy the event files to the job's storage (a restarted worker adds files, never overwrites)."""
        if self.board is not None:
            self.board.sync()

    def close(self) -> None:
        """The event files are in the job's storage (sync): the local copy goes."""
        if self.board is not None:
            self.board.discard()


def _save(model, task, path: Path, state: dict) -> None:
    task.save(getattr(model, "module", model), path / "model")
    torch.save(state, path / STATE)


class _Throughput:
    """Samples and tokens per second over steady steps: a process's first step pays one-off
    warm-up costs (and shares the cores with Ray Train's start-up), so it is left out."""

    def __init__(self) -> None:
        self.samples, self.tokens, self.seconds, self.warmed_up = 0, 0, 0.0, False

    def add(self, samples: int, tokens: int, seconds: float) -> None:
        if self.warmed_up:
            self.samples, self.tokens, self.seconds = self.samples + samples, self.tokens + tokens, self.seconds + seconds
        self.warmed_up = True

    def rates(self) -> tuple[float, float]:
        return (self.samples / self.seconds, self.tokens / self.seconds) if self.seconds else (0.0, 0.0)


def _make_task(config: LoopConfig, base_dir: Path, images_dir: Path, rank: int):
    """(the task, the pad token id: None for images)."""
    spec = config.spec
    if config.task == IMAGE_CLASSIFICATION:
        return ImageClassification(base_dir, images_dir, config.labels, spec.image_size, spec.seed + rank,
                                   augment=spec.augment), None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    ensure_pad(tokenizer)
    return make_task(config.task, tokenizer, config.labels, spec.max_length), tokenizer.pad_token_id


class _Training:
    """One worker's run: set up from the config (or the latest checkpoint), then epochs."""

    def __init__(self, config: LoopConfig) -> None:
        import ray.train
        import ray.train.torch

        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.spec, self.labels = config.spec, config.labels
        spec = self.spec
        torch.manual_seed(spec.seed)
        torch.set_num_threads(max(1, config.threads))
        self.progress = _Progress(config, self.rank)
        data, base_dir, images_dir = fetch_inputs(config)
        self.task, self.pad_id = _make_task(config, base_dir, images_dir, self.rank)
        self.ids, self.ys = self.task.examples(data / "train.parquet", spec.max_train_samples, spec.seed)
        self.val_ids, self.val_ys = self.task.examples(data / "validation.parquet", 0, spec.seed)
        self.lengths = self.task.lengths(self.ids)
        self.state: dict = {"epoch": 0, "batch": 0, "step": 0, "best_score": UNSCORED, "bad_epochs": 0}
        self.throughput = _Throughput()

        checkpoint = ray.train.get_checkpoint()
        # as_directory, not to_directory: a downloaded copy is removed once the weights are loaded
        # (to_directory left one in the temp folder at every resume: a model's size each time)
        with checkpoint.as_directory() if checkpoint is not None else contextlib.nullcontext() as found:
            ckpt_dir = Path(found) if found else None
            if ckpt_dir is not None:
                self.state = torch.load(ckpt_dir / STATE, weights_only=False)
            model = wrap_or_load(self.task, spec, base_dir, ckpt_dir / "model" if ckpt_dir else None, self.pad_id)
        if not spec.lora:
            self.task.freeze(model, spec.freeze_layers)
        self.model = ray.train.torch.prepare_model(model)
        self.device = ray.train.torch.get_device()
        self.autocast = spec.bf16 and self.device.type == "cuda"

        # the epoch's batch count is the same for every seed and epoch: only the order changes
        self.per_epoch = len(self._batches(0, seed=0))
        self._set_up_optimization()
        if ckpt_dir is not None:
            self.optimizer.load_state_dict(self.state["optimizer"])
            self.scheduler.load_state_dict(self.state["scheduler"])
            self.progress.send({"type": "resumed", "epoch": self.state["epoch"], "step": self.state["step"]})

    def _set_up_optimization(self) -> None:
        """The optimizer (the new head faster: `ml.collapse`), its schedule, and class weights."""
        from transformers import get_scheduler

        spec = self.spec
        total_steps = max(1, (self.per_epoch // spec.grad_accum) * spec.epochs)
        head = collapse.head_parameters(self.model) if self.task.new_head else set()
        self.optimizer = _optimizer(self.model, spec.learning_rate, spec.weight_decay, self.device, head=head,
                                    head_lr_multiplier=spec.head_lr_multiplier)
        self.scheduler = get_scheduler(spec.scheduler, self.optimizer, num_training_steps=total_steps,
                                       num_warmup_steps=int(spec.warmup_ratio * total_steps))
        weights = collapse.class_weights(self.ys, len(self.labels), spec.class_weight_ratio) \
            if spec.class_weighting and self.task.name != GENERATION else None
        self.class_weights = torch.tensor(weights, device=self.device) if weights else None
        if weights and self.rank == 0:
            self.progress.send({"type": "class_weights", "weights": dict(zip(self.labels, weights, strict=True))})

    def _batches(self, epoch: int, *, seed: int) -> list[list[int]]:
        grouped = batching.length_grouped_batches(self.lengths, self.spec.batch_size, seed=seed, epoch=epoch)
        return batching.shard(grouped, self.rank, self.world)

    def report(self, metrics: dict, *, with_checkpoint: bool) -> None:
        import ray.train

        saved = {k: self.state[k] for k in _POSITION}
        saved |= {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}
        if self.rank == 0 and with_checkpoint:
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                _save(self.model, self.task, Path(tmp), saved)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
                self.progress.send({"type": "checkpoint", "seconds": time.perf_counter() - started, **metrics})
        else:
            ray.train.report(metrics)

    def _step(self, batches: list[list[int]], b: int) -> tuple[float, int, int, float]:
        """Forward and backward on batch `b`; the optimizer steps every `grad_accum` batches.
        Returns the batch's loss, samples and tokens (all workers) and seconds."""
        spec, started, idx = self.spec, time.perf_counter(), batches[b]
        batch = {k: v.to(self.device) for k, v in self.task.collate([self.ids[i] for i in idx],
                                                                    [self.ys[i] for i in idx], self.pad_id).items()}
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            if self.class_weights is None:
                loss = self.model(**batch).loss / spec.grad_accum
            else:  # the model's own loss is unweighted
                labels = batch.pop("labels")
                logits = self.model(**batch).logits.float()
                loss = torch.nn.functional.cross_entropy(logits, labels, weight=self.class_weights) / spec.grad_accum
        loss.backward()
        if (b + 1) % spec.grad_accum == 0 or b + 1 == len(batches):
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        tokens = int(batch["attention_mask"].sum()) * self.world if "attention_mask" in batch else 0
        return loss.item() * spec.grad_accum, len(idx) * self.world, tokens, time.perf_counter() - started

    def run_epoch(self) -> float:
        """Train on this epoch's remaining batches; returns the mean training loss."""
        spec, state, epoch = self.spec, self.state, self.state["epoch"]
        batches = self._batches(epoch, seed=spec.seed)
        self.model.train()
        running, count = 0.0, 0
        for b in range(state["batch"], len(batches)):
            loss, samples, tokens, seconds = self._step(batches, b)
            state["batch"], state["step"] = b + 1, state["step"] + 1
            running, count = running + loss, count + 1
            self.throughput.add(samples, tokens, seconds)
            if state["step"] % spec.log_every == 0:
                self._log_step(running / count, seconds, samples, tokens)
            every = spec.checkpoint_every_steps
            if every and state["step"] % every == 0 and b + 1 < len(batches):
                # unscored so a mid-epoch checkpoint is never "best"; Ray keeps the latest for resume anyway
                self.report({"epoch": epoch, "step": state["step"], "train_loss": running / count,
                             "val_score": UNSCORED}, with_checkpoint=True)
        return running / max(count, 1)

    def _log_step(self, loss: float, seconds: float, samples: int, tokens: int) -> None:
        event = {"type": "step", "epoch": self.state["epoch"], "step": self.state["step"], "loss": loss,
                 "total_steps": self.per_epoch * self.spec.epochs,
                 "learning_rate": self.scheduler.get_last_lr()[0],
                 "samples_per_second": self.throughput.rates()[0],
                 "step_seconds": seconds, "step_samples": samples, "step_tokens": tokens}
        self.progress.send(event)
        self.progress.scalars(self.state["step"], {"train/loss": loss, "train/learning_rate": event["learning_rate"],
                                                   "train/samples_per_second": event["samples_per_second"]})

    def end_epoch(self, train_loss: float) -> bool:
        """Validate, report with a checkpoint, and tell whether early stopping ends the run."""
        state, epoch = self.state, self.state["epoch"]
        scores = self.task.validate(self.model, self.val_ids, self.val_ys, pad_id=self.pad_id, device=self.device,
                                    autocast=self.autocast, batch_size=max(32, self.spec.batch_size))
        improved = scores["val_score"] > state["best_score"]
        state["best_score"], state["bad_epochs"] = (scores["val_score"], 0) if improved else \
            (state["best_score"], state["bad_epochs"] + 1)
        state["epoch"], state["batch"] = epoch + 1, 0
        samples_per_second, tokens_per_second = self.throughput.rates()
        metrics = {"epoch": epoch, "step": state["step"], "train_loss": train_loss, **scores,
                   "samples_per_second": samples_per_second, "tokens_per_second": tokens_per_second}
        self.progress.send({"type": "epoch", **metrics})
        self.progress.scalars(state["step"], {f"val/{k.removeprefix('val_')}": v for k, v in scores.items()
                                              if k != "val_score"} | {"train/epoch_loss": train_loss})
        self.report(metrics, with_checkpoint=True)
        self.progress.sync()
        patience = self.spec.early_stopping_patience
        if patience and state["bad_epochs"] >= patience:
            self.progress.send({"type": "early_stop", "epoch": epoch, "best_score": state["best_score"]})
            return True
        return False


def train_loop(config: dict) -> None:
    """Ray Train's entry point; `config["loop"]` is the job's LoopConfig."""
    training = _Training(config["loop"])
    try:
        while training.state["epoch"] < training.spec.epochs:
            if training.end_epoch(training.run_epoch()):
                break
    finally:
        training.progress.close()
