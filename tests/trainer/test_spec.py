"""The training spec is the one source of every training option: the proto, the CLI flags and
a policy's train options all follow it, and contradictory options are refused."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tuneloop.cli import app
from tuneloop.controller.policy import make_policy
from tuneloop.errors import InvalidArgument
from tuneloop.ml.spec import HYPERPARAMETERS, TrainSpec, make_spec
from tuneloop.trainer.servicer import spec_from_proto
from tuneloop.v1 import trainer_pb2

INPUTS = {"dataset": "d", "base_model": "b", "model": "m"}


def test_the_proto_carries_exactly_the_spec_fields():
    assert {f.name for f in trainer_pb2.TrainSpec.DESCRIPTOR.fields} == set(TrainSpec.model_fields)


def test_proto_to_spec_keeps_set_fields_and_defaults_the_rest():
    spec = spec_from_proto(trainer_pb2.TrainSpec(**INPUTS, epochs=7, lora=True, scheduler="cosine"))
    assert (spec.epochs, spec.lora, spec.scheduler, spec.batch_size) == (7, True, "cosine", 16)


def test_lora_with_freeze_layers_is_refused_naming_both():
    with pytest.raises(InvalidArgument, match="lora and freeze_layers cannot be combined"):
        make_spec(**INPUTS, lora=True, freeze_layers=2)
    with pytest.raises(InvalidArgument, match="lora and freeze_layers"):
        make_policy(**INPUTS, train={"lora": True, "freeze_layers": 2})
    with pytest.raises(InvalidArgument, match="invalid training spec epochs"):
        make_spec(**INPUTS, epochs=0)


def test_a_head_rate_above_one_is_refused_naming_both_options():
    assert make_spec(**INPUTS).head_lr_multiplier * make_spec(**INPUTS).learning_rate == pytest.approx(2e-2)
    with pytest.raises(InvalidArgument, match=r"learning_rate 0.003 x head_lr_multiplier 1000 gives the new head "
                                              r"a learning rate of 3, above 1"):
        make_spec(**INPUTS, learning_rate=3e-3)
    assert make_spec(**INPUTS, learning_rate=3e-3, head_lr_multiplier=1).head_lr_multiplier == 1
    for bad in ({"head_lr_multiplier": 0.5}, {"class_weight_ratio": 0.9}):
        with pytest.raises(InvalidArgument, match=next(iter(bad))):
            make_spec(**INPUTS, **bad)


def test_a_policy_takes_every_training_option_and_nothing_else():
    make_policy(**INPUTS, train={"weight_decay": 0.0, "grad_accum": 2, "bf16": False})
    with pytest.raises(InvalidArgument, match="unknown option.*bogus"):
        make_policy(**INPUTS, train={"bogus": 1})


@pytest.mark.parametrize("command", [["train"], ["loop", "create"], ["demo"]])
def test_every_command_that_trains_has_a_flag_per_option(command):
    out = CliRunner().invoke(app, [*command, "--help"], terminal_width=200).output
    for name in HYPERPARAMETERS:
        assert f"--{name.replace('_', '-')}" in out, (command, name)
    assert "Peak learning rate" in out  # help text from the field's description
