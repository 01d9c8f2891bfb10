"""Every service error has its gRPC status, the twin of its HTTP status."""

from __future__ import annotations

import grpc
import pytest

from modelyard.errors import (
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    FileNotFound,
    IntegrityError,
    InvalidArgument,
    ModelError,
    ModelNotFound,
    PermissionDenied,
    RegistryError,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from modelyard.grpc.errors import status_of


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ModelNotFound("m"), grpc.StatusCode.NOT_FOUND),
        (FileNotFound("f"), grpc.StatusCode.NOT_FOUND),
        (AlreadyExists("a"), grpc.StatusCode.ALREADY_EXISTS),
        (FailedPrecondition("p"), grpc.StatusCode.FAILED_PRECONDITION),
        (Conflict("c"), grpc.StatusCode.ABORTED),
        (InvalidArgument("i"), grpc.StatusCode.INVALID_ARGUMENT),
        (IntegrityError("d"), grpc.StatusCode.DATA_LOSS),
        (Unauthenticated("u"), grpc.StatusCode.UNAUTHENTICATED),
        (PermissionDenied("p"), grpc.StatusCode.PERMISSION_DENIED),
        (TooManyRequests("t", retry_after=3), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Unavailable("u"), grpc.StatusCode.UNAVAILABLE),
        (DeadlineExceeded("d"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (ModelError("m"), grpc.StatusCode.UNKNOWN),
    ],
)
def test_status_of(error: RegistryError, status: grpc.StatusCode) -> None:
    assert status_of(error) == status
