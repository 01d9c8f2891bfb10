"""One real ``modelyard server`` per test session, on 127.0.0.1 and a free port.

The server runs as a subprocess of the installed ``modelyard`` command with its own home
directory; tests reach it through the SDK and the CLI exactly as a user would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import Server

from modelyard import Client

MODELYARD = Path(sys.executable).parent / "modelyard"
START_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {START_TIMEOUT_S}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("server-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(MODELYARD), "server", "--home", str(home), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_healthy(url, process, log)
        token_file = home / "token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        yield Server(url=url, home=home, admin_token=token_file.read_text().strip())
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def admin(server: Server) -> Iterator[Client]:
    with Client(server.url, server.admin_token) as client:
        yield client
