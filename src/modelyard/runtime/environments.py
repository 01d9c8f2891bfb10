"""Isolated Python environments for bundles whose requirements this interpreter does not meet.

:func:`ensure_environment` builds, once, a virtual environment with ``uv`` that has the
bundle's requirements installed and still sees every package of the interpreter that runs
modelyard (modelyard itself, numpy, torch, ...):

- ``uv venv --relocatable`` on this interpreter's Python, so the environment can be built in a
  temporary directory and renamed into place (nobody ever sees a half-built one);
- a ``.pth`` file in its ``site-packages`` that adds this interpreter's site directories *after*
  the environment's own, so what the requirements install wins over what is here;
- ``uv pip install`` of the requirements into it (uv resolves them against the environment's
  own packages only, so each requirement comes with the dependencies it asked for).

Environments are cached under ``cache_dir`` (the server uses ``MODELYARD_HOME/envs``), one
directory per key: the SHA-256 of the normalized requirements, the Python version and the base
interpreter. A second call with the same requirements returns at once. Builds of the same key
in several processes wait for each other (a lock file next to the environment); a failed build
leaves nothing behind. Check and serving workers start the returned executable.

An environment runs on this interpreter's Python version (it shares its packages). A bundle
made with another minor version (``3.10`` on 3.11) gets one anyway (the ``python.version`` check
warns); one whose ``python_version`` excludes this interpreter (``>=3.12``, ``2.7``) cannot, and
:func:`ensure_environment` says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from modelyard.errors import InvalidArgument
from modelyard.runtime.requirements import PythonFit, python_fit

#: Written last into a finished environment; its presence means the environment is complete.
MARKER = "modelyard-environment.json"
_BASE_PTH = "_modelyard_base.pth"


def ensure_environment(
    requirements: Iterable[str],
    python_version: str | None,
    cache_dir: Path,
    *,
    timeout: float = 900,
) -> Path:
    """The Python executable of an environment with ``requirements`` installed, built once.

    ``python_version`` is a version (``"3.11"``) or a specifier (``">=3.10"``) the bundle
    declares, or None; it must not exclude this interpreter (see the module's doc).

    Raises ``InvalidArgument`` (``field="requirements"``) with uv's own message when the
    requirements cannot be installed (no such version, no network, a build that fails), or
    (``field="python_version"``) when the Python version does not fit.
    """
    reqs = _normalized(requirements)
    python = current_python_version()
    _check_python(python_version, python)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = environment_key(reqs, python)
    target = cache_dir / key
    with _locked(cache_dir / f"{key}.lock"):
        if (target / MARKER).is_file():
            return _executable(target)
        shutil.rmtree(target, ignore_errors=True)  # a build that died half-way
        build = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=cache_dir))
        try:
            _build(build, reqs, timeout)
            (build / MARKER).write_text(
                json.dumps({"requirements": reqs, "python": python, "base": sys.prefix})
            )
            os.replace(build, target)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    return _executable(target)


def environment_key(requirements: list[str], python: str) -> str:
    """The cache key: requirements (normalized, sorted), Python version, base interpreter."""
    doc = json.dumps([sorted(requirements), python, sys.prefix])
    return hashlib.sha256(doc.encode()).hexdigest()[:32]


def current_python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def _normalized(requirements: Iterable[str]) -> list[str]:
    reqs = []
    for i, line in enumerate(requirements):
        try:
            reqs.append(str(Requirement(line)))
        except InvalidRequirement as exc:
            raise InvalidArgument(
                f"requirements[{i}] {line!r} is not a requirement ({exc}); write NAME, "
                "NAME==VERSION or NAME>=VERSION",
                field="requirements",
            ) from exc
    return sorted(set(reqs))


def _check_python(declared: str | None, python: str) -> None:
    if not declared:
        return
    fit = python_fit(declared)
    if fit == PythonFit.INVALID:
        raise InvalidArgument(
            f"python_version {declared!r} is neither a version (3.11) nor a specifier (>=3.10)",
            field="python_version",
        )
    if fit == PythonFit.INCOMPATIBLE:
        raise InvalidArgument(
            f"the bundle needs Python {declared}, but environments are built on this "
            f"interpreter's Python {python} (they share its packages); run modelyard on a "
            "matching interpreter, or change python_version",
            field="python_version",
        )


def _build(env: Path, requirements: list[str], timeout: float) -> None:
    _uv(["venv", "--relocatable", "--quiet", "--python", sys.executable, str(env)], timeout)
    site_packages = _site_packages(env)
    bases = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    # ``import`` lines of a .pth file run; addsitedir also reads the base's own .pth files
    # (editable installs) and appends, so the environment's packages come first.
    lines = [f"import site; site.addsitedir({p!r})" for p in bases]
    (site_packages / _BASE_PTH).write_text("\n".join(lines) + "\n")
    if requirements:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(requirements) + "\n")
        try:
            _uv(
                ["pip", "install", "--quiet", "--python", str(_executable(env)), "-r", f.name],
                timeout,
            )
        finally:
            os.unlink(f.name)


def _uv(args: list[str], timeout: float) -> None:
    from uv import find_uv_bin

    command = [find_uv_bin(), "--no-progress", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise InvalidArgument(
            f"building the environment did not finish within {timeout:g} s (uv {args[0]} "
            f"{args[1]}); try again, or install the requirements in modelyard's environment",
            field="requirements",
        ) from exc
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise InvalidArgument(
            f"uv could not build the environment: {message}", field="requirements"
        )


def _site_packages(env: Path) -> Path:
    if os.name == "nt":
        return env / "Lib" / "site-packages"
    found = sorted((env / "lib").glob("python*/site-packages"))
    if not found:
        raise InvalidArgument(f"uv made no site-packages under {env}", field="requirements")
    return found[0]


def _executable(env: Path) -> Path:
    return env / "Scripts" / "python.exe" if os.name == "nt" else env / "bin" / "python"


class _locked:
    """An exclusive lock on a file, across processes, for the life of the block."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
