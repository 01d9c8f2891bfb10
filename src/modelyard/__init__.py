"""modelyard: a self-hosted model registry and deployment platform."""

from modelyard.client import Client, Deployment
from modelyard.errors import (
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    DeploymentNotFound,
    ErrorCode,
    FailedPrecondition,
    FileNotFound,
    IntegrityError,
    InvalidArgument,
    ModelError,
    ModelNotFound,
    NotFound,
    PermissionDenied,
    RegistryError,
    TagNotFound,
    Unauthenticated,
    Unavailable,
    VersionNotFound,
)
from modelyard.runtime.prepare import PreparedBundle, prepare

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Client",
    "Conflict",
    "DeadlineExceeded",
    "Deployment",
    "DeploymentNotFound",
    "ErrorCode",
    "FailedPrecondition",
    "FileNotFound",
    "IntegrityError",
    "InvalidArgument",
    "ModelError",
    "ModelNotFound",
    "NotFound",
    "PermissionDenied",
    "PreparedBundle",
    "RegistryError",
    "TagNotFound",
    "Unauthenticated",
    "Unavailable",
    "VersionNotFound",
    "__version__",
    "prepare",
]
