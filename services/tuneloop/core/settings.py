"""Typed settings, read from `TUNELOOP_*` environment variables and overridden by CLI flags.

`ServerSettings` holds what every service shares (where it listens, where it stores
things, TLS and auth); each service adds its own object with its own prefix, e.g.
`DataprepSettings` reads `TUNELOOP_DATAPREP_*`. Every field is documented by its
`description`, which `tuneloop settings` prints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    """How a tuneloop process listens and where it keeps its state."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_", extra="ignore")

    data_dir: Path = Field(
        default=Path.home() / ".tuneloop",
        description="Folder for the embedded defaults: the SQLite file and local artifacts.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database; default sqlite:///<data_dir>/tuneloop.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    db_migrate: bool = Field(default=True, description="Migrate the database schema at start (one process at a "
                             "time); false: only check it is current, as on Kubernetes, where a hook Job migrates.")
    db_pool_size: int = Field(default=10, ge=1, le=1000, description="PostgreSQL connections a process keeps open.")
    db_max_overflow: int = Field(default=20, ge=0, le=1000, description="PostgreSQL connections a process may open "
                                 "past db_pool_size under load.")
    artifact_url: str | None = Field(
        default=None,
        description="Folder or fsspec URL (s3://, gs://, file://) for artifacts; default <data_dir>/artifacts.",
    )
    gc_grace_seconds: float = Field(
        default=86400.0, ge=0, description="Files a failed or killed write left in storage are removed once they are "
        "this old (younger ones may belong to a write in flight).")
    gc_every_seconds: float = Field(default=3600.0, gt=0, description="How often dataprep and the registry look "
                                    "for such files (and once at start).")
    storage_check_seconds: float = Field(
        default=15.0, gt=0, le=3600, description="How often services that keep artifacts check that the storage "
        "answers; while it does not, they report NOT_SERVING on health.")
    address: str = Field(default="127.0.0.1:50051", description="gRPC bind address HOST:PORT.")
    metrics_port: int | None = Field(
        default=None, description="Port of the Prometheus /metrics endpoint; unset disables it."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Bind host of the metrics endpoint.")
    workers: int = Field(default=8, ge=1, le=256, description="gRPC worker threads.")
    max_streams: int = Field(
        default=256, ge=1, le=4096, description="Streaming calls open at once (watches, uploads, downloads); each "
        "has a thread of its own beside the `workers`, so streams never starve other calls. RESOURCE_EXHAUSTED past it.")
    max_streams_per_client: int = Field(
        default=100, ge=1, le=4096, description="Streaming calls one client address may hold open at once.")
    upload_idle_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="An upload that sends nothing for this long is ended "
        "(DEADLINE_EXCEEDED) and what it sent is discarded.")
    max_message_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest gRPC message accepted or sent."
    )
    max_connection_age_seconds: float = Field(
        default=300.0, gt=0, description="A client connection is asked to go (GOAWAY, its open calls finish) after "
        "this long, so clients resolve the service's name again and spread over pods started since.")
    tls_cert_file: Path | None = Field(default=None, description="PEM certificate; with the key, enables TLS.")
    tls_key_file: Path | None = Field(default=None, description="PEM private key for TLS.")
    auth_token: str | None = Field(
        default=None, description="When set, every call must send `authorization: Bearer <token>`."
    )
    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, description="How long in-flight calls may finish after SIGTERM."
    )

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tuneloop.db'}"

    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.data_dir / "artifacts")


class DataprepSettings(BaseSettings):
    """Limits and defaults of the dataprep service."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_DATAPREP_", extra="ignore")

    max_upload_bytes: int = Field(
        default=2 * 1024**3, ge=1, description="Largest file accepted by ingest/append, as sent and once "
        "decompressed (a compressed CSV, a Parquet file's columns); RESOURCE_EXHAUSTED beyond."
    )
    max_rows: int = Field(default=20_000_000, ge=1, description="Most rows one upload may hold (RESOURCE_EXHAUSTED "
                          "beyond).")
    max_text_bytes: int = Field(default=1_000_000, ge=1, description="Longest text or label cell, in UTF-8 bytes "
                                "(RESOURCE_EXHAUSTED beyond).")
    read_batch_rows: int = Field(default=1000, ge=1, le=100_000, description="Default rows per ReadSplit message.")
    near_num_perm: int = Field(default=64, ge=16, le=512, description="MinHash permutations for near-dup removal.")
    max_image_pixels: int = Field(default=50_000_000, ge=1, description="Largest image (width x height) an "
                                  "image dataset keeps; a bigger one is dropped as too_many_pixels, never decoded.")
    max_archive_members: int = Field(default=200_000, ge=1, description="Most members an uploaded zip or tar may "
                                     "hold (INVALID_ARGUMENT beyond).")


class RegistrySettings(BaseSettings):
    """Limits of the registry service."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_REGISTRY_", extra="ignore")

    max_artifact_bytes: int = Field(
        default=20 * 1024**3, ge=1, description="Largest version (all files) accepted (RESOURCE_EXHAUSTED beyond)."
    )
    chunk_bytes: int = Field(default=4 << 20, ge=4096, le=8 << 20, description="Bytes per download message.")
    poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="WatchEvents re-reads the event table at least this often "
        "(writes by this process wake it at once)."
    )


