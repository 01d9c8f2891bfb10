"""The runtime spec of a bundle, read from its files alone.

``detect`` never imports or runs bundle code (it runs in the API server): it reads file names,
YAML, the zip directory of ``.pt`` files and the syntax tree of ``model.py``. In order:

1. ``modelyard.yaml`` with ``runtime:`` wins; the environment fields it leaves out
   (requirements, python_version, conda_env, docker_image, example) are filled from the files.
2. An MLflow ``MLmodel`` file (at the top or one directory down) -> ``mlflow``.
3. ``model.py`` defining ``class GesundModel`` -> ``gesund``.
4. ``score.py`` -> the entry point; the flavor is the model file's (below), else ``python``.
5. A model file by its suffix (``.joblib``, ``.onnx``, ``.pt``, ``.keras``, ...; a ``.pt``/``.pth``
   is TorchScript when it is an archive with ``code/`` and ``constants.pkl``, else a
   ``torch.save`` file). Several model files: the one named ``model.*`` at the top, else
   the bundle is ambiguous and needs ``modelyard.yaml``.

The environment comes from ``requirements.txt`` (Gesund: ``reqs.txt``), a conda YAML
(``environment.yml``, ``conda.yaml``: its ``pip:`` section, and ``python=3.x`` for the python
version), ADS's ``runtime.yaml`` (``INFERENCE_PYTHON_VERSION``), MLflow's files next to
``MLmodel`` (``requirements.txt``, ``conda.yaml``, ``python_env.yaml``) and a ``Dockerfile``
(the base image of its last ``FROM``).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument
from modelyard.runtime.bundle import (
    EXAMPLE_FILE,
    REQUIREMENTS_FILE,
    SCORE_FILE,
    SPEC_FILE,
    bundle_files,
    read_bundle,
)
from modelyard.runtime.flavors import flavor
from modelyard.runtime.flavors.gesund import MODEL_CLASS as GESUND_CLASS
from modelyard.runtime.flavors.gesund import MODEL_FILE as GESUND_FILE
from modelyard.runtime.flavors.mlflow import MLMODEL_FILE

REQUIREMENTS_FILES = (REQUIREMENTS_FILE, "reqs.txt")
CONDA_FILES = ("environment.yml", "environment.yaml", "conda.yaml", "conda.yml")
ADS_RUNTIME_FILE = "runtime.yaml"
DOCKERFILE = "Dockerfile"

#: The flavors that read one model file, in the order a file is offered to them.
FILE_FLAVORS = (Flavor.SKLEARN, Flavor.ONNX, Flavor.TORCHSCRIPT, Flavor.PYTORCH, Flavor.KERAS)
#: Pickles a score.py may load itself (the python flavor's model files).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".cloudpickle")

_PYTHON_DEP = re.compile(r"^python\s*(?P<op>[=<>!~]{0,2})\s*(?P<version>[0-9][0-9.*]*)$")


def detect(bundle: Path) -> RuntimeSpec:
    """The runtime spec of the bundle in directory ``bundle`` (see the module's doc).

    Raises InvalidArgument naming what was looked for when nothing is recognized, and when
    several model files could be the model.
    """
    files = bundle_files(bundle)
    declared = read_bundle(bundle).runtime
    if declared is not None:
        return completed(declared, bundle)
    spec = _mlflow(bundle, files) or _gesund(bundle, files) or _score(bundle, files)
    if spec is None:
        spec = _model_file(bundle, files)
    if spec is None:
        raise InvalidArgument(_nothing_found(files), field="files")
    return spec


def completed(spec: RuntimeSpec, bundle: Path) -> RuntimeSpec:
    """A declared ``spec`` with the environment fields it leaves unset found in the bundle's
    files; a ``conda_env`` it names, whatever the file is called, gives the requirements and
    python version."""
    found = _environment(bundle, bundle_files(bundle), base="")
    if spec.conda_env is not None and (bundle / spec.conda_env).is_file():
        pip, python = _conda(bundle / spec.conda_env)
        found.update(requirements=pip, python_version=python)
    missing = {
        name: value for name, value in found.items() if name not in spec.model_fields_set and value
    }
    return spec.model_copy(update=missing)


# -- what serves the model ----------------------------------------------------------------------


def _mlflow(bundle: Path, files: list[str]) -> RuntimeSpec | None:
    found = [f for f in files if PurePosixPath(f).name == MLMODEL_FILE and f.count("/") <= 1]
    if not found:
        return None
    if len(found) > 1:
        raise InvalidArgument(
            f"several MLflow models in one bundle ({', '.join(found)}); register each as a "
            f"version of its own, or write {SPEC_FILE} with runtime.model_file naming one",
            field="files",
        )
    spec = flavor(Flavor.MLFLOW).detect(bundle, files)
    if spec is None:
        return None
    parent = PurePosixPath(found[0]).parent.as_posix()
    base = "" if parent == "." else parent
    return spec.model_copy(update=_environment(bundle, files, base=base))


def _gesund(bundle: Path, files: list[str]) -> RuntimeSpec | None:
    spec = flavor(Flavor.GESUND).detect(bundle, files)
    return None if spec is None else spec.model_copy(update=_environment(bundle, files, base=""))


def _score(bundle: Path, files: list[str]) -> RuntimeSpec | None:
    if SCORE_FILE not in files:
        return None
    pickles = [f for f in files if PurePosixPath(f).suffix.lower() in PICKLE_SUFFIXES]
    # a pickle next to a score.py is whatever the script unpickles (ADS's GenericModel writes
    # model.pkl), not necessarily a scikit-learn model
    model = _model_file(bundle, [f for f in files if f not in pickles])
    if model is not None:
        return model.model_copy(update={"entry_point": SCORE_FILE})
    spec = RuntimeSpec(
        flavor=Flavor.PYTHON,
        entry_point=SCORE_FILE,
        model_file=pickles[0] if len(pickles) == 1 else _preferred(pickles),
    )
    return spec.model_copy(update=_environment(bundle, files, base=""))


def _model_file(bundle: Path, files: list[str]) -> RuntimeSpec | None:
    """The spec of the one model file among ``files``, or None when there is none."""
    specs: dict[str, RuntimeSpec] = {}
    for path in files:
        spec = _file_spec(bundle, path)
        if spec is not None:
            specs[path] = spec
    if not specs:
        return None
    chosen = next(iter(specs)) if len(specs) == 1 else _preferred(list(specs))
    if chosen is None:
        listed = ", ".join(f"{p} ({s.flavor})" for p, s in specs.items())
        raise InvalidArgument(
            f"several model files and none named model.*: {listed}; write {SPEC_FILE} with "
            "runtime.flavor and runtime.model_file naming the one to serve",
            field="files",
        )
    return specs[chosen].model_copy(update=_environment(bundle, files, base=""))


def _file_spec(bundle: Path, path: str) -> RuntimeSpec | None:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".pt", ".pth"):
        name = Flavor.TORCHSCRIPT if is_torchscript(bundle / path) else Flavor.PYTORCH
        return flavor(name).detect(bundle, [path])
    for name in FILE_FLAVORS:
        impl = flavor(name)
        if suffix in impl.suffixes:
            spec = impl.detect(bundle, [path])
            if spec is not None:
                return spec
    return None


def _preferred(paths: list[str]) -> str | None:
    """The path named ``model.*`` at the bundle's top, when exactly one is."""
    named = [p for p in paths if "/" not in p and PurePosixPath(p).stem == "model"]
    return named[0] if len(named) == 1 else None


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``): a zip holding
    ``<name>/code/`` and ``<name>/constants.pkl``; ``torch.save`` archives hold neither."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    parts = [n.split("/") for n in names]
    return any(len(p) > 2 and p[1] == "code" for p in parts) and any(
        p[1:] == ["constants.pkl"] for p in parts
    )


