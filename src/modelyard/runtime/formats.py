"""What a model file really is, told from its bytes, never by running it.

A file named ``model.onnx`` may be a text file, a Git LFS pointer or an HTML error page saved
by a failed download; a ``model.pt`` may be a joblib pickle. :func:`sniff` reads the first
bytes (and a zip's directory, and a pickle's first opcodes with ``pickletools``, which runs
nothing) and names the format, so the checks can say what the file is instead of showing the
framework's loader error. :func:`expected_formats` says which formats a file's name and flavor
call for.
"""

from __future__ import annotations

import pickletools
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from modelyard.domain.runtime import Flavor

_HEAD = 64 * 1024
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
    b"\x5d\x00\x00": "lzma",
    b"\x04\x22\x4d\x18": "lz4",
    b"ZF": "zlib",
}
_ZLIB_SECOND = (0x01, 0x5E, 0x9C, 0xDA)
#: torch.save's legacy (non-zip) files start by pickling this magic number (protocol 2).
_TORCH_LEGACY = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"

#: What each format is called in messages.
DESCRIPTIONS = {
    "onnx": "an ONNX model",
    "torchscript": "a TorchScript archive (torch.jit.save)",
    "torch": "a torch.save archive (a state_dict or a pickled module)",
    "torch-legacy": "a legacy torch.save file (a pickle)",
    "pickle": "a pickle",
    "joblib-compressed": "a compressed joblib/pickle file",
    "skops": "a skops file",
    "keras": "a Keras 3 .keras archive",
    "hdf5": "an HDF5 file (Keras 2 .h5)",
    "safetensors": "a safetensors file",
    "npy": "a numpy .npy array",
    "zip": "a zip archive",
    "text": "a text file",
    "html": "an HTML page",
    "lfs-pointer": "a Git LFS pointer",
    "empty": "an empty file",
    "unknown": "a binary file of a format not recognized",
}
#: Formats that run code stored in the file when they are loaded. (A torch.save archive is
#: a pickle too, but ``torch.load(weights_only=True)`` reads state_dicts from it safely; its
#: flavor knows whether it loads it that way.)
PICKLED = frozenset({"pickle", "joblib-compressed", "torch-legacy"})

_PICKLES = PICKLED
_TORCH = frozenset({"torch", "torch-legacy"})
_BY_SUFFIX: dict[str, frozenset[str]] = {
    ".onnx": frozenset({"onnx"}),
    ".pt": _TORCH | {"torchscript"},
    ".pth": _TORCH | {"torchscript"},
    ".joblib": _PICKLES,
    ".pkl": _PICKLES,
    ".pickle": _PICKLES,
    ".cloudpickle": _PICKLES,
    ".skops": frozenset({"skops"}),
    ".keras": frozenset({"keras"}),
    ".h5": frozenset({"hdf5"}),
    ".hdf5": frozenset({"hdf5"}),
    ".safetensors": frozenset({"safetensors"}),
    ".npy": frozenset({"npy"}),
}
_BY_FLAVOR: dict[Flavor, frozenset[str]] = {
    Flavor.SKLEARN: _PICKLES | {"skops"},
    Flavor.ONNX: frozenset({"onnx"}),
    Flavor.TORCHSCRIPT: frozenset({"torchscript"}),
    Flavor.PYTORCH: _TORCH,
    Flavor.KERAS: frozenset({"keras", "hdf5"}),
    Flavor.TEXT_EMBEDDING: frozenset({"torchscript", "onnx"}),
}
#: How to store a model in each format: the hint when a file is in another one.
_HOW = {
    "onnx": "a .onnx file with the onnx flavor",
    "torchscript": "a .pt file with the torchscript flavor",
    "torch": "a .pt file with the pytorch flavor (and runtime.model_class for a state_dict)",
    "torch-legacy": "a .pt file with the pytorch flavor",
    "pickle": "a .joblib or .pkl file with the sklearn flavor (or a score.py that loads it)",
    "joblib-compressed": "a .joblib file with the sklearn flavor",
    "skops": "a .skops file with the sklearn flavor",
    "keras": "a .keras file with the keras flavor",
    "hdf5": "a .h5 file with the keras flavor",
}


