"""Fixtures for upload sessions: the in-process app with sessions enabled (and a clock the test
moves), one real uvicorn server in a thread on 127.0.0.1 for transfers that drop connections,
and a ``modelyard server`` process whose log the test reads."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from modelyard.api.app import create_app
from modelyard.domain.uploads import UploadSessions
from modelyard.store.sessions import SqlUploadSessionStore


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(registry: Any, tmp_path: Path) -> Iterator[LiveServer]:
    """The app served by uvicorn in a thread on 127.0.0.1 (real sockets, real disconnects)."""
    sessions = _sessions(registry, tmp_path, lambda: datetime.now(UTC))
    port = _free_port()
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
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    modelyard = Path(sys.executable).parent / "modelyard"
    argv = [str(modelyard), "server", "--home", str(home), "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"server not healthy:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        token = (home / "token").read_text().strip()
        yield ServerProcess(url=url, home=home, admin_token=token, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)  # blobs of large tests; the log stays
