"""A bundle: the directory of a version's files, and the code in it.

Conventional files (all optional except the model itself):

- ``modelyard.yaml``: ``runtime:`` (the fields of :class:`RuntimeSpec`) and ``sha256:``
  (relative path -> hex digest), read by :func:`read_bundle`, written by :func:`write_bundle`;
- ``input_example.json``: an example input; ``input_schema.json`` / ``output_schema.json``:
  JSON Schema of the inputs and the answers;
- the model file, a ``score.py`` entry point, ``requirements.txt`` and so on (see ``detect``).

:func:`bundle_code` imports a bundle's Python files (``score.py``, Gesund's ``model.py``) so that
two bundles loaded in one process never share a module: each load gets a package of its own.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import secrets
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from importlib.util import module_from_spec
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import ValidationError

from modelyard.domain.runtime import RuntimeSpec
from modelyard.errors import InvalidArgument

SPEC_FILE = "modelyard.yaml"
EXAMPLE_FILE = "input_example.json"
INPUT_SCHEMA_FILE = "input_schema.json"
OUTPUT_SCHEMA_FILE = "output_schema.json"
SCORE_FILE = "score.py"
REQUIREMENTS_FILE = "requirements.txt"

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: Directories that never belong to a bundle's files (version control, caches, environments).
_SKIPPED_DIRS = {"__pycache__", "node_modules"}


@dataclass(frozen=True, kw_only=True)
class BundleFile:
    """What ``modelyard.yaml`` declares: the runtime spec and the expected file digests."""

    runtime: RuntimeSpec | None = None
    sha256: dict[str, str] = field(default_factory=dict)


def read_bundle(bundle: Path) -> BundleFile:
    """``bundle``'s ``modelyard.yaml``; an empty :class:`BundleFile` when there is none."""
    path = bundle / SPEC_FILE
    if not path.is_file():
        return BundleFile()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            f"{SPEC_FILE} is not valid YAML ({exc}); fix it or remove it", field=SPEC_FILE
        ) from exc
    if doc is None:
        return BundleFile()
    if not isinstance(doc, dict):
        raise InvalidArgument(
            f"{SPEC_FILE} must be a mapping with 'runtime:' and/or 'sha256:', got "
            f"{type(doc).__name__}",
            field=SPEC_FILE,
        )
    unknown = sorted(set(doc) - {"runtime", "sha256"})
    if unknown:
        raise InvalidArgument(
            f"{SPEC_FILE}: unknown keys {', '.join(map(str, unknown))}; expected 'runtime' "
            "and 'sha256'",
            field=SPEC_FILE,
        )
    return BundleFile(runtime=_runtime(doc.get("runtime")), sha256=_digests(doc.get("sha256")))


def _runtime(value: Any) -> RuntimeSpec | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(
            f"{SPEC_FILE}: 'runtime' must be a mapping of runtime spec fields (flavor, "
            f"model_file, entry_point, ...), got {type(value).__name__}",
            field=f"{SPEC_FILE}:runtime",
        )
    try:
        return RuntimeSpec.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "runtime"
        raise InvalidArgument(
            f"{SPEC_FILE}: runtime.{where}: {first['msg']}", field=f"{SPEC_FILE}:runtime.{where}"
        ) from exc


