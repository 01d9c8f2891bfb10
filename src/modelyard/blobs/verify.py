"""The check every blob writer makes before publishing: the bytes are the ones declared."""

from __future__ import annotations

from modelyard.errors import IntegrityError


def check_received(
    *, digest: str, size: int, expected_sha256: str | None, expected_size: int | None
) -> None:
    """Raise IntegrityError (naming ``size`` or ``sha256``) when what was received differs
    from what the client declared."""
    if expected_size is not None and expected_size != size:
        raise IntegrityError(
            f"size: expected {expected_size} bytes, received {size}; nothing stored",
            field="size",
        )
    if expected_sha256 is not None and expected_sha256 != digest:
        raise IntegrityError(
            f"sha256: expected {expected_sha256}, content hashes to {digest}; nothing stored",
            field="sha256",
            details={"expected": expected_sha256, "actual": digest},
        )
