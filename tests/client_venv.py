"""Published clients in virtual environments of their own, made once and cached.

Some clients pin what the project's environment cannot hold beside its own pins
(``opensearch-py-ml`` pins ``pandas<2.3`` and ``numpy>=2.3.2``; ``oracle-ads`` brings the whole
``oci`` SDK and its own pins), so each lives in a venv built with ``uv`` (a dependency of
modelyard) under ``~/.cache/modelyard-tests/`` (``MODELYARD_TEST_CACHE`` overrides it), named
after the client and a hash of its pinned requirements and this Python's version. A fresh clone
builds it on first use from the package registry; concurrent test processes wait for one
another (a file lock), and a half-built venv is never used (it is built beside, then renamed).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from uv import find_uv_bin

#: (venv name, requirements) of each client.
OPENSEARCH = ("opensearch-py-ml", ("opensearch-py-ml==1.3.0",))
ORACLE_ADS = (
    "oracle-ads",
    ("oracle-ads==2.16.1", "oci==2.189.0", "scikit-learn==1.9.1", "numpy==2.4.6"),
)


def cache_root() -> Path:
    configured = os.environ.get("MODELYARD_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "modelyard-tests"


def client_python(name: str, requirements: tuple[str, ...]) -> Path:
    """The Python of the venv ``name`` with ``requirements`` installed (built on first use)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = hashlib.sha256(f"{'|'.join(requirements)}|{version}".encode()).hexdigest()[:16]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"{name}-{key}"
    python = venv / "bin" / "python"
    with (root / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not python.exists():
            _build(venv, requirements)
    return python


def _build(venv: Path, requirements: tuple[str, ...]) -> None:
    partial = venv.with_name(venv.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    uv = find_uv_bin()
    quiet = ["--no-progress", "--quiet"]
    subprocess.run(
        [uv, "venv", *quiet, "--relocatable", "--python", sys.executable, str(partial)],
        check=True,
        timeout=300,
    )
    subprocess.run(
        [uv, "pip", "install", *quiet, "--python", str(partial / "bin" / "python"), *requirements],
        check=True,
        timeout=900,
    )
    partial.rename(venv)
