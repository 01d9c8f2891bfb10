"""Where the client finds its server and its token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from modelyard import Client


def _auth_of(client_kwargs: dict[str, str | None]) -> tuple[str, str | None]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={"id": "u", "name": "me", "is_admin": False, "created_at": "2025-01-01T00:00:00Z"},
        )

    with Client(transport=httpx.MockTransport(handler), **client_kwargs) as client:  # type: ignore[arg-type]
        client.whoami()
    return str(seen[0].url), seen[0].headers.get("authorization")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("MODELYARD_URL", "MODELYARD_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "empty-home"))


def test_defaults_to_local_server_and_no_token() -> None:
    url, auth = _auth_of({})
    assert url == "http://127.0.0.1:8700/api/v1/me"
    assert auth is None


def test_token_file_in_modelyard_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    assert _auth_of({})[1] == "Bearer from-file"


def test_token_file_defaults_to_home_dot_modelyard(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MODELYARD_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".modelyard").mkdir()
    (tmp_path / ".modelyard" / "token").write_text("home-token\n")
    assert _auth_of({})[1] == "Bearer home-token"


def test_env_beats_file_and_argument_beats_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    monkeypatch.setenv("MODELYARD_TOKEN", "from-env")
    monkeypatch.setenv("MODELYARD_URL", "http://elsewhere:9000/")
    assert _auth_of({}) == ("http://elsewhere:9000/api/v1/me", "Bearer from-env")
    assert _auth_of({"token": "explicit", "url": "http://x:1"}) == (
        "http://x:1/api/v1/me",
        "Bearer explicit",
    )
