"""Identifier value types, validated once at the edge.

Each ``parse`` takes the raw string from a transport and either returns the typed value or
raises :class:`InvalidArgument` naming the field and what was expected.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Self

from modelyard.errors import InvalidArgument

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/: ]{0,249}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_PART_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")

MAX_PATH_LENGTH = 1024


def could_be_part_of_name(value: str) -> bool:
    """Whether ``value`` can occur inside some model or namespace name (for search filters)."""
    return bool(_NAME_PART_RE.match(value))


def _check(pattern: re.Pattern[str], value: object, field: str, expected: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidArgument(f"{field}: expected {expected}, got {value!r}", field=field)
    return value


class Name(str):
    """A namespace or model name: 1-128 of letters, digits, '.', '_', '-', not starting with
    punctuation."""

    EXPECTED = (
        "1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
    )

    @classmethod
    def valid(cls, value: object) -> bool:
        return isinstance(value, str) and bool(_NAME_RE.match(value))

    @classmethod
    def parse(cls, value: object, field: str = "name") -> Self:
        return cls(_check(_NAME_RE, value, field, cls.EXPECTED))


class UserName(str):
    EXPECTED = "1-128 characters of letters, digits, '.', '_', '@' or '-'"

    @classmethod
    def valid(cls, value: object) -> bool:
        return isinstance(value, str) and bool(_USER_RE.match(value))

    @classmethod
    def parse(cls, value: object, field: str = "username") -> Self:
        return cls(_check(_USER_RE, value, field, cls.EXPECTED))


class VersionLabel(str):
    EXPECTED = "1-64 characters of letters, digits, '.', '_', '+' or '-', e.g. '1.0.0'"

    @classmethod
    def valid(cls, value: object) -> bool:
        return isinstance(value, str) and bool(_LABEL_RE.match(value))

    @classmethod
    def parse(cls, value: object, field: str = "version") -> Self:
        return cls(_check(_LABEL_RE, value, field, cls.EXPECTED))


class Tag(str):
    """A unique tag (alias) such as ``production``. Starts with a letter so it never reads as a
    version number."""

    EXPECTED = "1-64 characters of letters, digits, '.', '_' or '-', starting with a letter"

    @classmethod
    def valid(cls, value: object) -> bool:
        return isinstance(value, str) and bool(_TAG_RE.match(value))

    @classmethod
    def parse(cls, value: object, field: str = "tag") -> Self:
        return cls(_check(_TAG_RE, value, field, cls.EXPECTED))


class Key(str):
    """A metric or metadata key."""

    EXPECTED = "1-250 characters of letters, digits, spaces and '_.-/:'"

    @classmethod
    def parse(cls, value: object, field: str = "key") -> Self:
        return cls(_check(_KEY_RE, value, field, cls.EXPECTED))


class Digest(str):
    """A SHA-256 content digest, kept as 64 lowercase hex characters.

    Accepts ``<hex>`` or ``sha256:<hex>``; :attr:`prefixed` gives the latter form.
    """

    EXPECTED = "a SHA-256 digest: 64 hexadecimal characters, optionally prefixed 'sha256:'"

    @classmethod
    def parse(cls, value: object, field: str = "sha256") -> Self:
        if isinstance(value, str):
            raw = value.strip().lower().removeprefix("sha256:")
            if _HEX64_RE.match(raw):
                return cls(raw)
        raise InvalidArgument(f"{field}: expected {cls.EXPECTED}, got {value!r}", field=field)

    @property
    def prefixed(self) -> str:
        return f"sha256:{self}"


class FilePath(str):
    """A relative POSIX path inside a version: no '..', '.', empty or absolute parts."""

    EXPECTED = (
        "a relative path of '/'-separated parts, none empty, '.' or '..', "
        f"without backslashes or control characters, at most {MAX_PATH_LENGTH} characters"
    )

    @classmethod
    def parse(cls, value: object, field: str = "path") -> Self:
        def bad(why: str) -> InvalidArgument:
            return InvalidArgument(
                f"{field}: {why}; expected {cls.EXPECTED}, got {value!r}", field=field
            )

        if not isinstance(value, str) or not value:
            raise bad("empty path")
        if len(value) > MAX_PATH_LENGTH:
            raise bad("path too long")
        if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
            raise bad("absolute paths are not allowed")
        if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise bad("backslashes and control characters are not allowed")
        parts = value.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise bad("'..', '.' and empty parts are not allowed")
        return cls(value)


def new_id() -> str:
    """A time-ordered unique id (UUIDv7 layout, 32 hex characters)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms & (2**48 - 1)) << 80 | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return f"{value:032x}"


def new_token() -> str:
    """A fresh API token: a recognisable prefix and 256 random bits."""
    return "myd_" + secrets.token_urlsafe(32)


__all__ = [
    "Digest",
    "FilePath",
    "Key",
    "Name",
    "Tag",
    "UserName",
    "VersionLabel",
    "new_id",
    "new_token",
]
