"""Sweep search spaces (ml.space): what a sweep may vary and over what, refused with the field
named before anything runs; and the trial records a sweep job keeps (trainer.publish.fold_trial)."""

from __future__ import annotations

import pytest

from tuneloop.errors import InvalidArgument
from tuneloop.ml import space
from tuneloop.ml.spec import make_spec
from tuneloop.trainer.publish import fold_trial

BASE = make_spec(dataset="d", base_model="b", model="m")
ISSUE_SPACE = {"learning_rate": {"loguniform": [1e-5, 1e-3]}, "freeze_layers": {"choice": [0, 2, 4]},
               "epochs": {"randint": [1, 4]}, "batch_size": {"choice": [8, 16, 32]},
               "warmup_ratio": {"uniform": [0.0, 0.2]}, "weight_decay": {"uniform": [0.0, 0.1]}}


def test_the_issues_space_parses_and_round_trips():
    parsed = space.parse(ISSUE_SPACE, BASE)
    assert parsed.names() == list(ISSUE_SPACE)
    assert space.parse(parsed.to_json(), BASE) == parsed
    assert parsed.get("epochs").largest == 4 and parsed.get("batch_size").largest == 32
    assert parsed.largest_spec(BASE).batch_size == 32
    assert parsed.get("learning_rate").describe() == "learning_rate ~ loguniform[1e-05, 0.001]"


def test_lora_rank_is_tunable_for_a_lora_job():
    lora = make_spec(dataset="d", base_model="b", model="m", lora=True)
    assert space.parse({"lora_rank": {"choice": [4, 8, 16]}}, lora).get("lora_rank").largest == 16
    with pytest.raises(InvalidArgument, match="field lora_rank: the sweep trains the model's weights"):
        space.parse({"lora_rank": {"choice": [4, 8]}}, make_spec(dataset="d", base_model="b", model="m", lora=False))


@pytest.mark.parametrize(("raw", "field", "says"), [
    ({"learning_rat": {"uniform": [0.1, 0.2]}}, "learning_rat", "not a tunable option"),
    ({"dataset": "other"}, "dataset", "not a tunable option"),
    ({"learning_rate": {"loguniform": [-1e-3, 1e-3]}}, "learning_rate", "-0.001 is not a valid value"),
    ({"learning_rate": {"uniform": [1e-3, 1e-4]}}, "learning_rate", "is empty"),
    ({"warmup_ratio": {"uniform": [0.1, 0.1]}}, "warmup_ratio", "is empty"),
    ({"epochs": {"randint": [3, 2]}}, "epochs", "is empty"),
    ({"epochs": {"randint": [1.5, 3]}}, "epochs", "is not a valid value|whole-number"),
    ({"batch_size": {"choice": []}}, "batch_size", "non-empty list"),
    ({"batch_size": {"choice": [8, 0]}}, "batch_size", "0 is not a valid value"),
    ({"weight_decay": {"loguniform": [0, 0.1]}}, "weight_decay", "positive bounds"),
    ({"scheduler": {"choice": ["linear", "step"]}}, "scheduler", "'step' is not a valid value"),
    ({"scheduler": {"uniform": [0, 1]}}, "scheduler", "is not a valid value"),
    ({"learning_rate": {"normal": [0, 1]}}, "learning_rate", "expected one of loguniform"),
    ({"learning_rate": {"uniform": [1e-4]}}, "learning_rate", "two numbers"),
])
def test_a_malformed_space_names_the_field(raw, field, says):
    with pytest.raises(InvalidArgument, match=f"field {field}: .*({says})"):
        space.parse(raw, BASE)


def test_an_empty_space_and_bad_sweep_settings_are_refused():
    with pytest.raises(InvalidArgument, match="non-empty mapping"):
        space.parse({}, BASE)
    with pytest.raises(InvalidArgument, match="every option is a constant"):
        space.parse({"epochs": 2}, BASE)
    good = {"space": {"learning_rate": {"loguniform": [1e-5, 1e-3]}}, "trials": 4}
    assert space.check_sweep(good, BASE) == {"space": good["space"], "trials": 4, "max_concurrent": 1,
                                             "searcher": "random", "scheduler": "asha", "seed": 0,
                                             "reduction_factor": 2, "grace_period": 1}
    for bad, says in [({"trials": 0}, "sweep trials: 0"), ({"searcher": "grid"}, "searcher: 'grid'"),
                      ({"scheduler": "pbt"}, "scheduler: 'pbt'"), ({"max_concurrent": -1}, "max_concurrent"),
                      ({"trials": "many"}, "sweep trials: 'many' is not a whole number"),
                      ({"seed": 1.5}, "sweep seed: 1.5 is not a whole number"),
                      ({"reduction_factor": 1}, "sweep reduction_factor: 1 [(]2 to 16"),
                      ({"reduction_factor": 2.5}, "sweep reduction_factor: 2.5 is not a whole number"),
                      ({"grace_period": -1}, "sweep grace_period: -1 [(]ASHA's first rung"),
                      # BASE trains 3 epochs: a first rung at the third stops nothing
                      ({"grace_period": 3}, "grace_period: 3 .* before the longest trial's last epoch, 3")]:
        with pytest.raises(InvalidArgument, match=says):
            space.check_sweep(good | bad, BASE)
    # without early stopping the first rung is moot; a space's longest trial sets the bound
    assert space.check_sweep(good | {"grace_period": 3, "scheduler": "none"}, BASE)["grace_period"] == 3
    longer = {"learning_rate": {"loguniform": [1e-5, 1e-3]}, "epochs": {"choice": [2, 8]}}
    assert space.check_sweep(good | {"space": longer, "grace_period": 7}, BASE)["grace_period"] == 7


def test_a_trial_that_makes_the_spec_inconsistent_is_refused_at_apply():
    with pytest.raises(InvalidArgument, match="head_lr_multiplier"):
        space.apply(BASE, {"learning_rate": 1e-2})  # x1000: the head would learn at 10
    assert space.apply(BASE, {"learning_rate": 1e-4, "epochs": 2}).epochs == 2


def test_trial_events_fold_into_records():
    trials: list[dict] = []
    fold_trial(trials, {"type": "trial_started", "trial": "t1", "config": {"learning_rate": 1e-4}})
    fold_trial(trials, {"type": "trial_result", "trial": "t1", "epoch": 0, "val_score": 0.5, "seconds": 3.0})
    fold_trial(trials, {"type": "trial_result", "trial": "t1", "epoch": 1, "val_score": 0.4, "seconds": 6.0})
    assert trials == [{"trial": "t1", "state": "RUNNING", "config": {"learning_rate": 1e-4}, "best_score": 0.5,
                       "epochs": 2, "seconds": 6.0, "error": ""}]
    fold_trial(trials, {"type": "trial_ended", "trial": "t1", "state": "STOPPED", "config": {"learning_rate": 1e-4},
                        "best_score": 0.5, "epochs": 2, "seconds": 6.5, "error": ""})
    fold_trial(trials, {"type": "trial_failed", "trial": "t2", "state": "ERROR", "config": {}, "best_score": -1e30,
                        "epochs": 0, "seconds": 0.0, "error": "boom"})
    assert [(t["trial"], t["state"], t["seconds"]) for t in trials] == [("t1", "STOPPED", 6.5), ("t2", "ERROR", 0.0)]
