"""A real ``modelyard server`` process for tests that need one (its own home, a free port on
127.0.0.1), and its handle."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Server:
    """The session's running server and its admin token."""

    url: str
    home: Path
    admin_token: str


MODELYARD = Path(sys.executable).parent / "modelyard"
START_TIMEOUT_S = 30


def free_port() -> int:
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


@contextmanager
def running_server(home: Path, *args: str) -> Iterator[Server]:
    """``modelyard server`` with its own home on a free port, until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(MODELYARD), "server", "--home", str(home), "--port", str(port), *args],
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
