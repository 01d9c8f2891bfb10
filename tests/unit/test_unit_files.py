"""domain/files.py: MIME and file-type guesses, and the version content digest."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from modelyard.domain.entities import FileEntry
from modelyard.domain.enums import FileStorage, FileType, ParentKind
from modelyard.domain.files import content_digest, guess_file_type, guess_mime_type


@pytest.mark.parametrize(
    ("path", "mime", "kind"),
    [
        ("model.onnx", "application/onnx", FileType.MODEL),
        ("dir/weights.SAFETENSORS", "application/octet-stream", FileType.MODEL),
        ("model.pt", None, FileType.MODEL),
        ("epoch-3.ckpt", None, FileType.CHECKPOINT),
        ("README.md", "text/markdown", FileType.TEXT),
        ("conf.yaml", "application/yaml", FileType.TEXT),
        ("config.json", "application/json", FileType.TEXT),
        ("cat.png", "image/png", FileType.IMAGE),
        ("speech.wav", None, FileType.AUDIO),
        ("clip.mp4", "video/mp4", FileType.VIDEO),
        ("noext", "application/octet-stream", FileType.OTHER),
        ("archive.xyz123", "application/octet-stream", FileType.OTHER),
    ],
)
def test_guesses(path: str, mime: str | None, kind: FileType) -> None:
    guessed = guess_mime_type(path)
    if mime is not None:
        assert guessed == mime
    assert guess_file_type(path, guessed) == kind


def _entry(path: str, sha: str | None = "a" * 64, uri: str | None = None) -> FileEntry:
    return FileEntry(
        id=path,
        parent_kind=ParentKind.VERSION,
        parent_id="v",
        path=path,
        size=1,
        sha256=sha,
        mime_type="x/y",
        file_type=FileType.OTHER,
        storage=FileStorage.STORED if sha else FileStorage.TRACKED,
        uri=uri,
        created_at=datetime.now(UTC),
    )


def test_content_digest_depends_on_paths_and_bytes_not_order() -> None:
    a, b = _entry("a"), _entry("b", sha="b" * 64)
    assert content_digest([a, b]) == content_digest([b, a])
    assert content_digest([a, b]) != content_digest([a, replace(b, sha256="c" * 64)])
    assert content_digest([a, b]) != content_digest([a, replace(b, path="c")])
    tracked = _entry("t", sha=None, uri="s3://x/y")
    assert content_digest([tracked]) != content_digest([replace(tracked, uri="s3://x/z")])
    assert len(content_digest([])) == 64
