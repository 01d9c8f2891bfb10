"""OCI's request signatures (draft-cavage HTTP signatures, as the ``oci`` SDK's signer makes
them), verified against the public keys users registered with modelyard.

A signed request carries::

    Authorization: Signature version="1",keyId="<tenancy>/<user>/<fingerprint>",
        algorithm="rsa-sha256",headers="date (request-target) host ...",signature="<base64>"

The signature is RSASSA-PKCS1-v1_5 with SHA-256 over the signing string: one line per name of
``headers``, ``name: value`` (the header as sent), and ``(request-target): <method> <path>``
with the path and query as sent. modelyard requires ``date`` (or ``x-date``),
``(request-target)`` and ``host`` always, and on a POST, PUT or PATCH also ``content-length``,
``content-type`` and ``x-content-sha256``, whose values must match the body received: the
SDK signs every body so, except artifact uploads, which it sends unsigned
(``enforce_content_headers=False``); their routes say so (``body_signed=False``). The date
must be within :data:`MAX_SKEW` of the server's clock, as OCI's is. The key is the one whose
fingerprint ends ``keyId``; the tenancy and user parts are not checked (they name OCI
identities modelyard does not have).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from modelyard.errors import Unauthenticated

#: How far a request's date may be from the server's clock (OCI allows five minutes).
MAX_SKEW = timedelta(minutes=5)
#: Headers every signature covers.
REQUIRED = ("(request-target)", "host")
#: Headers a signature of a request with a body also covers.
BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

_PARAM = re.compile(r'\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)')


@dataclass(frozen=True, kw_only=True)
class Signature:
    """The parameters of a ``Signature`` authorization header."""

    fingerprint: str
    headers: tuple[str, ...]
    signature: bytes


def parse(authorization: str) -> Signature:
    """The parameters of an ``Authorization: Signature ...`` header."""
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "signature":
        raise Unauthenticated(
            "the request is not signed: send it with the oci SDK's signer (an API key "
            "registered with `modelyard keys add`)"
        )
    params: dict[str, str] = {}
    at = 0
    while at < len(rest):
        found = _PARAM.match(rest, at)
        if found is None or found.end() == at:
            raise Unauthenticated("malformed Signature authorization header")
        params[found.group(1)] = found.group(2)
        at = found.end()
    if params.get("version", "1") != "1":
        raise Unauthenticated(f"signature version {params['version']!r} is not supported (1 is)")
    if params.get("algorithm", "rsa-sha256") != "rsa-sha256":
        raise Unauthenticated(f"algorithm {params['algorithm']!r} is not supported (rsa-sha256)")
    key_id, signed = params.get("keyId", ""), params.get("signature", "")
    parts = key_id.split("/")
    if len(parts) < 3 or not parts[-1]:
        raise Unauthenticated(f"keyId {key_id!r} is not <tenancy>/<user>/<fingerprint>")
    try:
        signature = base64.b64decode(signed, validate=True)
    except binascii.Error:
        raise Unauthenticated("the signature is not base64") from None
    headers = tuple(params.get("headers", "date").lower().split())
    return Signature(fingerprint=parts[-1], headers=headers, signature=signature)


def signing_string(
    signature: Signature, method: str, target: str, headers: Mapping[str, str]
) -> bytes:
    """What was signed: a line per signed header, in the order the signature lists them."""
    lines = []
    for name in signature.headers:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
            continue
        value = headers.get(name)
        if value is None:
            raise Unauthenticated(f"the signed header {name!r} is missing from the request")
        lines.append(f"{name}: {value}")
    return "\n".join(lines).encode("utf-8")


def check_covered(
    signature: Signature, method: str, headers: Mapping[str, str], *, body_signed: bool
) -> None:
    """The signature covers what it must: the date, target and host; a body's headers."""
    wanted = list(REQUIRED)
    wanted.append("x-date" if "x-date" in signature.headers else "date")
    if body_signed and method.upper() in BODY_METHODS:
        wanted += BODY_HEADERS
    missing = [h for h in wanted if h not in signature.headers]
    if missing:
        raise Unauthenticated(f"the signature does not cover {', '.join(missing)}")


def check_date(signature: Signature, headers: Mapping[str, str], now: datetime) -> None:
    """The signed date (``x-date`` if signed, else ``date``) is within :data:`MAX_SKEW` of
    ``now``; an unsigned one would let an old signature be replayed with a fresh date."""
    raw = headers.get("x-date" if "x-date" in signature.headers else "date")
    try:
        when = parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError):
        when = None
    if when is None:
        raise Unauthenticated("the request has no valid date header")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if abs(now - when) > MAX_SKEW:
        raise Unauthenticated(
            f"the request's date {raw} is more than {int(MAX_SKEW.total_seconds() / 60)} "
            "minutes from the server's clock: check your clock, and sign it again"
        )


def check_body(headers: Mapping[str, str], body: bytes) -> None:
    """The signed digest and length are those of the body received."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    if headers.get("x-content-sha256") != digest:
        raise Unauthenticated("x-content-sha256 does not match the body: it changed after signing")
    if headers.get("content-length") != str(len(body)):
        raise Unauthenticated("content-length does not match the body")


def verify_rsa(public_key: object, signature: bytes, message: bytes) -> None:
    """RSASSA-PKCS1-v1_5 / SHA-256 of ``message`` by the private half of ``public_key``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Unauthenticated(
            "the signature does not verify with the registered key: the request was signed "
            "with another key, or changed after signing"
        ) from None


def verify(
    public_key: object,
    signature: Signature,
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    now: datetime,
) -> None:
    """Check a parsed signature of a request against ``public_key``: what it covers, the
    date, the body (when ``body`` is given: the route requires it signed) and the RSA
    signature itself. ``headers`` has lower-case names. Raises Unauthenticated."""
    check_covered(signature, method, headers, body_signed=body is not None)
    check_date(signature, headers, now)
    if body is not None and method.upper() in BODY_METHODS:
        check_body(headers, body)
    verify_rsa(public_key, signature.signature, signing_string(signature, method, target, headers))
