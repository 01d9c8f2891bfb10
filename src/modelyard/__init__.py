"""modelyard: a self-hosted model registry and deployment platform."""

from modelyard.client import Client
from modelyard.errors import (
    AlreadyExists,
    Conflict,
    ErrorCode,
    FailedPrecondition,
    FileNotFound,
    IntegrityError,
    InvalidArgument,
    ModelNotFound,
    NotFound,
    PermissionDenied,
    RegistryError,
    TagNotFound,
    Unauthenticated,
    VersionNotFound,
)
from modelyard.runtime.prepare import PreparedBundle, prepare

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Client",
    "Conflict",
    "ErrorCode",
    "FailedPrecondition",
    "FileNotFound",
    "IntegrityError",
    "InvalidArgument",
    "ModelNotFound",
    "NotFound",
    "PermissionDenied",
    "PreparedBundle",
    "RegistryError",
    "TagNotFound",
    "Unauthenticated",
    "VersionNotFound",
    "__version__",
    "prepare",
]
