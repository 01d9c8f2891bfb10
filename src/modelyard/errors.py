"""The one exception tree of modelyard.

Every layer raises these; transports map them to their wire (``api/errors.py`` to HTTP
status codes and problem+json, the SDK back from the wire to the same classes). No class
here knows about HTTP or gRPC.

    RegistryError
    ├── NotFound                  the thing does not exist, or the caller may not see it
    │   ├── NamespaceNotFound
    │   ├── ModelNotFound
    │   ├── VersionNotFound
    │   ├── FileNotFound (also FileNotFoundError)
    │   ├── TagNotFound
    │   ├── UserNotFound
    │   └── TeamNotFound
    ├── Conflict                  the request clashes with the current state
    │   ├── AlreadyExists         a name that must be unique is taken
    │   └── FailedPrecondition    the resource is in the wrong state (e.g. version READY)
    ├── InvalidArgument (also ValueError)   a field is malformed; ``field`` names it
    ├── IntegrityError            bytes do not match a declared digest or size
    ├── Unauthenticated           no valid credentials
    ├── PermissionDenied          valid credentials, not allowed
    ├── TooManyRequests           too many failed authentications from one address; wait
    ├── Unavailable               a deployment cannot answer now (not ACTIVE, its worker died)
    ├── DeadlineExceeded          the model did not answer within the request's time limit
    └── ModelError                the model's own code raised on a valid request
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable error codes; they travel over the wire and never change meaning."""

    INTERNAL = "INTERNAL"
    NOT_FOUND = "NOT_FOUND"
    NAMESPACE_NOT_FOUND = "NAMESPACE_NOT_FOUND"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    TAG_NOT_FOUND = "TAG_NOT_FOUND"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    CONFLICT = "CONFLICT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INTEGRITY_ERROR = "INTEGRITY_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    DEPLOYMENT_NOT_FOUND = "DEPLOYMENT_NOT_FOUND"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    MODEL_ERROR = "MODEL_ERROR"
    TEAM_NOT_FOUND = "TEAM_NOT_FOUND"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"


@dataclass(frozen=True, kw_only=True)
class FieldError:
    """One problem with one input field: where it is and what was expected."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RegistryError(Exception):
    """Base of every error modelyard raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL
    #: Filled in by the SDK from the server's answer: its HTTP status and request id.
    status: int | None = None
    request_id: str | None = None

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: list[FieldError] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])
        if field is not None and not self.errors:
            self.errors.append(FieldError(field=field, message=message))
        self.details = dict(details or {})

    @property
    def field(self) -> str | None:
        return self.errors[0].field if self.errors else None


class NotFound(RegistryError):
    code = ErrorCode.NOT_FOUND


class NamespaceNotFound(NotFound):
    code = ErrorCode.NAMESPACE_NOT_FOUND


class ModelNotFound(NotFound):
    code = ErrorCode.MODEL_NOT_FOUND


class VersionNotFound(NotFound):
    code = ErrorCode.VERSION_NOT_FOUND


class FileNotFound(NotFound, FileNotFoundError):
    code = ErrorCode.FILE_NOT_FOUND


class TagNotFound(NotFound):
    code = ErrorCode.TAG_NOT_FOUND


class UserNotFound(NotFound):
    code = ErrorCode.USER_NOT_FOUND


class Conflict(RegistryError):
    code = ErrorCode.CONFLICT


class AlreadyExists(Conflict):
    code = ErrorCode.ALREADY_EXISTS


class FailedPrecondition(Conflict):
    code = ErrorCode.FAILED_PRECONDITION


class InvalidArgument(RegistryError, ValueError):
    code = ErrorCode.INVALID_ARGUMENT


class IntegrityError(RegistryError):
    code = ErrorCode.INTEGRITY_ERROR


class Unauthenticated(RegistryError):
    code = ErrorCode.UNAUTHENTICATED


class PermissionDenied(RegistryError, PermissionError):
    code = ErrorCode.PERMISSION_DENIED


class TeamNotFound(NotFound):
    code = ErrorCode.TEAM_NOT_FOUND


class TooManyRequests(RegistryError):
    """Refused before looking at the credentials; ``retry_after`` seconds from now it may
    be tried again."""

    code = ErrorCode.TOO_MANY_REQUESTS

    def __init__(self, message: str, *, retry_after: int | None = None, **kw: Any) -> None:
        details = dict(kw.pop("details", None) or {})
        if retry_after is not None:
            details["retry_after"] = retry_after
        super().__init__(message, details=details, **kw)
        self.retry_after = int(details.get("retry_after", 60))


class DeploymentNotFound(NotFound):
    code = ErrorCode.DEPLOYMENT_NOT_FOUND


class Unavailable(RegistryError):
    code = ErrorCode.UNAVAILABLE


class DeadlineExceeded(RegistryError, TimeoutError):
    code = ErrorCode.DEADLINE_EXCEEDED


class ModelError(RegistryError):
    code = ErrorCode.MODEL_ERROR


ERROR_CLASSES: dict[ErrorCode, type[RegistryError]] = {
    cls.code: cls
    for cls in (
        RegistryError,
        NotFound,
        NamespaceNotFound,
        ModelNotFound,
        VersionNotFound,
        FileNotFound,
        TagNotFound,
        UserNotFound,
        TeamNotFound,
        Conflict,
        AlreadyExists,
        FailedPrecondition,
        InvalidArgument,
        IntegrityError,
        Unauthenticated,
        PermissionDenied,
        TooManyRequests,
        DeploymentNotFound,
        Unavailable,
        DeadlineExceeded,
        ModelError,
    )
}