@dataclass(frozen=True, kw_only=True)
class FileFormat:
    """A file's format (a key of ``DESCRIPTIONS``) and what was seen of it."""

    name: str
    #: More about the content: a pickle's first class, a text file's first line.
    detail: str | None = None

    def describe(self) -> str:
        text = DESCRIPTIONS[self.name]
        return f"{text} ({self.detail})" if self.detail else text

    @property
    def pickled(self) -> bool:
        return self.name in PICKLED

    def stored_as(self) -> str | None:
        """How a model in this format is registered, or None for non-model formats."""
        return _HOW.get(self.name)


def sniff(path: Path) -> FileFormat:
    """The format of the file at ``path``, from its first bytes; reads at most 64 KiB
    (and a zip's central directory)."""
    with path.open("rb") as f:
        head = f.read(_HEAD)
    if not head:
        return FileFormat(name="empty")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip(path)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return FileFormat(name="hdf5")
    if head.startswith(b"\x93NUMPY"):
        return FileFormat(name="npy")
    if head.startswith(_TORCH_LEGACY):
        return FileFormat(name="torch-legacy")
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return FileFormat(name="pickle", detail=_pickled_class(head))
    for magic, name in _COMPRESSED.items():
        if head.startswith(magic):
            return FileFormat(name="joblib-compressed", detail=f"{name}-compressed")
    if head[0] == 0x78 and len(head) > 1 and head[1] in _ZLIB_SECOND:
        return FileFormat(name="joblib-compressed", detail="zlib-compressed")
    if _is_safetensors(head):
        return FileFormat(name="safetensors")
    text = _text(head)
    if text is not None:
        return _text_format(text)
    if head[0] == 0x08 and len(head) > 2 and 1 <= head[1] <= 30:
        # protobuf field 1 (varint) first: ModelProto.ir_version, which exporters write first
        return FileFormat(name="onnx")
    return FileFormat(name="unknown")


def suffix_formats(path: str) -> frozenset[str]:
    """The formats a file's suffix calls for (``.onnx``: onnx); empty for other suffixes."""
    return _BY_SUFFIX.get(PurePosixPath(path).suffix.lower(), frozenset())


def expected_formats(model_file: str, flavor: Flavor) -> frozenset[str]:
    """The formats ``model_file`` may be in for ``flavor``: what both its suffix and its flavor
    allow; only one of them when the other says nothing (or they disagree: the flavor wins)."""
    by_suffix = suffix_formats(model_file)
    by_flavor = _BY_FLAVOR.get(flavor, frozenset())
    both = by_suffix & by_flavor
    return both or by_flavor or by_suffix


def _zip(path: Path) -> FileFormat:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        return FileFormat(name="zip", detail=f"damaged: {exc}")
    inner = [n.split("/", 1)[1] for n in names if "/" in n]
    if "constants.pkl" in inner and any(n.startswith("code/") for n in inner):
        return FileFormat(name="torchscript")
    if "data.pkl" in inner:
        return FileFormat(name="torch")
    if "config.json" in names and "metadata.json" in names:
        return FileFormat(name="keras")
    if "schema.json" in names:
        return FileFormat(name="skops")
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return FileFormat(name="zip", detail=f"holding {shown or 'nothing'}")


def _pickled_class(head: bytes) -> str | None:
    """The first class a pickle names (``sklearn.linear_model._logistic.LogisticRegression``),
    read from its opcodes without unpickling anything."""
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(head):
            if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                return arg.replace(" ", ".")
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                return f"{strings[-2]}.{strings[-1]}"
            if isinstance(arg, str):
                strings.append(arg)
    except (ValueError, EOFError, UnicodeDecodeError):  # the 64 KiB cut a pickle short
        return None
    return None


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 10:
        return False
    (size,) = struct.unpack("<Q", head[:8])
    return 2 <= size < 100_000_000 and head[8:10] in (b'{"', b"{ ")


def _text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the head
            return None
        text = head[: exc.start].decode("utf-8")
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text)
    return text if printable >= 0.95 * len(text) else None


def _text_format(text: str) -> FileFormat:
    stripped = text.lstrip()
    if stripped.startswith("version https://git-lfs.github.com/spec/"):
        return FileFormat(name="lfs-pointer")
    if stripped[:15].lower().startswith(("<!doctype html", "<html")):
        return FileFormat(name="html")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    shown = first if len(first) <= 60 else first[:57] + "..."
    return FileFormat(name="text", detail=f"first line: {shown!r}")
