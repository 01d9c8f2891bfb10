"""Fixtures shared by the whole suite.

- ``pg_url`` / ``pg_database``: fresh PostgreSQL databases on 127.0.0.1:5432, dropped after the
  session. Skipped when PostgreSQL is unreachable, except in CI (``CI=true``), where that fails.
- ``sqlite_url``: a migrated SQLite file per test (copied from one migrated once per session).
- ``pg_engine``: the session's PostgreSQL database, migrated; ``clean_pg_engine`` empties it.
- ``registry``: a :class:`RegistryService` on SQLite + a tmp blob root, with an admin and a way
  to add users; ``pg_registry`` the same on PostgreSQL.
- ``api``: the ASGI app in-process (``httpx.ASGITransport`` driven from sync tests through one
  anyio portal), one ``httpx.Client`` per user; ``pg_api`` the same on PostgreSQL, and
  ``api_both`` runs a test once on each.
- ``assert_problem``: the one check of the RFC 9457 error shape, used by every negative API test.
- ``seaweedfs``: one real S3 server (SeaweedFS) for the session, from seaweedfs_support.py.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from anyio.from_thread import BlockingPortal, start_blocking_portal

from modelyard.api.app import create_app
from modelyard.blobs.local import LocalBlobStore
from modelyard.domain.audit import Auditor
from modelyard.domain.directory import FailedAuthLimiter
from modelyard.domain.entities import User
from modelyard.domain.service import RegistryService
from modelyard.store import tables
from modelyard.store.audit import SqlAuditStore
from modelyard.store.engine import make_engine, migrate
from modelyard.store.sql import SqlMetadataStore
from seaweedfs_support import seaweedfs  # noqa: F401 (the session's S3 server fixture)

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{db}"

# -- PostgreSQL -----------------------------------------------------------------------------


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI but unreachable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unreachable on 127.0.0.1:5432: {reason}")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Any]:
    """A factory of fresh, empty PostgreSQL databases (URLs); all are dropped at the end."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True)
    except Exception as exc:  # ImportError, OperationalError: no server here
        _pg_unavailable(str(exc).strip())
    created: list[str] = []

    def create() -> str:
        name = f"modelyard_test_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return PG_URL.format(db=name)

    try:
        yield create
    finally:
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def pg_url(pg_database: Any) -> str:
    """One fresh PostgreSQL database for the session (empty; the store suite migrates it)."""
    return pg_database()


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    """The session's PostgreSQL database, migrated once."""
    engine = make_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_pg_engine(pg_engine: sa.Engine) -> sa.Engine:
    """The session's PostgreSQL database with every table emptied for this test."""
    names = ", ".join(t.name for t in tables.metadata.sorted_tables)
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return pg_engine


# -- SQLite ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "registry.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of its own for one test."""
    path = tmp_path / "registry.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


# -- the service ----------------------------------------------------------------------------


@dataclass
class Registry:
    """A service on SQLite and a tmp blob root, with its admin."""

    service: RegistryService
    blob_root: Path
    admin: User
    admin_token: str
    users: dict[str, User] = field(default_factory=dict)

    def user(self, name: str, *, is_admin: bool = False) -> User:
        """A user (created on first use) other than the admin."""
        if name not in self.users:
            self.users[name] = self.service.create_user(self.admin, name=name, is_admin=is_admin)
        return self.users[name]

    def token(self, name: str) -> str:
        self.user(name)
        return self.service.create_token(self.admin, user=name).token

    def blob_files(self) -> list[Path]:
        return sorted(p for p in (self.blob_root / "sha256").rglob("*") if p.is_file())

    def tmp_files(self) -> list[Path]:
        return sorted((self.blob_root / "tmp").iterdir())


def _registry(engine: sa.Engine, blob_root: Path) -> Registry:
    store = SqlMetadataStore(engine)
    service = RegistryService(
        store,
        LocalBlobStore(blob_root),
        auditor=Auditor(SqlAuditStore(store), clock=lambda: datetime.now(UTC)),
        # many tests send no or bad tokens on purpose; test_api_access checks the limit
        auth_limiter=FailedAuthLimiter(limit=0),
    )
    token = service.bootstrap_admin()
    assert token is not None
    return Registry(
        service=service, blob_root=blob_root, admin=service.authenticate(token), admin_token=token
    )


@pytest.fixture
def registry(sqlite_engine: sa.Engine, tmp_path: Path) -> Registry:
    return _registry(sqlite_engine, tmp_path / "blobs")


@pytest.fixture
def pg_registry(clean_pg_engine: sa.Engine, tmp_path: Path) -> Registry:
    """The same as ``registry``, on the (emptied) PostgreSQL database."""
    return _registry(clean_pg_engine, tmp_path / "blobs")


# -- the API --------------------------------------------------------------------------------


class PortalASGITransport(httpx.BaseTransport):
    """Sync tests, async app: each request runs ``httpx.ASGITransport`` on one event loop kept
    in a portal thread. The body is buffered (fine for tests); app exceptions propagate."""

    def __init__(self, app: Any, portal: BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> httpx.Response:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._asgi.handle_async_request(forwarded)
            content = await response.aread()
            await response.aclose()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(call)


@dataclass
class Api:
    """The app in-process; ``admin`` and ``anon`` clients, and :meth:`client_for` a new user."""

    registry: Registry
    app: Any
    portal: BlockingPortal
    _clients: list[httpx.Client] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.admin = self.client(self.registry.admin_token)
        self.anon = self.client(None)

    @property
    def service(self) -> RegistryService:
        return self.registry.service

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        c = httpx.Client(
            transport=PortalASGITransport(self.app, self.portal),
            base_url="http://testserver",
            headers=headers,
        )
        self._clients.append(c)
        return c

    def client_for(self, name: str) -> httpx.Client:
        """A client authenticated as the (non-admin) user ``name``, created on first use."""
        return self.client(self.registry.token(name))

    def close(self) -> None:
        for c in self._clients:
            c.close()


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


def _api(registry: Registry, portal: BlockingPortal) -> Iterator[Api]:
    holder = Api(registry=registry, app=create_app(registry.service), portal=portal)
    yield holder
    holder.close()


@pytest.fixture
def api(registry: Registry, portal: BlockingPortal) -> Iterator[Api]:
    yield from _api(registry, portal)


@pytest.fixture
def pg_api(pg_registry: Registry, portal: BlockingPortal) -> Iterator[Api]:
    """The app on PostgreSQL."""
    yield from _api(pg_registry, portal)


@pytest.fixture(params=["sqlite", "postgresql"])
def api_both(request: pytest.FixtureRequest) -> Api:
    """The app on SQLite, then on PostgreSQL: a test using it runs once on each."""
    name = "api" if request.param == "sqlite" else "pg_api"
    holder: Api = request.getfixturevalue(name)
    return holder


PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "errors", "request_id"}


def assert_problem(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """The one error shape: RFC 9457 problem+json with modelyard's code, errors, request_id."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert set(body) - PROBLEM_KEYS <= {"details", "size", "uri"}, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["request_id"], str) and body["request_id"]
    assert response.headers.get("x-request-id") == body["request_id"]
    assert isinstance(body["errors"], list)
    for err in body["errors"]:
        assert set(err) == {"field", "message"}, err
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, f"expected an error naming {field!r}, got {fields}: {body}"
    return body


@pytest.fixture(name="assert_problem")
def _assert_problem_fixture() -> Any:
    return assert_problem
