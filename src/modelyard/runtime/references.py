"""Files a bundle's Python code names: absolute paths, and bundle files that are missing.

:func:`scan_references` reads the string constants of every ``.py`` file in a bundle (parsed,
never run; docstrings, f-strings and code under ``if __name__ == "__main__":`` left out) and
finds two mistakes that break a model once it is deployed elsewhere:

- an absolute path of somebody's files (``/home/alice/model.joblib``, ``C:\\models\\...``,
  ``~/...``, or any absolute path ending in a model or data file's suffix);
- a relative file name with such a suffix (``"labels.txt"``, ``"weights/model.pt"``) that is
  not in the bundle, next to the code or at the bundle's top.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: File name suffixes that a string in bundle code names a bundle file by.
_FILE_SUFFIXES = (
    "pkl|pickle|cloudpickle|joblib|skops|onnx|pt|pth|pt2|bin|safetensors|ckpt|h5|hdf5|keras|pb"
    "|tflite|json|yaml|yml|txt|csv|tsv|npy|npz|parquet|model|vocab"
)
_FILE_LITERAL = re.compile(rf"^[\w.\-/]+\.(?:{_FILE_SUFFIXES})$")
#: Absolute paths that are somebody's files, not the system's (or that name a model file).
_USER_PATH = re.compile(
    r"^(?:~[/\\]|[A-Za-z]:[/\\]|/(?:home|Users|root|mnt|media|data|content|workspace|opt|tmp"
    r"|var|srv|scratch|gpfs|efs)/)"
)
#: Files that code names but that are absent by design: ADS's score.py checks the model file
#: against model_artifact_manifest.json only if it exists (ADS writes it into the zip it
#: uploads, not into the directory prepare() makes).
OPTIONAL_FILES = frozenset({"model_artifact_manifest.json"})
_MAX_SOURCES = 500
_MAX_SOURCE_BYTES = 2 << 20


@dataclass(frozen=True, kw_only=True)
class References:
    """What :func:`scan_references` found, as messages naming the file and line."""

    scanned: int
    absolute: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def scan_references(bundle: Path, files: list[str]) -> References:
    """Scan the ``.py`` files among ``files`` (relative paths in ``bundle``); the first 500,
    each up to 2 MiB."""
    sources = [f for f in files if f.endswith(".py")][:_MAX_SOURCES]
    present = set(files)
    names = {PurePosixPath(f).name for f in files}
    absolute, missing = [], []
    for source in sources:
        path = bundle / source
        if path.stat().st_size > _MAX_SOURCE_BYTES:
            continue
        for line, text in _string_literals(path):
            where = f"{source} line {line}"
            if _USER_PATH.match(text) or (text.startswith("/") and _FILE_LITERAL.match(text)):
                name = PurePosixPath(text.replace("\\", "/")).name
                hint = (
                    f"the bundle has {name}: build its path from the code's own directory, "
                    "os.path.join(os.path.dirname(__file__), ...)"
                    if name in names
                    else "that path will not exist where the model is deployed; put the "
                    "file in the bundle and build its path from os.path.dirname(__file__)"
                )
                absolute.append(f"{where}: absolute path {text!r}; {hint}")
            elif (
                _FILE_LITERAL.match(text)
                and text not in OPTIONAL_FILES
                and not _found(text, source, present, names)
            ):
                missing.append(
                    f"{where} names {text!r}, which is not in the bundle: add the file, "
                    "or fix the name"
                )
    return References(scanned=len(sources), absolute=absolute, missing=missing)


def _string_literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of the string constants in a Python file, but docstrings and code under
    ``if __name__ == "__main__":``; nothing for a file that does not parse."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        return
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            skipped.add(id(body[0].value))
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(n) for n in node.values)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skipped
            and 0 < len(node.value) < 500
        ):
            yield node.lineno, node.value


def _found(text: str, source: str, present: set[str], names: set[str]) -> bool:
    """Whether a file name in ``source``'s code is one of the bundle's files."""
    relative = PurePosixPath(text.removeprefix("./"))
    here = PurePosixPath(source).parent
    if str(relative) in present or str(here / relative) in present:
        return True
    return "/" not in text and relative.name in names
