"""Where the CLI and the Python client find the services (TUNELOOP_* variables).

The client's own settings live with the client, so using it needs nothing of the server side.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientSettings(BaseSettings):
    """Where the CLI and the Python client find the services."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_", extra="ignore")

    address: str = Field(default="127.0.0.1:50051", description="Address of every service unless overridden.")
    dataprep_address: str | None = Field(default=None, description="Address of dataprep, if it runs apart.")
    registry_address: str | None = Field(default=None, description="Address of the registry, if it runs apart.")
    trainer_address: str | None = Field(default=None, description="Address of the trainer, if it runs apart.")
    evaluator_address: str | None = Field(default=None, description="Address of the evaluator, if it runs apart.")
    controller_address: str | None = Field(default=None, description="Address of the controller, if it runs apart.")
    serving_address: str | None = Field(default=None, description="Address of serving, if it runs apart.")
    auth_token: str | None = Field(default=None, description="Bearer token sent with every call.")
    tls_ca_file: Path | None = Field(default=None, description="PEM CA bundle; when set the client uses TLS.")
    tls_server_name: str | None = Field(default=None, description="Name to verify the server's certificate "
                                        "against, when it differs from the host dialled (an IP, a port-forward).")

    def address_for(self, service: str) -> str:
        return getattr(self, f"{service}_address", None) or self.address