class TrainerSettings(BaseSettings):
    """Where and how the trainer runs jobs."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_TRAINER_", extra="ignore")

    backend: Literal["ray", "rayjob"] = Field(
        default="ray", description="How jobs run: `ray`, on a local Ray (or, with ray_address, as Ray jobs on that "
        "cluster); `rayjob`, each as a KubeRay RayJob with a Ray cluster of its own (see RayJobSettings).")
    ray_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TUNELOOP_RAY_ADDRESS", "TUNELOOP_TRAINER_RAY_ADDRESS"),
        description="Ray cluster to train on: its dashboard's Jobs API, e.g. http://raycluster-head:8265 (each job "
        "is submitted as a Ray job); unset: a local Ray on loopback. Env TUNELOOP_RAY_ADDRESS.",
    )
    ray_python: str = Field(default=sys.executable, description="The Python the Ray job's driver runs with on the "
                            "cluster (the image's: the same path as the trainer's by default).")
    worker_services_address: str | None = Field(
        default=None, description="Where Ray workers reach the services (they fetch their inputs themselves); "
        "unset: the address the trainer itself uses.")
    ray_connect_seconds: float = Field(
        default=300, gt=0, le=3600, description="How long a job keeps retrying an unreachable Ray cluster (a "
        "KubeRay head not up yet) before it fails.",
    )
    worker_memory_gb: float = Field(
        default=0, ge=0, description="Memory of one training worker (GPU memory for GPU jobs): a job whose estimated "
        "peak exceeds it is refused with RESOURCE_EXHAUSTED. 0: with a local Ray, this machine's memory shared by "
        "the job's workers; with a remote cluster, unchecked.")

    @field_validator("ray_address")
    @classmethod
    def _jobs_api(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r}: give the Ray dashboard's http(s)://HOST:8265 address; jobs are submitted "
                             "through the Ray Jobs API (Ray Client, ray://, is not used for training)")
        return value or None

    @model_validator(mode="after")
    def _one_backend(self) -> TrainerSettings:
        if self.backend == "rayjob" and self.ray_address:
            raise ValueError("TUNELOOP_TRAINER_BACKEND=rayjob gives each job its own Ray cluster: unset "
                             "TUNELOOP_RAY_ADDRESS (a shared cluster's Jobs API is the `ray` backend)")
        return self

    max_running: int = Field(default=1, ge=1, le=64, description="Jobs running at once; the rest wait QUEUED.")
    max_failures: int = Field(default=3, ge=0, le=100, description="Worker-group restarts a job survives (resumes "
                              "from its last checkpoint each time).")
    threads_per_worker: int = Field(default=2, ge=1, le=256, description="torch threads per Ray worker on CPU.")
    poll_seconds: float = Field(default=1.0, gt=0, le=60, description="How often the dispatcher and WatchJob re-read "
                                "the job tables (changes in this process wake them at once).")


class RayJobSettings(BaseSettings):
    """The `rayjob` trainer backend: one KubeRay RayJob per training job, through the Kubernetes API."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_RAYJOB_", extra="ignore")

    template: Path | None = Field(
        default=None, description="YAML of a RayJob whose spec.rayClusterSpec has the Ray pods (image, storage "
        "settings, resources) and worker groups named `cpu` and `gpu`; each job's copy gets its entrypoint, its name "
        "and labels, and the group its spec asks for sized to its workers (the Helm chart mounts one).")
    namespace: str | None = Field(default=None, description="Namespace of the RayJobs; unset: the trainer pod's own "
                                  "(its service account's), else `default`.")
    kubeconfig: Path | None = Field(default=None, description="kubeconfig to reach the API server with; unset: the "
                                    "pod's service account in a cluster, else $KUBECONFIG or ~/.kube/config.")
    submission_mode: Literal["K8sJobMode", "HTTPMode", "SidecarMode"] = Field(
        default="SidecarMode", description="How KubeRay submits the job: SidecarMode (KubeRay >= 1.5) runs the "
        "submitter in the head pod, with no second pod to schedule or image to pull, and KubeRay reads its state "
        "from the pod instead of polling the dashboard.")
    ttl_seconds: int = Field(default=60, ge=0, le=86400, description="ttlSecondsAfterFinished: how long the job's "
                             "Ray cluster (and its GPUs) outlives the job; shutdownAfterJobFinishes is always on.")
    active_deadline_seconds: int | None = Field(default=None, gt=0, description="Fail a job still running after "
                                                "this long (activeDeadlineSeconds); unset: no limit.")
    watch_seconds: float = Field(default=15, gt=0, le=300, description="How long one watch of the RayJob lasts "
                                 "before it is resumed (and the job's progress files are read again).")
    auth: bool = Field(default=True, description="Ray token authentication on the job's cluster (authOptions "
                       "mode=token: KubeRay >= 1.5.1 makes the token and gives it to every Ray pod).")


