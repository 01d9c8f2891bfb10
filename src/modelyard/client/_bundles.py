"""Client side of zip bundles: checking a downloaded bundle against its own manifest."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from modelyard.domain.bundles import MANIFEST
from modelyard.errors import IntegrityError

CHUNK = 1024 * 1024


def verify_bundle(path: Path) -> dict[str, Any]:
    """Check every member of a downloaded bundle against the size and SHA-256 its
    ``modelyard-manifest.json`` lists; returns the manifest. Raises :class:`IntegrityError`
    on a missing, extra or different member."""
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read(MANIFEST))
            expected = {f["path"]: f for f in manifest["files"] if f["in_bundle"]}
            members = {i.filename: i for i in zf.infolist() if i.filename != MANIFEST}
            if set(members) != set(expected):
                raise IntegrityError(
                    f"{path.name}: members {sorted(members)} differ from the manifest's "
                    f"{sorted(expected)}"
                )
            for name, info in members.items():
                digest = hashlib.sha256()
                with zf.open(info) as f:
                    while chunk := f.read(CHUNK):
                        digest.update(chunk)
                want = expected[name]
                if info.file_size != want["size"] or digest.hexdigest() != want["sha256"]:
                    raise IntegrityError(
                        f"{path.name}: member {name!r} has SHA-256 {digest.hexdigest()} and "
                        f"{info.file_size} bytes, the manifest says {want['sha256']} and "
                        f"{want['size']}"
                    )
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IntegrityError(f"{path.name}: not a complete modelyard bundle ({exc})") from None
    return manifest
