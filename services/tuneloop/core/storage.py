"""One storage setting for the whole system: a local folder, or `s3://bucket/prefix` on any
S3-compatible store (AWS, MinIO, Ceph, moto).

Dataset versions and registry blobs go through fsspec (s3fs for S3); Ray Train's
checkpoints through a pyarrow filesystem, which is what Ray Train takes as
`storage_filesystem`. Both are made here from the same `StorageSettings`, so the endpoint,
region, credentials and addressing style are set once. Every process that touches
storage (a service, a Ray worker on another node) builds them from its own environment:
credentials never travel inside a job.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StorageSettings(BaseSettings):
    """How to reach an S3-compatible store (unused for a local folder)."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_S3_", extra="ignore")

    endpoint_url: str | None = Field(
        default=None, description="S3 endpoint, e.g. http://minio:9000; unset: AWS (or AWS_ENDPOINT_URL).")
    region: str | None = Field(default=None, description="S3 region; unset: AWS_REGION / AWS_DEFAULT_REGION.")
    access_key_id: SecretStr | None = Field(
        default=None, description="Access key; unset: the standard AWS chain (AWS_ACCESS_KEY_ID, a profile, IRSA).")
    secret_access_key: SecretStr | None = Field(default=None, description="Secret key, with the access key.")
    path_style: bool | None = Field(
        default=None, description="Path-style addressing (http://host/bucket/key), as MinIO and Ceph want; "
        "unset: on when an endpoint is set, off for AWS.")

    def endpoint(self) -> str | None:
        return self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")

    def region_name(self) -> str | None:
        return self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    def uses_path_style(self) -> bool:
        return self.path_style if self.path_style is not None else self.endpoint() is not None

    def _keys(self) -> tuple[str | None, str | None]:
        key = self.access_key_id.get_secret_value() if self.access_key_id else None
        secret = self.secret_access_key.get_secret_value() if self.secret_access_key else None
        return key, secret


def is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def fsspec_options(url: str, settings: StorageSettings | None = None) -> dict[str, Any]:
    """Keyword arguments for `fsspec.filesystem` / `url_to_fs` of `url`."""
    if urlparse(url).scheme not in ("s3", "s3a"):
        return {}
    s = settings or StorageSettings()
    key, secret = s._keys()
    options: dict[str, Any] = {"client_kwargs": {}, "config_kwargs": {}}
    if key:
        options |= {"key": key, "secret": secret}
    if s.endpoint():
        options["endpoint_url"] = s.endpoint()
    if s.region_name():
        options["client_kwargs"]["region_name"] = s.region_name()
    if s.uses_path_style():
        options["config_kwargs"]["s3"] = {"addressing_style": "path"}
    return options


def open_fs(url: str, settings: StorageSettings | None = None):
    """(fsspec filesystem, root path inside it) for a folder or URL."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url, **fsspec_options(url, settings))
    return fs, root.rstrip("/")


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


def ray_storage(url: str, settings: StorageSettings | None = None) -> tuple[str, Any]:
    """(storage_path, storage_filesystem) for Ray Train's RunConfig: a local folder as it is
    (filesystem None), an S3 URL as `bucket/prefix` on a pyarrow S3FileSystem."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return os.path.abspath(parsed.path if parsed.scheme else url), None
    if parsed.scheme not in ("s3", "s3a"):
        return url, None  # gs://, abfs://...: Ray Train resolves these itself
    from pyarrow import fs as pafs

    s = settings or StorageSettings()
    key, secret = s._keys()
    endpoint = s.endpoint()
    options: dict[str, Any] = {"region": s.region_name() or "us-east-1",
                               "force_virtual_addressing": not s.uses_path_style()}
    if key:
        options |= {"access_key": key, "secret_key": secret}
    if endpoint:
        target = urlparse(endpoint)
        options |= {"endpoint_override": target.netloc or endpoint, "scheme": target.scheme or "https"}
    return f"{parsed.netloc}{parsed.path}".rstrip("/"), pafs.S3FileSystem(**options)


def check_reachable(url: str, settings: StorageSettings | None = None) -> None:
    """Raise Unavailable, naming `url` and the store's own reason, unless it can be listed (the
    bucket exists, the credentials are accepted) or, for a folder, made. Health checks and jobs
    call this before they depend on it."""
    from tuneloop.errors import Unavailable

    try:
        fs, root = open_fs(url, settings)
        if is_remote(url):
            fs.invalidate_cache()
            fs.ls(root.split("/", 1)[0], detail=False)
        else:
            os.makedirs(root, exist_ok=True)
    except Exception as exc:  # noqa: BLE001 - whatever the store says is the reason
        raise Unavailable(f"storage {url} is not reachable: {type(exc).__name__}: {exc}") from exc
