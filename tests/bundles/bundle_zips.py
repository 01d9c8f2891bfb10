"""Real zip archives for the bundle tests, built with ``zipfile``; hostile ones patched at the
byte level where ``zipfile`` refuses to write them (encryption flags, lying sizes)."""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import warnings
import zipfile

CENTRAL = b"PK\x01\x02"
LOCAL = b"PK\x03\x04"
MiB = 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name, bytes) members; a name ending in '/' is a directory entry."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are a test case
        with zipfile.ZipFile(buf, "w", compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return buf.getvalue()


def symlink_zip(good: tuple[str, bytes], link: str, target: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(*good)
        info = zipfile.ZipInfo(link)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return buf.getvalue()


def bomb_zip(good: tuple[str, bytes], size: int) -> bytes:
    """A small member, then ``size`` bytes of zeros deflated to a tiny fraction of that."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(*good)
        info = zipfile.ZipInfo("zeros.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w") as f:
            zeros = bytes(MiB)
            for _ in range(size // MiB):
                f.write(zeros)
    return buf.getvalue()


def _headers(data: bytes, signature: bytes) -> list[int]:
    found, at = [], data.find(signature)
    while at >= 0:
        found.append(at)
        at = data.find(signature, at + 1)
    return found


def patch_member(
    data: bytes, index: int, *, flag_bits: int | None = None, size: int | None = None
) -> bytes:
    """Rewrite member ``index``'s general-purpose flags or declared uncompressed size in both
    its local and its central directory header (the bytes themselves stay as they are)."""
    out = bytearray(data)
    local, central = _headers(data, LOCAL)[index], _headers(data, CENTRAL)[index]
    if flag_bits is not None:
        struct.pack_into("<H", out, local + 6, flag_bits)
        struct.pack_into("<H", out, central + 8, flag_bits)
    if size is not None:
        struct.pack_into("<I", out, local + 22, size)
        struct.pack_into("<I", out, central + 24, size)
    return bytes(out)
