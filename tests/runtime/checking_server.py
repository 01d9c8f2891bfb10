"""A real server (task runner, check workers) for the runtime tests, with short check limits."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from modelyard.config import Settings
from modelyard.server import build_app

CHECK_TIMEOUT = 15
CHECK_MEMORY_MB = 2048


@contextmanager
def checking_server(home: Path) -> Iterator[tuple[str, str, Path]]:
    """(url, admin token, home) of a server on 127.0.0.1 whose checks have short limits."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = Settings(
        home=home, port=port, check_timeout_seconds=CHECK_TIMEOUT, check_memory_mb=CHECK_MEMORY_MB
    )
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.02)
        yield f"http://127.0.0.1:{port}", settings.token_file.read_text().strip(), home
    finally:
        server.should_exit = True
        thread.join(10)
