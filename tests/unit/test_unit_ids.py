"""domain/ids.py: what each value type accepts and refuses."""

from __future__ import annotations

import pytest

from modelyard.domain.ids import Digest, FilePath, Key, Name, Tag, UserName, VersionLabel, new_id
from modelyard.errors import InvalidArgument

HEX = "ab" * 32

ACCEPT = [
    (Name, "churn"),
    (Name, "Churn-2.v1_x"),
    (Name, "0abc"),
    (Name, "n" * 128),
    (UserName, "alice@example.com"),
    (VersionLabel, "1.0.0+build-3"),
    (VersionLabel, "2"),
    (Tag, "production"),
    (Tag, "p" * 64),
    (Key, "train/loss: epoch 1"),
    (Key, "_private"),
    (FilePath, "model.onnx"),
    (FilePath, "a/b/c..d/e.txt"),
    (FilePath, "..hidden/x"),
    (FilePath, "x" * 1024),
]

REJECT = [
    (Name, ""),
    (Name, "n" * 129),
    (Name, "-lead"),
    (Name, ".lead"),
    (Name, "a/b"),
    (Name, "a b"),
    (Name, "a%b"),
    (Name, None),
    (Name, 5),
    (UserName, "has space"),
    (VersionLabel, "1" * 65),
    (VersionLabel, "v 1"),
    (Tag, "1abc"),
    (Tag, "p" * 65),
    (Tag, "a/b"),
    (Key, ""),
    (Key, "k" * 251),
    (Key, "bad!"),
    (FilePath, ""),
    (FilePath, "../x"),
    (FilePath, "a/../../x"),
    (FilePath, "a/.."),
    (FilePath, "./a"),
    (FilePath, "/etc/passwd"),
    (FilePath, "C:/x"),
    (FilePath, "a//b"),
    (FilePath, "a/"),
    (FilePath, "a\\b"),
    (FilePath, "a\x00b"),
    (FilePath, "a\nb"),
    (FilePath, "x" * 1025),
    (Digest, "ab" * 31),
    (Digest, "zz" * 32),
    (Digest, "md5:" + HEX),
    (Digest, None),
]


@pytest.mark.parametrize(("cls", "value"), ACCEPT)
def test_accepts(cls: type, value: str) -> None:
    parsed = cls.parse(value, "f")
    assert parsed == value and isinstance(parsed, cls)


@pytest.mark.parametrize(("cls", "value"), REJECT)
def test_rejects_naming_the_field(cls: type, value: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        cls.parse(value, "my.field")
    assert info.value.field == "my.field"
    assert "expected" in info.value.message


@pytest.mark.parametrize("value", [HEX, HEX.upper(), "sha256:" + HEX, " SHA256:" + HEX + " "])
def test_digest_normalises(value: str) -> None:
    d = Digest.parse(value)
    assert d == HEX and d.prefixed == "sha256:" + HEX


def test_new_ids_are_unique_and_time_ordered() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(len(i) == 32 for i in ids)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
