"""Domain errors raised by the plain-Python cores, and their gRPC status codes.

Cores never import gRPC: they raise these. The server's error interceptor maps each
class to its status code, so bad input can never surface as INTERNAL.
"""

from __future__ import annotations

import grpc


class TuneloopError(Exception):
    """Base of every error a core raises on purpose; `code` is its gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(TuneloopError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(TuneloopError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(TuneloopError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(TuneloopError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(TuneloopError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DataLoss(TuneloopError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(TuneloopError):
    code = grpc.StatusCode.UNAUTHENTICATED


class Aborted(TuneloopError):
    """A concurrent change won the race; the caller may retry."""

    code = grpc.StatusCode.ABORTED


class Unavailable(TuneloopError):
    code = grpc.StatusCode.UNAVAILABLE


_BY_CODE = {cls.code: cls for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition,
                                      ResourceExhausted, DataLoss, Unauthenticated, Aborted, Unavailable)}


def from_rpc(exc: grpc.RpcError, context: str = "") -> TuneloopError:
    """The domain error for a failed call to another tuneloop service (same code, its message)."""
    cls = _BY_CODE.get(exc.code(), Unavailable)
    prefix = f"{context}: " if context else ""
    return cls(f"{prefix}{exc.details()}")
