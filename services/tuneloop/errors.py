"""The domain errors every layer shares, and their gRPC status codes.

Cores never import gRPC servers or stubs: they raise these, and the server's error
interceptor answers each with its status code, so bad input can never surface as
INTERNAL. The client raises the same classes for a failed call (`from_rpc`, in one
place: `tuneloop.client.base`), so a service that calls a peer sees NOT_FOUND from that
peer as `NotFound`, and passing it on keeps the code.

Every error is also a `grpc.RpcError` with `code()` and `details()`: code written against
the client's older contract ("errors surface as grpc.RpcError") keeps working.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc


class TuneloopError(grpc.RpcError):
    """Base of every error raised on purpose; `status` is its gRPC status code."""

    status: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, status: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def code(self) -> grpc.StatusCode:
        return self.status

    def details(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(TuneloopError, ValueError):
    status = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(TuneloopError):
    status = grpc.StatusCode.NOT_FOUND


class AlreadyExists(TuneloopError):
    status = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(TuneloopError):
    status = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(TuneloopError):
    status = grpc.StatusCode.RESOURCE_EXHAUSTED


class DataLoss(TuneloopError):
    status = grpc.StatusCode.DATA_LOSS


class Unauthenticated(TuneloopError):
    status = grpc.StatusCode.UNAUTHENTICATED


class Aborted(TuneloopError):
    """A concurrent change won the race; the caller may retry."""

    status = grpc.StatusCode.ABORTED


class Unavailable(TuneloopError):
    status = grpc.StatusCode.UNAVAILABLE


_BY_STATUS = {cls.status: cls for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition,
                                          ResourceExhausted, DataLoss, Unauthenticated, Aborted, Unavailable)}


def from_rpc(exc: grpc.RpcError) -> TuneloopError:
    """The domain error for a failed call (same status code, the server's message). A code
    without a class of its own (DEADLINE_EXCEEDED, CANCELLED, INTERNAL...) keeps its code."""
    if isinstance(exc, TuneloopError):
        return exc
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else str(exc)) or ""
    cls = _BY_STATUS.get(code)
    return cls(details) if cls else TuneloopError(details, status=code)


@contextlib.contextmanager
def about(what: str) -> Iterator[None]:
    """Re-raise a domain error with `what` in front of its message, keeping its class and
    code: a peer's "version 'x' not found" becomes "base model x:champion: version 'x' not found"."""
    try:
        yield
    except TuneloopError as exc:
        raise type(exc)(f"{what}: {exc.message}", status=exc.status) from exc
