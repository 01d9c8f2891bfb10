"""What a bundle needs, against what this interpreter is and has.

:func:`python_fit` judges a declared Python version against the running one;
:func:`unsatisfied` compares PEP 508 requirements with the distributions this interpreter has;
:func:`resolve` asks ``uv pip compile`` whether some set of versions satisfies them (on this
Python version), telling "no such versions" apart from "the index could not be reached".
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

#: Longest wait for ``uv pip compile``.
RESOLVE_TIMEOUT = 120


class PythonFit(StrEnum):
    FITS = "fits"  # the specifier admits this Python, or the same minor version is declared
    OTHER_MINOR = "other-minor"  # made with 3.10, runs on 3.11: probably fine, worth a warning
    INCOMPATIBLE = "incompatible"  # a specifier this Python fails, or another major version
    INVALID = "invalid"  # neither a version nor a specifier


def python_fit(declared: str, running: tuple[int, ...] | None = None) -> PythonFit:
    """How ``declared`` (``"3.11"``, ``"3"``, ``">=3.10,<3.13"``) fits the ``running`` Python
    version (default: this interpreter's)."""
    here = Version(".".join(map(str, running or sys.version_info[:3])))
    text = declared.strip()
    if not text:
        return PythonFit.INVALID
    if text[0] in "<>=!~":
        try:
            admits = SpecifierSet(text).contains(here, prereleases=True)
        except InvalidSpecifier:
            return PythonFit.INVALID
        return PythonFit.FITS if admits else PythonFit.INCOMPATIBLE
    try:
        wanted = Version(text)
    except InvalidVersion:
        return PythonFit.INVALID
    if wanted.major != here.major:
        return PythonFit.INCOMPATIBLE
    if len(wanted.release) == 1 or wanted.minor == here.minor:
        return PythonFit.FITS
    return PythonFit.OTHER_MINOR


class Resolution(StrEnum):
    RESOLVES = "resolves"
    UNSATISFIABLE = "unsatisfiable"  # the resolver proved that no versions satisfy them
    UNCHECKED = "unchecked"  # no answer: the index is unreachable, uv is missing, ...


@dataclass(frozen=True, kw_only=True)
class Resolved:
    outcome: Resolution
    #: uv's reason when UNSATISFIABLE, what went wrong when UNCHECKED.
    detail: str = ""


def unsatisfied(requirements: list[Requirement]) -> list[str]:
    """The requirements this interpreter does not satisfy, each with what it has instead
    (``scikit-learn==0.0.1 (installed: 1.9.1)``); those whose markers exclude it are left out."""
    missing = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{req} (not installed)")
            continue
        if not req.specifier.contains(installed, prereleases=True):
            missing.append(f"{req} (installed: {installed})")
    return missing


def resolve(requirements: list[str], *, timeout: float = RESOLVE_TIMEOUT) -> Resolved:
    """Whether ``uv pip compile`` finds versions satisfying ``requirements`` for this Python."""
    try:
        from uv import find_uv_bin

        uv = find_uv_bin()
    except (ImportError, FileNotFoundError) as exc:
        return Resolved(outcome=Resolution.UNCHECKED, detail=f"uv is not available: {exc}")
    python = ".".join(map(str, sys.version_info[:2]))
    command = [uv, "--no-progress", "pip", "compile", "-", "--quiet", "--no-header"]
    command += ["--python-version", python]
    try:
        done = subprocess.run(
            command,
            input="\n".join(requirements) + "\n",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Resolved(
            outcome=Resolution.UNCHECKED,
            detail=f"uv pip compile did not finish within {timeout:g} s",
        )
    except OSError as exc:
        return Resolved(outcome=Resolution.UNCHECKED, detail=f"uv could not run: {exc}")
    if done.returncode == 0:
        return Resolved(outcome=Resolution.RESOLVES)
    message = " ".join(line.strip() for line in done.stderr.strip().splitlines())
    if "No solution found" in message:
        return Resolved(outcome=Resolution.UNSATISFIABLE, detail=message.removeprefix("error: "))
    return Resolved(
        outcome=Resolution.UNCHECKED,
        detail=f"the package index could not be reached: {message or done.returncode}",
    )
