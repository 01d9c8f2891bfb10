"""What the gRPC tests share: the server's address and settings, and a stub with a token."""

from __future__ import annotations

from dataclasses import dataclass

from server_support import Server

#: Takes calls without credentials on the test server; no other namespace does.
ANONYMOUS_NAMESPACE = "mbx"
#: The test server's largest gRPC message, small so the over-size test stays small.
MAX_MESSAGE = 256 * 1024


@dataclass(frozen=True)
class GrpcServer:
    server: Server
    address: str


def bearer(token: str) -> tuple[tuple[str, str]]:
    """Call metadata carrying ``token``."""
    return (("authorization", f"Bearer {token}"),)
