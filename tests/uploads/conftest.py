"""Fixtures for upload sessions: the in-process app with sessions enabled (and a clock the test
moves), one real uvicorn server in a thread on 127.0.0.1 for transfers that drop connections,
and a ``modelyard server`` process whose log the test reads."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from modelyard.api.app import create_app
from modelyard.domain.uploads import UploadSessions
from modelyard.store.sessions import SqlUploadSessionStore
from server_support import free_port, running_server


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class UploadsApi:
    api: Any
    sessions: UploadSessions
    clock: Clock

    def staging_files(self) -> list[Path]:
        return sorted(self.sessions.staging_dir.iterdir())


def _sessions(registry: Any, tmp_path: Path, clock: Any) -> UploadSessions:
    return UploadSessions(
        registry.service,
        SqlUploadSessionStore(registry.service.store),  # the fixture's SQL store
        tmp_path / "uploads",
        ttl=timedelta(hours=1),
        clock=clock,
    )


@pytest.fixture
def up(api: Any, tmp_path: Path) -> Iterator[UploadsApi]:
    """The ``api`` fixture's registry, served by an app with upload sessions enabled."""
    clock = Clock(datetime.now(UTC))
    sessions = _sessions(api.registry, tmp_path, clock)
    holder = dataclasses.replace(api, app=create_app(api.service, sessions), _clients=[])
    yield UploadsApi(api=holder, sessions=sessions, clock=clock)
    holder.close()


@dataclass
class LiveServer:
    url: str
    registry: Any
    sessions: UploadSessions


@pytest.fixture
def live(registry: Any, tmp_path: Path) -> Iterator[LiveServer]:
    """The app served by uvicorn in a thread on 127.0.0.1 (real sockets, real disconnects)."""
    sessions = _sessions(registry, tmp_path, lambda: datetime.now(UTC))
    port = free_port()
    config = uvicorn.Config(
        create_app(registry.service, sessions),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield LiveServer(url=f"http://127.0.0.1:{port}", registry=registry, sessions=sessions)
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class ServerProcess:
    """A ``modelyard server`` subprocess with its own home; its output goes to ``log``."""

    url: str
    home: Path
    admin_token: str
    log: Path

    @property
    def staging_dir(self) -> Path:
        return self.home / "uploads"

    def blob_files(self) -> list[Path]:
        return sorted(p for p in (self.home / "blobs").rglob("*") if p.is_file())

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """``modelyard server`` on 127.0.0.1 and a free port, as a user runs it (log level info)."""
    home = tmp_path / "server-home"
    home.mkdir()
    with running_server(home) as server:
        yield ServerProcess(
            url=server.url, home=home, admin_token=server.admin_token, log=home / "server.log"
        )
    shutil.rmtree(home / "blobs", ignore_errors=True)  # blobs of large tests; the log stays
