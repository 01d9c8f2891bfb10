"""Read a source URL as a stream of byte chunks: ``http(s)://``, ``s3://`` and ``file://``.

HTTP follows redirects itself (at most :data:`MAX_REDIRECTS`), checks every hop with the SSRF
guard, and connects to the very address the guard checked (the request goes to the IP, with
the original ``Host`` header and TLS server name), so DNS cannot change its answer in between.
Environment proxies are ignored for the same reason.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from modelyard.imports.guard import AddressPolicy, HostNotFound, SourceError

CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
SCHEMES = ("http", "https", "s3", "file")
_REDIRECTS = {301, 302, 303, 307, 308}


def shown(url: str) -> str:
    """A URL fit for an error message: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class UrlFetcher:
    """The sources a URL import may read, and the limits on them (the admin's settings)."""

    def __init__(
        self,
        *,
        policy: AddressPolicy | None = None,
        allow_file_urls: bool = False,
        max_bytes: int = 1 << 40,
        s3_options: Mapping[str, Any] | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.allow_file_urls = allow_file_urls
        self.max_bytes = max_bytes
        self._s3_options = dict(s3_options or {})
        self._timeout = timeout

    def check(self, url: str, checked_hosts: set[tuple[str, int]] | None = None) -> None:
        """Refuse a URL no fetch could accept, before a task is created: scheme, shape, a
        disabled source, and an http(s) host that resolves to an address the SSRF guard
        refuses. A host that does not resolve is let through (it may resolve when the task
        runs). The guard checks again at fetch time, on every hop: DNS may answer differently
        by then. Hosts in ``checked_hosts`` are not resolved again; checked ones are added."""
        self._check_shape(url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            return
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        if checked_hosts is not None and (host, port) in checked_hosts:
            return
        try:
            self.policy.addresses(host, port)
        except HostNotFound:
            return
        if checked_hosts is not None:
            checked_hosts.add((host, port))

    def _check_shape(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            _ = parts.port  # a malformed port raises ValueError
        except ValueError as exc:
            raise SourceError(f"not a URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise SourceError(f"expected an http://, https://, s3:// or file:// URL, got {url!r}")
        if scheme in ("http", "https", "s3") and not parts.hostname:
            raise SourceError(f"expected a host in {shown(url)!r}")
        if scheme == "s3" and not parts.path.lstrip("/"):
            raise SourceError(f"expected s3://bucket/key, got {url!r}")
        if scheme == "s3" and not _has_boto3():
            raise SourceError("s3:// sources need boto3 on the server: pip install 'modelyard[s3]'")
        if scheme == "file":
            if not self.allow_file_urls:
                raise SourceError(
                    "file:// sources are disabled: they read the server's disk; an admin may "
                    "enable them with MODELYARD_IMPORT_ALLOW_FILE_URLS=true"
                )
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise SourceError(f"expected file:///absolute/path, got {url!r}")

    def read(self, url: str) -> Iterator[bytes]:
        """The bytes at ``url`` in chunks of at most :data:`CHUNK`; SourceError on a refusal,
        an error answer, a broken connection or more than ``max_bytes``. Close the iterator
        to stop early. The SSRF guard is applied to every HTTP hop as it is fetched."""
        self._check_shape(url)
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            chunks = self._file(url)
        elif scheme == "s3":
            chunks = self._s3(url)
        else:
            chunks = self._http(url)
        total = 0
        try:
            for chunk in chunks:
                total += len(chunk)
                if total > self.max_bytes:
                    raise SourceError(self._too_large())
                yield chunk
        finally:
            chunks.close()

    def _too_large(self) -> str:
        return (
            f"larger than the import limit of {self.max_bytes} bytes (MODELYARD_IMPORT_MAX_BYTES)"
        )

    # -- http(s) ---------------------------------------------------------------------------

    def _http(self, url: str) -> Iterator[bytes]:
        current = httpx.URL(url)
        with httpx.Client(timeout=self._timeout, trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                if current.scheme not in ("http", "https"):
                    raise SourceError(f"redirected to a non-HTTP URL {shown(str(current))!r}")
                response = self._send(client, current)
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        current = current.join(location)
                        continue
                    if response.status_code != 200:
                        raise SourceError(
                            f"{shown(str(current))} answered {response.status_code} "
                            f"{response.reason_phrase}"
                        )
                    length = response.headers.get("content-length", "")
                    if length.isdigit() and int(length) > self.max_bytes:
                        raise SourceError(self._too_large())
                    yield from response.iter_bytes(CHUNK)
                    return
                except httpx.HTTPError as exc:
                    raise SourceError(f"reading {shown(str(current))} failed: {exc!r}") from None
                finally:
                    response.close()
        raise SourceError(f"more than {MAX_REDIRECTS} redirects, starting at {shown(url)}")

    def _send(self, client: httpx.Client, url: httpx.URL) -> httpx.Response:
        """GET ``url`` from an address the guard allowed, named by its host for HTTP and TLS."""
        port = url.port or (443 if url.scheme == "https" else 80)
        address = self.policy.addresses(url.host, port)[0]
        host_header = url.netloc.decode("ascii")
        request = client.build_request(
            "GET",
            url.copy_with(host=address),
            headers={"Host": host_header, "Accept-Encoding": "identity"},
            extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
        )
        try:
            return client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot fetch {shown(str(url))}: {exc!r}") from None

    # -- s3 --------------------------------------------------------------------------------

    def _s3(self, url: str) -> Iterator[bytes]:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        parts = urlsplit(url)
        bucket, key = parts.hostname or "", unquote(parts.path.lstrip("/"))
        try:
            client = boto3.session.Session().client("s3", **self._s3_options)
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"cannot read {shown(url)}: {exc}") from None
        try:
            yield from body.iter_chunks(CHUNK)
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"reading {shown(url)} failed: {exc}") from None
        finally:
            body.close()

    # -- file ------------------------------------------------------------------------------

    def _file(self, url: str) -> Iterator[bytes]:
        path = Path(unquote(urlsplit(url).path))
        try:
            # Non-blocking open: a FIFO must not hang the runner; only regular files are read.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SourceError(f"{path} is not a regular file")
            os.set_blocking(fd, True)
            while chunk := f.read(CHUNK):
                yield chunk


def _has_boto3() -> bool:
    try:
        import boto3  # noqa: F401
    except ImportError:
        return False
    return True
