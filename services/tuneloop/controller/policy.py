"""A retraining policy: what to watch, what to train, when, and how a candidate must win."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tuneloop.core.validation import build
from tuneloop.ml.space import check_sweep
from tuneloop.ml.spec import check_options, make_spec


class PolicySpec(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}

    dataset: str = Field(min_length=1, description="dataset NAME to watch")
    base_model: str = Field(min_length=1, description="NAME[@VERSION|:ALIAS] to fine-tune")
    model: str = Field(min_length=1, description="output model; its `champion` alias is what the loop keeps")
    continue_from_champion: bool = Field(default=False, description="train from the current champion when one exists")
    train: dict = Field(default_factory=dict, description="training options, as `tuneloop train` takes them")
    sweep: dict | None = Field(default=None, description="retrain with a small hyperparameter sweep instead of the "
                               "fixed options: {space: {option: range}, trials: N, max_concurrent, searcher, "
                               "scheduler, reduction_factor, grace_period} as `tuneloop sweep` takes them (the train "
                               "options fix the rest)")
    min_new_rows: int = Field(default=1, ge=1, description="new rows since the champion's dataset that start a run")
    every_seconds: float = Field(default=0, ge=0, description="also retrain on a schedule; 0 off")
    drift_threshold: float = Field(default=0, ge=0, le=1, description="label shift of a new version that starts a "
                                   "run even below min_new_rows; 0 off")
    live_min_accuracy: float = Field(default=0, ge=0, le=1, description="retrain when the champion's accuracy on "
                                     "live feedback (serving's window) falls below this; 0 off")
    live_alpha: float = Field(default=0, ge=0, lt=1, description="retrain when the champion's live accuracy is "
                              "significantly below its offline test accuracy (one-sided binomial test at this "
                              "level); 0 off")
    live_min_feedback: int = Field(default=30, ge=1, description="feedback rows the live window needs before "
                                   "either live check may fire")
    shadow_requests: int = Field(default=0, ge=0, description="before promoting over a champion, the candidate "
                                 "answers this many requests as the `shadow` (0: no request count)")
    shadow_seconds: float = Field(default=0, ge=0, description="... and shadows for at least this long (0: no time); "
                                  "both 0: promote without a shadow period")
    shadow_min_feedback: int = Field(default=0, ge=0, description="... and until this many of the requests it "
                                     "shadowed have feedback")
    shadow_max_drop: float = Field(default=0, ge=0, le=1, description="how far the candidate's accuracy on feedback "
                                   "during its shadow period may fall below the champion's on the same requests")
    min_improvement: float = 0.0
    alpha: float = Field(default=0.05, gt=0, lt=1)
    max_class_drop: float = Field(default=0.05, ge=0)
    min_f1: float = Field(default=0.0, ge=0, le=1, description="floor for the first champion's test score "
                          "(macro-F1; ROUGE-L for text-generation)")


def make_policy(**values) -> PolicySpec:
    spec = build(PolicySpec, "policy", **values)
    check_options(spec.train, "policy train options")
    train = make_spec(dataset=spec.dataset, base_model=spec.base_model, model=spec.model, **spec.train)  # as a job's
    if spec.sweep is not None:  # the space's own checks now; what depends on the model, when a run submits it
        return spec.model_copy(update={"sweep": check_sweep(spec.sweep, train)})
    return spec
