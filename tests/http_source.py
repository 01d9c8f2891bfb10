"""A real HTTP source on 127.0.0.1 serving the files of a directory, for URL imports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Handler(SimpleHTTPRequestHandler):
    """Static files, plus ``/redirect?to=URL`` answering 302 to that URL."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Source:
    root: Path
    url: str

    def add(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}"


@contextmanager
def serving_files(root: Path) -> Iterator[Source]:
    """Serve ``root`` on a free port of 127.0.0.1 until the block ends."""
    root.mkdir(parents=True, exist_ok=True)

    def handler(*args: Any) -> Handler:
        return Handler(*args, directory=str(root))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Source(root=root, url=f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