def _nothing_found(files: list[str]) -> str:
    suffixes = sorted({s for name in FILE_FLAVORS for s in flavor(name).suffixes})
    shown = ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
    return (
        "no model recognized in the bundle: looked for "
        f"{SPEC_FILE} (runtime.flavor), an MLflow {MLMODEL_FILE} file, {GESUND_FILE} defining "
        f"class {GESUND_CLASS}, a {SCORE_FILE} entry point, and a model file "
        f"({', '.join('*' + s for s in suffixes)}); found "
        f"{shown or 'no files'}. Add the model file, or write {SPEC_FILE} with runtime.flavor "
        "(`modelyard template` writes a bundle that works)"
    )


# -- what it needs ------------------------------------------------------------------------------


def _environment(bundle: Path, files: list[str], *, base: str) -> dict[str, Any]:
    """The environment fields found in directory ``base`` of ``bundle`` (see the module's doc);
    only those found are in the answer."""

    def here(name: str) -> str | None:
        path = f"{base}/{name}" if base else name
        return path if path in files else None

    found: dict[str, Any] = {}
    conda = next((p for p in map(here, CONDA_FILES) if p), None)
    if conda is not None:
        pip, python = _conda(bundle / conda)
        found["conda_env"] = conda
        if pip:
            found["requirements"] = pip
        if python:
            found["python_version"] = python
    for name in REQUIREMENTS_FILES:
        path = here(name)
        if path is not None:
            found["requirements"] = read_requirements(bundle / path, bundle)
            break
    python_env = here("python_env.yaml")
    if python_env is not None:
        python = _mapping(bundle / python_env).get("python")
        if python is not None:
            found["python_version"] = _python_version("==", str(python))
    ads = here(ADS_RUNTIME_FILE)
    if ads is not None:
        env = _mapping(bundle / ads).get("MODEL_DEPLOYMENT", {})
        conda_env = env.get("INFERENCE_CONDA_ENV", {}) if isinstance(env, dict) else {}
        version = conda_env.get("INFERENCE_PYTHON_VERSION") if isinstance(conda_env, dict) else None
        if version is not None:
            found["python_version"] = _python_version("==", str(version))
    docker = here(DOCKERFILE)
    if docker is not None:
        image = _base_image(bundle / docker)
        if image:
            found["docker_image"] = image
    for name in ("serving_input_example.json", EXAMPLE_FILE):
        path = here(name)
        if path is not None:
            found["example"] = path
            break
    return found