def _digests(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(
            f"{SPEC_FILE}: 'sha256' must map relative paths to hex digests",
            field=f"{SPEC_FILE}:sha256",
        )
    digests = {}
    for path, digest in value.items():
        hexdigest = str(digest).lower().removeprefix("sha256:")
        if not _HEX64.fullmatch(hexdigest):
            raise InvalidArgument(
                f"{SPEC_FILE}: sha256[{path!r}] must be 64 hex digits, got {digest!r}",
                field=f"{SPEC_FILE}:sha256.{path}",
            )
        digests[str(path)] = hexdigest
    return digests


def write_bundle(
    bundle: Path, runtime: RuntimeSpec, sha256: Mapping[str, str] | None = None
) -> Path:
    """Write ``bundle/modelyard.yaml`` declaring ``runtime`` (and ``sha256``); returns its path."""
    doc: dict[str, Any] = {
        "runtime": runtime.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    }
    if sha256:
        doc["sha256"] = dict(sorted(sha256.items()))
    path = bundle / SPEC_FILE
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def bundle_files(bundle: Path) -> list[str]:
    """Every file under ``bundle`` as a relative POSIX path, sorted; hidden entries and
    ``__pycache__`` are left out."""
    found = []
    for root, dirs, files in os.walk(bundle):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        base = Path(root).relative_to(bundle)
        found += [(base / f).as_posix() for f in files if not f.startswith(".")]
    return sorted(found)


def defines_class(path: Path, name: str) -> bool:
    """Whether the Python file at ``path`` defines class ``name`` at its top level (parsed,
    never run; a file that does not parse defines nothing)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return False
    return any(isinstance(node, ast.ClassDef) and node.name == name for node in tree.body)


# -- bundle code -------------------------------------------------------------------------------

_LOCK = threading.RLock()


class BundleCode:
    """Imports a bundle's Python files as modules of one package of its own.

    Made by :func:`bundle_code`; see there for what is and is not isolated.
    """

    def __init__(self, root: Path, package: str) -> None:
        self.root = root
        self.package = package

    def import_file(self, relpath: str) -> ModuleType:
        """Import ``relpath`` (``score.py``, ``src/model.py``) and return the module."""
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root) or path.suffix != ".py":
            raise InvalidArgument(
                f"{relpath!r} is not a .py file inside the bundle", field="entry_point"
            )
        if not path.is_file():
            raise InvalidArgument(
                f"{relpath} is missing from the bundle; add it or fix runtime.entry_point",
                field="entry_point",
            )
        parts = path.relative_to(self.root).with_suffix("").parts
        if not all(p.isidentifier() for p in parts):
            raise InvalidArgument(
                f"{relpath!r} cannot be imported: every part of the path must be a Python "
                "identifier (letters, digits, underscores); rename it",
                field="entry_point",
            )
        return importlib.import_module(".".join((self.package, *parts)))

    def import_optional(self, relpath: str) -> ModuleType | None:
        """Like :meth:`import_file`, or None when the file does not exist."""
        return self.import_file(relpath) if (self.root / relpath).is_file() else None


@contextmanager
def bundle_code(bundle: Path) -> Iterator[BundleCode]:
    """Run a bundle's code: import its files and load its model inside this block.

    - Each call makes a fresh package (``_modelyard_bundle_<random>``) whose path is the bundle,
      so ``score.py`` is imported as ``<package>.score`` and relative imports
      (``from .preprocess import Preprocess``, as in Gesund's template) resolve inside the
      bundle. The bundle's ``__init__.py``, if any, is not run.
    - Absolute imports of the bundle's own modules (``import helpers``) work too: the bundle
      directory is first on ``sys.path`` inside the block. Afterwards those modules are removed
      from ``sys.modules`` (modules of the same names that were there before come back) and
      ``sys.path`` loses what the block added, so a second bundle with its own ``helpers.py``
      gets its own. The loaded code keeps the modules it imported; importing a bundle module
      lazily, after the block, is not supported.
    - The working directory is the bundle inside the block, for code that opens files by
      relative path while loading; ``__file__`` is the real path (ADS's
      ``os.path.dirname(__file__)`` works at any time).

    Blocks are serialized within a process (they change process-wide state).
    """
    root = bundle.resolve()
    with _LOCK:
        names = _top_level_modules(root)
        shadowed = {
            name: sys.modules.pop(name)
            for name in list(sys.modules)
            if name.partition(".")[0] in names
        }
        path_before = list(sys.path)
        cwd = os.getcwd()
        package = f"_modelyard_bundle_{secrets.token_hex(6)}"
        spec = ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(root)]
        sys.modules[package] = module_from_spec(spec)
        sys.path.insert(0, str(root))
        os.chdir(root)
        try:
            yield BundleCode(root, package)
        finally:
            os.chdir(cwd)
            sys.path[:] = [p for p in sys.path if p in path_before or not _inside(p, root)]
            for name in [n for n in sys.modules if n.partition(".")[0] in names]:
                if _module_inside(sys.modules[name], root):
                    del sys.modules[name]
            sys.modules.update(shadowed)
            importlib.invalidate_caches()


def _top_level_modules(root: Path) -> set[str]:
    """Names an absolute import could find in ``root``, except the standard library's (which a
    bundle cannot shadow once imported, and must not shadow for the rest of the process)."""
    names = {
        p.stem if p.suffix == ".py" else p.name
        for p in root.iterdir()
        if (p.suffix == ".py" and p.is_file()) or (p / "__init__.py").is_file()
    }
    return {n for n in names if n.isidentifier() and n not in sys.stdlib_module_names}


def _module_inside(module: ModuleType, root: Path) -> bool:
    origin = getattr(module, "__file__", None)
    paths = [origin] if origin else list(getattr(module, "__path__", []))
    return any(_inside(p, root) for p in paths)


def _inside(entry: str, root: Path) -> bool:
    try:
        return Path(entry or ".").resolve().is_relative_to(root)
    except OSError:
        return False
