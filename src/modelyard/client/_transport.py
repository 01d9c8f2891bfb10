"""HTTP plumbing of the SDK: where the server is, who we are, and errors off the wire.

``raise_for_error`` is the one place that turns a problem+json response back into the
exception class the server raised (``modelyard.errors.ERROR_CLASSES``), keeping its message,
field errors, HTTP ``status`` and ``request_id``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from modelyard.api.schemas import FileOut
from modelyard.client._files import Progress, read_chunks, sha256_file, write_verified
from modelyard.errors import (
    ERROR_CLASSES,
    Conflict,
    ErrorCode,
    FieldError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RegistryError,
    TooManyRequests,
    Unauthenticated,
)

DEFAULT_URL = "http://127.0.0.1:8700"
#: Connect, read and write limits for ordinary calls; transfers lift the read/write limits.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_BY_STATUS: dict[int, type[RegistryError]] = {
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidArgument,
    429: TooManyRequests,
}


def default_url() -> str:
    """``MODELYARD_URL``, else the embedded server's address."""
    return os.environ.get("MODELYARD_URL") or DEFAULT_URL


def token_file() -> Path:
    """``$MODELYARD_HOME/token`` (``MODELYARD_HOME`` defaults to ``~/.modelyard``)."""
    home = os.environ.get("MODELYARD_HOME")
    return (Path(home) if home else Path.home() / ".modelyard") / "token"


def default_token() -> str | None:
    """``MODELYARD_TOKEN``, else the token file the server writes on first start."""
    token = os.environ.get("MODELYARD_TOKEN")
    if token:
        return token.strip()
    try:
        return token_file().read_text().strip() or None
    except FileNotFoundError:
        return None


def segment(value: str) -> str:
    """One URL path segment (a namespace, model, version or tag)."""
    return quote(value, safe="")


def file_path(path: str) -> str:
    """A file path inside a version, its slashes kept."""
    return quote(path, safe="/")


def raise_for_error(response: httpx.Response) -> None:
    """Raise the registry exception a 4xx/5xx response describes; return on success."""
    if response.is_success:
        return
    if not response.is_stream_consumed:
        response.read()
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"detail": response.text or response.reason_phrase}
    try:
        cls = ERROR_CLASSES[ErrorCode(body.get("code"))]
    except ValueError:
        cls = _BY_STATUS.get(response.status_code, RegistryError)
    errors = [
        FieldError(field=str(e.get("field", "")), message=str(e.get("message", "")))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    details = body.get("details")
    exc = cls(
        str(body.get("detail") or response.reason_phrase),
        errors=errors,
        details=details if isinstance(details, dict) else None,
    )
    exc.status = response.status_code
    exc.request_id = body.get("request_id") or response.headers.get("x-request-id")
    raise exc


def paginate(fetch: Callable[[str | None], tuple[list[T], str | None]]) -> Iterator[T]:
    """Yield items page by page; the next page is fetched only when the caller gets there."""
    token: str | None = None
    while True:
        items, token = fetch(token)
        yield from items
        if not token:
            return


class Transport:
    """An authenticated ``httpx.Client`` bound to one server; every call raises on error."""

    def __init__(
        self,
        url: str,
        token: str | None,
        timeout: httpx.Timeout | float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=self._timeout, transport=transport
        )

    @property
    def _transfer_timeout(self) -> httpx.Timeout:
        """No read or write limit: a large body may take long to send, verify and fsync."""
        return httpx.Timeout(None, connect=self._timeout.connect, pool=self._timeout.pool)

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        out: type[M],
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        long: bool = False,
    ) -> M:
        """One JSON request; the response parsed into the wire model ``out``. ``long``: the
        server works through a whole file before it answers, so no read limit applies."""
        response = self._http.request(
            method,
            path,
            json=json,
            params=_drop_none(params),
            timeout=self._transfer_timeout if long else self._timeout,
        )
        raise_for_error(response)
        return out.model_validate_json(response.content)

    def send(self, method: str, path: str, *, json: Any = None) -> None:
        """A request whose answer has no body worth reading (e.g. 204)."""
        raise_for_error(self._http.request(method, path, json=json))

    def upload(
        self,
        path: str,
        local: Path,
        progress: Progress | None = None,
        sha256: str | None = None,
    ) -> FileOut:
        """PUT a file's bytes streamed from disk; the server checks them against its SHA-256
        (``sha256``, computed here when not given)."""
        digest = sha256 or sha256_file(local)
        response = self._http.put(
            path,
            params={"sha256": digest},
            content=read_chunks(local, progress),
            headers={"Content-Length": str(local.stat().st_size)},
            timeout=self._transfer_timeout,
        )
        raise_for_error(response)
        return FileOut.model_validate_json(response.content)

    def put_file(
        self,
        path: str,
        local: Path,
        out: type[M],
        progress: Progress | None = None,
        params: dict[str, Any] | None = None,
    ) -> M:
        """PUT a local file as the raw body, streamed; the answer parsed into ``out``."""
        response = self._http.put(
            path,
            params=_drop_none(params),
            content=read_chunks(local, progress),
            headers={"Content-Length": str(local.stat().st_size)},
            timeout=self._transfer_timeout,
        )
        raise_for_error(response)
        return out.model_validate_json(response.content)

    def download(
        self,
        path: str,
        dest: Path,
        sha256: str | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """GET a file into ``dest``, verified against ``sha256`` (else the server's checksum)."""
        with self._http.stream("GET", path, timeout=self._transfer_timeout) as response:
            raise_for_error(response)
            return write_verified(response, dest, sha256, progress)


def _drop_none(params: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in params.items() if v is not None} if params else None
