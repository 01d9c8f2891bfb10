"""Closed sets of states and kinds. Never bare strings inside the package."""

from __future__ import annotations

from enum import StrEnum


class AccessLevel(StrEnum):
    PRIVATE = "private"
    RESTRICTED = "restricted"
    PUBLIC = "public"


class VersionState(StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"


class FileType(StrEnum):
    MODEL = "MODEL"
    CHECKPOINT = "CHECKPOINT"
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"
    OTHER = "OTHER"


class FileStorage(StrEnum):
    """Whether modelyard holds the bytes (STORED) or only records an external URI (TRACKED)."""

    STORED = "STORED"
    TRACKED = "TRACKED"


class ParentKind(StrEnum):
    """What a file, metric or metadata entry hangs off."""

    MODEL = "MODEL"
    VERSION = "VERSION"
    EXPERIMENT = "EXPERIMENT"
    CHECKPOINT = "CHECKPOINT"