class ControllerSettings(BaseSettings):
    """The controller's reconcile loop and leader lease."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_CONTROLLER_", extra="ignore")

    enabled: bool = Field(default=True, description="Run the reconcile loop in this process.")
    poll_seconds: float = Field(default=2.0, gt=0, le=300, description="Time between reconcile passes (changes "
                                "made through this process wake it sooner).")
    lease_seconds: float = Field(default=60.0, gt=1, le=3600, description="How long the leader lease lasts "
                                 "unrenewed (it is renewed before every step); a dead leader is replaced after this.")


class ServingSettings(BaseSettings):
    """The serving service: micro-batching and how many versions stay loaded."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_SERVING_", extra="ignore")

    max_batch: int = Field(default=32, ge=1, le=1024, description="Requests run together in one batch, at most.")
    max_wait_ms: float = Field(default=5.0, ge=0, le=1000, description="How long a batch waits after its first "
                               "request for others to join (a lone request is answered after at most this).")
    cpu_batch_tokens: int = Field(default=2048, ge=0, le=1 << 20, description="On a CPU, a text classifier runs "
                                  "a batch in forward passes of at most this many padded tokens (requests x the "
                                  "longest, shortest first): a CPU is fastest at 1-2k tokens a pass, about 20% "
                                  "faster than 32 x 256 at once. 0: the whole batch in one pass. A GPU runs it whole.")
    max_queue: int = Field(default=256, ge=1, le=100_000, description="Requests waiting per loaded version; past "
                           "it a request is refused with RESOURCE_EXHAUSTED (never an unbounded queue).")
    max_loaded: int = Field(default=4, ge=1, le=64, description="Model versions kept loaded; past it the least "
                            "recently used `MODEL@VERSION` route that has no request in flight is unloaded.")
    max_input_chars: int = Field(default=100_000, ge=1, description="Longest text accepted (longer: "
                                 "INVALID_ARGUMENT); a text within it but over the model's token limit is cut, "
                                 "and the answer says `truncated`.")
    max_image_bytes: int = Field(default=20 << 20, ge=1, description="Largest encoded image accepted.")
    default_alias: str = Field(default="champion", description="The alias a bare `MODEL` means.")
    request_timeout_seconds: float = Field(default=120.0, gt=0, description="How long a request waits for its "
                                           "batch's answer (DEADLINE_EXCEEDED past it).")
    log_sample: float = Field(default=1.0, ge=0, le=1, description="Share of predictions written to the prediction "
                              "log with their inputs (only those can get feedback); 0 logs none.")
    live_window: int = Field(default=500, ge=1, le=100_000, description="Latest feedback rows per version that live "
                             "accuracy and macro-F1 are computed on (the sliding window).")
    drift_seconds: float = Field(default=30.0, gt=0, description="How often the live accuracy and drift gauges of "
                                 "the loaded versions are refreshed.")
    log_max_pending: int = Field(default=10_000, ge=1, description="Predictions waiting to be written to the log; "
                                 "past it they go unlogged (counted), and requests never wait for the database.")
