"""Installed distributions, pinned: the requirements a prepared bundle records."""

from __future__ import annotations

from importlib import metadata


def pinned(distributions: tuple[str, ...] | list[str]) -> list[str]:
    """``name==version`` for each installed distribution; those not installed are left out.
    A local version label (``2.13.0+cpu``) is dropped: ``==2.13.0`` matches that build too,
    and an index that has only the public release can satisfy the pin."""
    pins = []
    for name in distributions:
        try:
            pins.append(f"{name}=={metadata.version(name).partition('+')[0]}")
        except metadata.PackageNotFoundError:
            continue
    return pins
