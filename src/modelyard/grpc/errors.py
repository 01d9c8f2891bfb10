"""RegistryError -> gRPC status code: the gRPC twin of ``api/errors.py``."""

from __future__ import annotations

import grpc

from modelyard.errors import (
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    IntegrityError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RegistryError,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

#: Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[RegistryError], grpc.StatusCode], ...] = (
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (Conflict, grpc.StatusCode.ABORTED),
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (IntegrityError, grpc.StatusCode.DATA_LOSS),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (TooManyRequests, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
)


def status_of(error: RegistryError) -> grpc.StatusCode:
    """The status code a service error is answered with (UNKNOWN for any other)."""
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.UNKNOWN


def abort(context: grpc.ServicerContext, error: RegistryError) -> None:
    """End the call with the error's status, its message as details, and its stable code
    (and ``retry-after`` for 429's twin) in the trailing metadata. Never returns."""
    trailers: list[tuple[str, str]] = [("modelyard-error-code", str(error.code))]
    if isinstance(error, TooManyRequests):
        trailers.append(("retry-after", str(error.retry_after)))
    context.set_trailing_metadata(tuple(trailers))
    context.abort(status_of(error), str(error))


__all__ = ["abort", "status_of"]
