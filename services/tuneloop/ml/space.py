"""A sweep's search space: which hyperparameters a sweep varies, and over what, checked before
anything runs.

A space is a mapping (a YAML or JSON file for the CLI, JSON on the wire) from a training option
to one of:

    learning_rate: {loguniform: [1.0e-5, 1.0e-3]}   # log-uniform between the bounds
    warmup_ratio:  {uniform: [0.0, 0.2]}
    epochs:        {randint: [1, 4]}                 # integers, both bounds included
    batch_size:    {choice: [8, 16, 32]}
    scheduler:     cosine                            # a constant: the same in every trial

Only the options in TUNABLE may vary. Every bound and choice is checked as a value of its option
(`TrainSpec`'s own limits: a negative learning rate is refused as the option itself would be),
a range must not be empty, and log-uniform needs positive bounds; each failure is
InvalidArgument naming the field (`space.learning_rate: ...`). This module knows nothing of Ray:
`trainer.tune` turns a checked `Space` into Tune's search space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuneloop.errors import InvalidArgument
from tuneloop.ml.spec import TrainSpec, make_spec

# the options a sweep may vary (the list, and the few others that shape learning)
TUNABLE = ("learning_rate", "freeze_layers", "epochs", "batch_size", "warmup_ratio", "weight_decay", "lora_rank",
           "lora_alpha", "lora_dropout", "head_lr_multiplier", "scheduler", "grad_accum")
KINDS = ("loguniform", "uniform", "randint", "choice")
SEARCHERS = ("random", "tpe")
SCHEDULERS = ("asha", "none")
# ASHA's: at each rung only the top half of the trials go on. Ray Tune's default is 4 (the top quarter);
# replayed on a 12-trial sweep's recorded curves in 200 trial orders, 2 saved as much on average (53%) and
# kept the best trial in 99% of them against 90% (bench/asha_replay.py, docs/benchmarks.md)
REDUCTION_FACTOR = 2
GRACE_PERIOD = 1  # ASHA's first rung, in epochs: no trial stops before it


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # one of KINDS, or "constant"
    values: tuple  # (low, high) for a range, the choices, or (value,) for a constant

    @property
    def largest(self) -> Any:
        """The largest value it can take (ranges and numeric choices): what a memory check assumes."""
        if self.kind in ("loguniform", "uniform", "randint"):
            return self.values[1]
        numbers = [v for v in self.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(numbers) if numbers else self.values[0]

    def describe(self) -> str:
        if self.kind == "constant":
            return f"{self.name} = {self.values[0]}"
        if self.kind == "choice":
            return f"{self.name} in {{{', '.join(map(str, self.values))}}}"
        return f"{self.name} ~ {self.kind}[{self.values[0]:g}, {self.values[1]:g}]"


@dataclass(frozen=True)
class Space:
    params: tuple[Param, ...]

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def get(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def to_json(self) -> dict:
        """The space as parsed (`parse` reads it back)."""
        return {p.name: p.values[0] if p.kind == "constant" else {p.kind: list(p.values)} for p in self.params}

    def constants(self) -> dict:
        return {p.name: p.values[0] for p in self.params if p.kind == "constant"}

    def max_epochs(self, base: TrainSpec) -> int:
        """The longest trial's epochs: ASHA's last rung."""
        param = self.get("epochs")
        return int(param.largest) if param is not None else base.epochs

    def largest_spec(self, spec: TrainSpec) -> TrainSpec:
        """`spec` with every varied option at its largest value: the trial a memory check should fear."""
        update = {p.name: p.largest for p in self.params if p.name in ("batch_size", "lora_rank", "grad_accum")}
        return spec.model_copy(update=update)


def _fail(name: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"invalid search space field {name}: {message}")


def _check_value(base: TrainSpec, name: str, value: Any) -> Any:
    """`value` as option `name` would take it (TrainSpec's type and limits), or InvalidArgument."""
    try:
        checked = make_spec(**(base.model_dump() | {name: value}))
    except InvalidArgument as exc:
        raise _fail(name, f"{value!r} is not a valid value ({exc.message})") from exc
    return getattr(checked, name)


def _param(base: TrainSpec, name: str, raw: Any) -> Param:
    if not isinstance(raw, dict):
        return Param(name, "constant", (_check_value(base, name, raw),))
    if len(raw) != 1 or (kind := next(iter(raw))) not in KINDS:
        raise _fail(name, f"expected one of {', '.join(KINDS)} (as {{kind: values}}) or a constant, got {raw!r}")
    values = raw[kind]
    if not isinstance(values, (list, tuple)) or not values:
        raise _fail(name, f"{kind} needs a non-empty list, got {values!r}")
    if kind == "choice":
        return Param(name, kind, tuple(_check_value(base, name, v) for v in values))
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise _fail(name, f"{kind} needs [low, high] as two numbers, got {values!r}")
    low, high = (_check_value(base, name, v) for v in values)
    if kind == "randint" and not all(float(v).is_integer() for v in values):
        raise _fail(name, f"randint needs whole-number bounds, got {values!r}")
    if isinstance(low, str) or isinstance(high, str):
        raise _fail(name, f"{kind} needs a numeric option; use choice for {name}")
    if (high < low) if kind == "randint" else (high <= low):
        raise _fail(name, f"the range [{low:g}, {high:g}] is empty (low must be below high)")
    if kind == "loguniform" and low <= 0:
        raise _fail(name, f"loguniform needs positive bounds, got [{low:g}, {high:g}]")
    return Param(name, kind, (low, high))


def parse(raw: Any, base: TrainSpec) -> Space:
    """The checked space of `raw` (a mapping), for jobs built on `base` (the sweep's fixed options)."""
    if not isinstance(raw, dict) or not raw:
        raise InvalidArgument("invalid search space: expected a non-empty mapping of option to range, "
                              f"got {type(raw).__name__ if raw else 'nothing'}")
    unknown = sorted(str(k) for k in raw if k not in TUNABLE)
    if unknown:
        raise _fail(unknown[0], f"not a tunable option (tunable: {', '.join(TUNABLE)})")
    space = Space(tuple(_param(base, name, value) for name, value in raw.items()))
    if all(p.kind == "constant" for p in space.params):
        raise InvalidArgument("invalid search space: every option is a constant; give at least one a range or "
                              "a choice (constants alone are a training job: tuneloop train)")
    if space.get("lora_rank") is not None and base.lora is False:
        raise _fail("lora_rank", "the sweep trains the model's weights, not LoRA adapters (set lora, or drop it)")
    return space


def apply(base: TrainSpec, values: dict) -> TrainSpec:
    """A trial's spec: `base` with the trial's sampled `values` (checked again as a whole)."""
    return make_spec(**(base.model_dump() | values))


def _whole(request: dict, name: str, default: int) -> int:
    """`request[name]` as an integer (unset: `default`); anything else is InvalidArgument naming it."""
    value = request.get(name) or default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise InvalidArgument(f"invalid sweep {name}: {value!r} is not a whole number")
    return int(value)


def check_sweep(request: dict, base: TrainSpec) -> dict:
    """A sweep request (`space`, `trials`, `max_concurrent`, `searcher`, `scheduler`, `seed`,
    `reduction_factor`, `grace_period`) checked and filled in: what a sweep job stores, its space
    as parsed."""
    trials = _whole(request, "trials", 0)
    if not 1 <= trials <= 1000:
        raise InvalidArgument(f"invalid sweep trials: {trials} (a sweep runs 1 to 1000 trials)")
    concurrent = _whole(request, "max_concurrent", 1)
    if not 1 <= concurrent <= 256:
        raise InvalidArgument(f"invalid sweep max_concurrent: {concurrent} (1 to 256)")
    searcher = request.get("searcher") or "random"
    if searcher not in SEARCHERS:
        raise InvalidArgument(f"invalid sweep searcher: {searcher!r} (one of {', '.join(SEARCHERS)})")
    scheduler = request.get("scheduler") or "asha"
    if scheduler not in SCHEDULERS:
        raise InvalidArgument(f"invalid sweep scheduler: {scheduler!r} (one of {', '.join(SCHEDULERS)})")
    factor = _whole(request, "reduction_factor", REDUCTION_FACTOR)
    if not 2 <= factor <= 16:
        raise InvalidArgument(f"invalid sweep reduction_factor: {factor} (2 to 16: ASHA keeps the top 1/factor "
                              "of the trials at each rung)")
    space = parse(request.get("space"), base)
    grace, longest = _whole(request, "grace_period", GRACE_PERIOD), space.max_epochs(base)
    if grace < 1 or (scheduler == "asha" and 1 < longest <= grace):
        raise InvalidArgument(f"invalid sweep grace_period: {grace} (ASHA's first rung, in epochs: at least 1 and "
                              f"before the longest trial's last epoch, {longest})")
    return {"space": space.to_json(), "trials": trials, "max_concurrent": min(concurrent, trials),
            "searcher": searcher, "scheduler": scheduler, "seed": _whole(request, "seed", 0),
            "reduction_factor": factor, "grace_period": grace}
