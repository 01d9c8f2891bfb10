"""The SDK does not trust the server: file paths from a listing stay inside the destination,
and ``Model.update`` can clear fields (``None`` is sent as ``null``, not dropped)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sdk_wire import Handler, model_json
from test_transfers import file_json

from modelyard import Client
from modelyard.errors import InvalidArgument

EVIL_PATHS = [
    "../EVIL",
    "a/../../EVIL",
    "/abs/EVIL",
    "C:/EVIL",
    "..",
    ".",
    "a//b",
    "a\\..\\EVIL",
    "a\x00b",
    "",
]


def listing_handler(paths: list[str], fetched: list[str]) -> Handler:
    """A server listing ``paths`` (each stored, holding b"x"), recording file GETs."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/files"):
            return httpx.Response(200, json={"files": [file_json(p, b"x") for p in paths]})
        if "/files/" in request.url.path:
            fetched.append(request.url.path)
            digest = hashlib.sha256(b"x").hexdigest()
            return httpx.Response(200, content=b"x", headers={"X-Checksum-Sha256": digest})
        return httpx.Response(200, json=model_json("m"))

    return handler


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("evil", EVIL_PATHS)
def test_download_all_refuses_paths_outside_the_destination(
    mock_client: Callable[[Handler], Client], tmp_path: Path, evil: str
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    fetched: list[str] = []
    # a good file listed first: it must not be written either
    model = mock_client(listing_handler(["ok.bin", evil], fetched)).get_model("m")
    with pytest.raises(InvalidArgument) as info:
        model.download_all(dest)
    assert info.value.errors[0].field == "path"
    assert fetched == []
    assert tree(tmp_path) == ["out"]


@pytest.mark.parametrize("evil", ["../EVIL", "a/../../EVIL", "/abs/EVIL"])
def test_download_into_directory_refuses_escaping_paths(
    mock_client: Callable[[Handler], Client], tmp_path: Path, evil: str
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    fetched: list[str] = []
    model = mock_client(listing_handler([], fetched)).get_model("m")
    with pytest.raises(InvalidArgument):
        model.download(evil, dest)
    assert fetched == []
    assert tree(tmp_path) == ["out"]


def test_download_all_refuses_a_symlink_leading_out(
    mock_client: Callable[[Handler], Client], tmp_path: Path
) -> None:
    dest, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "link").symlink_to(elsewhere, target_is_directory=True)
    fetched: list[str] = []
    model = mock_client(listing_handler(["link/EVIL"], fetched)).get_model("m")
    with pytest.raises(InvalidArgument, match="outside"):
        model.download_all(dest)
    assert fetched == [] and list(elsewhere.iterdir()) == []


def test_download_all_writes_good_paths(
    mock_client: Callable[[Handler], Client], tmp_path: Path
) -> None:
    fetched: list[str] = []
    model = mock_client(listing_handler(["a.bin", "d/e/b.bin", "..x/c"], fetched)).get_model("m")
    written = model.download_all(tmp_path)
    assert written == [tmp_path / "a.bin", tmp_path / "d/e/b.bin", tmp_path / "..x/c"]
    assert all(p.read_bytes() == b"x" for p in written)
    assert len(fetched) == 3


def patch_recorder(bodies: list[Any]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            body = json.loads(request.content)
            bodies.append(body)
            return httpx.Response(200, json={**model_json("m"), **body, "metadata": {}})
        return httpx.Response(200, json={**model_json("m"), "description": "old", "task": "t"})

    return handler


def test_update_sends_null_to_clear_fields(mock_client: Callable[[Handler], Client]) -> None:
    bodies: list[Any] = []
    model = mock_client(patch_recorder(bodies)).get_model("m")
    assert model.description == "old"
    model.update(description=None)
    assert bodies[-1] == {"description": None}
    assert model.description is None
    model.update(task=None, model_card=None)
    assert bodies[-1] == {"task": None, "model_card": None}


def test_update_sends_only_the_fields_given(mock_client: Callable[[Handler], Client]) -> None:
    bodies: list[Any] = []
    model = mock_client(patch_recorder(bodies)).get_model("m")
    model.update(task="classification")
    assert bodies[-1] == {"task": "classification"}
    model.update(metadata={"a": 1, "b": None}, access="public")
    assert bodies[-1] == {"metadata": {"a": 1, "b": None}, "access": "public"}
    model.update()
    assert bodies[-1] == {}


def test_update_none_metadata_or_access_is_not_sent(
    mock_client: Callable[[Handler], Client],
) -> None:
    bodies: list[Any] = []
    model = mock_client(patch_recorder(bodies)).get_model("m")
    model.update(metadata=None, access=None, description="d")
    assert bodies[-1] == {"description": "d"}
