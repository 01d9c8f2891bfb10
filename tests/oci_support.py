"""Signing requests as the ``oci`` SDK does, for the in-process tests (the SDK itself lives in
the oracle-ads venv, where ``ads_script.py`` signs with it)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GENERIC = ("date", "(request-target)", "host")
BODY = ("content-length", "content-type", "x-content-sha256")


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


@dataclass
class Signer(httpx.Auth):
    """The oci SDK's signer (``oci.signer.Signer``): date, (request-target) and host, plus
    content-length, content-type and x-content-sha256 on a POST, PUT or PATCH unless
    ``sign_body`` is false (as for artifact uploads). ``date`` overrides the clock;
    ``tamper`` changes the body after signing."""

    key: rsa.RSAPrivateKey
    key_fingerprint: str | None = None
    sign_body: bool = True
    date: datetime | None = None
    tamper: bytes | None = None
    headers: tuple[str, ...] | None = None
    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        when = self.date.timestamp() if self.date else None
        request.headers["date"] = email.utils.formatdate(when, usegmt=True)
        request.headers.setdefault("content-type", "application/json")
        names = list(GENERIC)
        if request.method in ("POST", "PUT", "PATCH") and self.sign_body:
            body = request.content
            digest = hashlib.sha256(body).digest()
            request.headers["x-content-sha256"] = base64.b64encode(digest).decode()
            request.headers["content-length"] = str(len(body))
            names += BODY
        names = list(self.headers or names)
        lines = []
        for name in names:
            if name == "(request-target)":
                target = request.url.raw_path.decode()
                lines.append(f"(request-target): {request.method.lower()} {target}")
            else:
                lines.append(f"{name}: {request.headers[name]}")
        signed = self.key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
        print_ = self.key_fingerprint or fingerprint(self.key)
        key_id = f"ocid1.tenancy.oc1..t/ocid1.user.oc1..u/{print_}"
        request.headers["authorization"] = (
            f'Signature version="1",keyId="{key_id}",algorithm="rsa-sha256",'
            f'headers="{" ".join(names)}",signature="{base64.b64encode(signed).decode()}"'
        )
        if self.tamper is not None:
            request.stream = httpx.ByteStream(self.tamper)
            request._content = self.tamper
        yield request


@dataclass
class OciApi:
    """The app (``api``), ``http`` (a client without a token: requests are signed), the
    admin's key and bob's key, registered."""

    api: Any
    http: httpx.Client
    admin_key: rsa.RSAPrivateKey
    bob_key: rsa.RSAPrivateKey

    @property
    def admin(self) -> Signer:
        return Signer(self.admin_key)

    @property
    def bob(self) -> Signer:
        return Signer(self.bob_key)


# One key pair for the session: generating a 2048-bit key takes a while.
_KEYS: list[rsa.RSAPrivateKey] = []


def keys(n: int) -> list[rsa.RSAPrivateKey]:
    while len(_KEYS) < n:
        _KEYS.append(new_key())
    return _KEYS[:n]
