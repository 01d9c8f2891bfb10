"""What the end-to-end tests share: big random files and digests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 8 * 1024 * 1024
#: The big file of each flow: 200 MiB (> 200 MB).
BIG = 25 * CHUNK


def write_random(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(CHUNK, left)
            f.write(os.urandom(n))
            left -= n
    return path


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def bundle(root: Path) -> dict[str, str]:
    """Three files, one of them 200 MiB, one in a subdirectory: relative path -> SHA-256."""
    (root / "config").mkdir(parents=True)
    (root / "README.md").write_text("# model\n\nA test bundle.\n")
    (root / "config" / "params.json").write_text('{"C": 1.0, "penalty": "l2"}\n')
    write_random(root / "weights.bin", BIG)
    return digests(root)


def digests(root: Path) -> dict[str, str]:
    """Every file under ``root``: relative path -> SHA-256."""
    return {p.relative_to(root).as_posix(): sha256_of(p) for p in root.rglob("*") if p.is_file()}
