"""Helpers of the events and webhooks tests.

- :class:`Live`: the registry with its audit log, event stream and webhooks, served by uvicorn
  in a thread on 127.0.0.1 (the stream needs a server that really streams); the webhook
  dispatcher runs with tiny retry delays, and the SSRF guard lets it reach 127.0.0.1 only
  because the test allows it explicitly.
- :class:`Receiver`: a webhook receiver on 127.0.0.1 that records every request, and can go
  down (connection refused) and come back on the same port.
- :func:`read_events`: server-sent events off a streaming response, until a condition holds.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from modelyard.api.app import create_app
from modelyard.blobs.local import LocalBlobStore
from modelyard.client.events import parse_sse
from modelyard.dispatcher import Dispatcher
from modelyard.domain.audit import Auditor
from modelyard.domain.entities import User
from modelyard.domain.service import RegistryService
from modelyard.domain.webhooks import RetryPolicy, Sender, Webhooks
from modelyard.imports.guard import AddressPolicy
from modelyard.store.audit import SqlAuditStore
from modelyard.store.sql import SqlMetadataStore
from modelyard.store.webhooks import SqlWebhookStore

#: Retries every 0.2 s, then 0.4 s (capped), for long enough to outlast any test.
FAST_RETRY = RetryPolicy(base=0.2, cap=0.4, max_attempts=100, timeout=2.0)
LOOPBACK = AddressPolicy.parse("127.0.0.1")


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or check}")
        time.sleep(0.02)


# -- the registry -----------------------------------------------------------------------------


@dataclass
class Registry:
    """A service with its audit log and webhooks (no server)."""

    service: RegistryService
    webhooks: Webhooks
    admin: User
    admin_token: str

    def user(self, name: str) -> tuple[User, str]:
        """A new user and a token of theirs; the user as that token authenticates it."""
        self.service.create_user(self.admin, name=name)
        token = self.service.create_token(self.admin, user=name).token
        return self.service.authenticate(token), token

    def refreshed(self, token: str) -> User:
        """The token's user with its memberships as they are now."""
        self.service.forget_tokens()
        return self.service.authenticate(token)


def make_registry(engine: sa.Engine, blob_root: Path, retry: RetryPolicy = FAST_RETRY) -> Registry:
    store = SqlMetadataStore(engine)
    service = RegistryService(
        store,
        LocalBlobStore(blob_root),
        auditor=Auditor(SqlAuditStore(store), clock=lambda: datetime.now(UTC)),
    )
    token = service.bootstrap_admin()
    assert token is not None
    webhooks = Webhooks(service, SqlWebhookStore(store), policy=LOOPBACK, retry=retry)
    return Registry(
        service=service, webhooks=webhooks, admin=service.authenticate(token), admin_token=token
    )


def make_dispatcher(registry: Registry, sender: Sender, **options: Any) -> Dispatcher:
    options = {"poll_interval": 0.05, "threads": 2, **options}
    return Dispatcher(registry.webhooks, sender, **options)


# -- the server -------------------------------------------------------------------------------


@dataclass
class Live:
    """The app on a real server; ``client(token)`` talks to it."""

    registry: Registry
    url: str
    dispatcher: Dispatcher
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        c = httpx.Client(base_url=self.url, headers=headers, timeout=10.0)
        self._clients.append(c)
        return c

    @property
    def admin(self) -> httpx.Client:
        return self.client(self.registry.admin_token)

    def close(self) -> None:
        for c in self._clients:
            c.close()


class ServerThread:
    """uvicorn serving ``app`` from a thread, on a socket bound here (no port race)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app,
            lifespan="off",  # the test runs the dispatcher itself
            log_level="warning",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        eventually(lambda: self.server.started, 10, "the server started")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def serve(registry: Registry, sender: Sender) -> Iterator[Live]:
    dispatcher = make_dispatcher(registry, sender)
    app = create_app(registry.service, webhooks=registry.webhooks, dispatcher=dispatcher)
    server = ServerThread(app)
    server.start()
    dispatcher.start()
    live = Live(registry=registry, url=server.url, dispatcher=dispatcher)
    try:
        yield live
    finally:
        live.close()
        dispatcher.stop()
        server.stop()


# -- a webhook receiver -----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        receiver = self.server.receiver
        with receiver.lock:
            receiver.received.append(
                Received(body=body, headers={k.lower(): v for k, v in self.headers.items()})
            )
        self.send_response(receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


class Receiver:
    """Records POSTs; :meth:`stop` closes its port (connections are refused) and
    :meth:`start` opens the same port again."""

    def __init__(self) -> None:
        with socket.socket() as probe:  # a port that is free now, kept across restarts
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[Received] = []
        self.status = 200
        self.lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.receiver = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            assert self._thread is not None
            self._thread.join()
            self._httpd = None

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.event for r in self.received]


# -- reading the stream -----------------------------------------------------------------------


class EventStream:
    """The events (parsed ``data``) of a streaming SSE response, read as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.position: int | None = None  # the last ``id:`` seen, with or without data
        self._blocks = parse_sse(response.iter_lines())

    def read(self, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Events until ``until(events read by this call)`` holds; the response's read
        timeout bounds the wait for each line."""
        events: list[dict[str, Any]] = []
        for event_id, data in self._blocks:
            if event_id is not None:
                self.position = int(event_id)
            if data is None:
                continue
            event = json.loads(data)
            assert event["id"] == self.position
            events.append(event)
            if until(events):
                return events
        raise AssertionError(f"the stream ended early, after {events}")


@contextmanager
def follow(client: httpx.Client, **params: Any) -> Iterator[EventStream]:
    """``GET /api/v1/events`` as a stream; ``headers`` go with the request."""
    headers = params.pop("headers", {})
    with client.stream("GET", "/api/v1/events", params=params, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response)


def saw(action: str, model: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda events: any(e["action"] == action and e["model"] == model for e in events)


def create_model(client: httpx.Client, name: str, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/models", json={"name": name, **body})
    assert r.status_code == 201, r.text
    return r.json()