def read_requirements(path: Path, bundle: Path, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """The requirement lines of a pip requirements file: comments, blank lines and options
    left out, ``-r other.txt`` followed (inside the bundle). Lines are kept as written: the
    checks say which do not parse."""
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ", "-r", "--requirement=")):
            target = re.sub(r"^(-r|--requirement)[= ]?\s*", "", line)
            include = (path.parent / target).resolve()
            seen = _seen | {path.resolve()}
            if (
                include.is_relative_to(bundle.resolve())
                and include.is_file()
                and include not in seen
            ):
                lines += read_requirements(include, bundle, seen)
            continue
        if line.startswith("-"):
            continue
        lines.append(line)
    return lines


def _conda(path: Path) -> tuple[list[str], str | None]:
    """A conda YAML's pip requirements and python version."""
    pip: list[str] = []
    python = None
    dependencies = _mapping(path).get("dependencies") or []
    for dep in dependencies if isinstance(dependencies, list) else []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            pip += [str(r).strip() for r in dep["pip"] if not str(r).strip().startswith("-")]
        elif isinstance(dep, str):
            match = _PYTHON_DEP.match(dep.strip())
            if match:
                python = _python_version(match["op"], match["version"])
    return pip, python


def _python_version(op: str, version: str) -> str:
    """``3.11`` for an exact version (``3.11``, ``=3.11.7``, ``==3.11.*``), else the specifier
    (``>=3.10``). Only the minor version matters to a bundle."""
    version = version.rstrip(".*")
    if op in ("", "=", "=="):
        return ".".join(version.split(".")[:2])
    return f"{op}{version}"


def _mapping(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping; an empty one when it is not YAML or not a mapping
    (detection reports what it finds and leaves judging the file to the checks)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _base_image(path: Path) -> str | None:
    """The image of a Dockerfile's last ``FROM`` (the final stage; a stage built ``FROM`` an
    earlier one has that one's image), unless it is built from ``ARG`` variables."""
    stages: dict[str, str | None] = {}
    image = None
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = raw.split()
        if len(words) < 2 or words[0].upper() != "FROM":
            continue
        words = [w for w in words[1:] if not w.startswith("--")]
        if not words:
            continue
        image = stages.get(words[0].lower(), None if "$" in words[0] else words[0])
        if len(words) >= 3 and words[1].upper() == "AS":
            stages[words[2].lower()] = image
    return image
