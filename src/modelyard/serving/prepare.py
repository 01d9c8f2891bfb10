"""What a replica needs on disk before it starts: the version's files, its runtime spec, and
an interpreter whose environment satisfies its requirements.

Files are copied once per version under ``<cache>/<version id>/files`` (a READY version's files
never change): into a temporary directory first, renamed into place when complete (with a
``complete`` marker beside ``files``), so a copy that died half-way is never served. The spec
is the version's, or detected from the files (reading bytes only; no model code runs here).
When the requirements are not met by the server's own environment, ``ensure_environment``
builds one with uv, once per requirements and Python version, shared with the checks
(``<home>/envs``); a build that fails raises with uv's message. A backend that cannot use such
an environment (Ray's replicas run in the cluster's) passes no ``envs_dir`` and is refused.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from modelyard.domain.deployments import Deployment
from modelyard.domain.entities import ModelVersion
from modelyard.domain.runtime import RuntimeSpec
from modelyard.domain.service import RegistryService
from modelyard.errors import InvalidArgument, VersionNotFound
from modelyard.runtime.detect import completed, detect
from modelyard.runtime.environments import ensure_environment
from modelyard.runtime.requirements import unsatisfied

_COMPLETE = "complete"


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A version ready to be served: where its files are, how to run it, and what it takes."""

    bundle: Path
    spec: RuntimeSpec
    python: str
    input_schema: dict[str, Any] | None
    environment: str | None  # the built environment's directory, when one was needed


def prepare_deployment(
    registry: RegistryService,
    deployment: Deployment,
    cache_dir: Path,
    *,
    envs_dir: Path | None,
    heartbeat: Callable[[], None] = lambda: None,
) -> Prepared:
    """:func:`prepare` the version ``deployment`` serves; VersionNotFound once it is deleted."""
    version = registry.store.get_version_by_id(deployment.version_id)
    if version is None:
        raise VersionNotFound(f"version {deployment.version} was deleted")
    return prepare(registry, version, cache_dir=cache_dir, envs_dir=envs_dir, heartbeat=heartbeat)


def prepare(
    registry: RegistryService,
    version: ModelVersion,
    *,
    cache_dir: Path,
    envs_dir: Path | None,
    heartbeat: Callable[[], None] = lambda: None,
) -> Prepared:
    """Make ``version`` servable (see the module's doc); raises InvalidArgument saying why not
    (no model recognized, requirements that do not parse or cannot be installed)."""
    bundle = _files(registry, version, cache_dir, heartbeat)
    spec = completed(version.runtime, bundle) if version.runtime else detect(bundle)
    python, environment = _interpreter(spec, envs_dir)
    return Prepared(
        bundle=bundle,
        spec=spec,
        python=python,
        input_schema=version.input_schema,
        environment=environment,
    )


def _files(
    registry: RegistryService, version: ModelVersion, cache_dir: Path, heartbeat: Callable[[], None]
) -> Path:
    target = cache_dir / version.id
    if (target / _COMPLETE).is_file():
        return target / "files"
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{version.id}-", dir=cache_dir))
    try:
        registry.export_files(version, scratch / "files", heartbeat)
        (scratch / "files").mkdir(exist_ok=True)
        (scratch / _COMPLETE).touch()
        shutil.rmtree(target, ignore_errors=True)  # an incomplete copy of a dead server's
        try:
            os.rename(scratch, target)
        except OSError:  # another deploy of the same version finished first
            if not (target / _COMPLETE).is_file():
                raise
            shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return target / "files"


def _interpreter(spec: RuntimeSpec, envs_dir: Path | None) -> tuple[str, str | None]:
    try:
        requirements = [Requirement(r) for r in spec.requirements]
    except InvalidRequirement as exc:
        raise InvalidArgument(
            f"runtime.requirements: {exc}; fix the version's requirements", field="requirements"
        ) from None
    missing = unsatisfied(requirements)
    if not missing:
        return sys.executable, None
    if envs_dir is None:
        raise InvalidArgument(
            f"runtime.requirements: {', '.join(str(r) for r in missing)} not met by the "
            "environment this backend serves from; deploy with backend local, which builds an "
            "environment for the version",
            field="requirements",
        )
    python = ensure_environment(spec.requirements, spec.python_version, envs_dir)
    return str(python), str(python.parent.parent)
