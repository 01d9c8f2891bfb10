"""Guessing a file's MIME type and kind from its path, and a version's content digest."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable

from modelyard.domain.entities import FileEntry
from modelyard.domain.enums import FileType

_MODEL_SUFFIXES = {
    ".onnx",
    ".pt",
    ".pth",
    ".pb",
    ".joblib",
    ".pkl",
    ".pickle",
    ".skops",
    ".safetensors",
    ".keras",
    ".h5",
    ".tflite",
    ".gguf",
    ".bin",
    ".mlmodel",
    ".torchscript",
}
_CHECKPOINT_SUFFIXES = {".ckpt", ".checkpoint"}
_TEXT_SUFFIXES = {".md", ".txt", ".json", ".yaml", ".yml", ".py", ".toml", ".cfg", ".csv", ".ini"}
_EXTRA_TYPES = {
    ".onnx": "application/onnx",
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".safetensors": "application/octet-stream",
}


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def guess_mime_type(path: str) -> str:
    suffix = _suffix(path)
    if suffix in _EXTRA_TYPES:
        return _EXTRA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


def guess_file_type(path: str, mime_type: str) -> FileType:
    suffix = _suffix(path)
    if suffix in _CHECKPOINT_SUFFIXES:
        return FileType.CHECKPOINT
    if suffix in _MODEL_SUFFIXES:
        return FileType.MODEL
    if suffix in _TEXT_SUFFIXES or mime_type.startswith("text/"):
        return FileType.TEXT
    for prefix, kind in (("image/", FileType.IMAGE), ("audio/", FileType.AUDIO)):
        if mime_type.startswith(prefix):
            return kind
    if mime_type.startswith("video/"):
        return FileType.VIDEO
    return FileType.OTHER


def content_digest(files: Iterable[FileEntry]) -> str:
    """One SHA-256 over a version's files: path and content digest (or URI) of each, in path
    order. Equal digests mean the same files with the same bytes."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.path}\0{f.sha256 or f.uri}\n".encode())
    return h.hexdigest()
