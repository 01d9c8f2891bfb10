"""Public keys that users register to sign requests (OCI's API signing keys).

A user registers the PEM of an RSA public key; the server computes its fingerprint the way OCI
does (MD5 of the DER SubjectPublicKeyInfo, colon-separated hex), which is what a signed
request names in its ``keyId`` (``<tenancy>/<user>/<fingerprint>``). A fingerprint belongs to
one key and one user. Anyone may register, list and delete their own keys; admins may list and
delete anyone's. The request signature itself is checked by the transport that speaks the
signing scheme (``modelyard.dialects.oci.signature``); :meth:`ApiKeys.signer` gives it the user
and key for a fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from modelyard.domain.audit import audited
from modelyard.domain.entities import User
from modelyard.domain.ids import new_id
from modelyard.domain.service import RegistryService
from modelyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

#: The largest PEM accepted (a 16384-bit RSA key is about 2.8 KiB).
MAX_PEM = 16 * 1024
#: The smallest RSA key accepted.
MIN_RSA_BITS = 2048


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A registered public key."""

    id: str
    user: str
    name: str
    fingerprint: str
    public_key: str
    created_at: datetime


class KeyStore(Protocol):
    def add(self, *, key: ApiKey, user_id: str) -> None:
        """Store a key. Raises AlreadyExists if its fingerprint is registered."""
        ...

    def for_user(self, user: str) -> list[ApiKey]:
        """A user's keys, oldest first."""
        ...

    def by_fingerprint(self, fingerprint: str) -> ApiKey | None: ...

    def get(self, key_id: str) -> ApiKey | None: ...

    def delete(self, key_id: str) -> None: ...


def load_public_key(pem: str) -> tuple[object, str]:
    """The RSA public key of a PEM (``BEGIN PUBLIC KEY``) and its OCI fingerprint."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:  # the optional dependency
        raise FailedPrecondition(
            "signing keys need the cryptography package: pip install 'modelyard[oci]'"
        ) from None
    if len(pem) > MAX_PEM:
        raise InvalidArgument(f"public_key: longer than {MAX_PEM} bytes", field="public_key")
    if "PRIVATE KEY" in pem:
        raise InvalidArgument(
            "public_key: this is a private key; send the public one (openssl rsa -pubout "
            "-in key.pem), and keep the private key to yourself",
            field="public_key",
        )
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidArgument(
            f"public_key: not a PEM public key ({exc}); send the file that starts with "
            "-----BEGIN PUBLIC KEY-----",
            field="public_key",
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidArgument(
            "public_key: not an RSA key (OCI signs with rsa-sha256)", field="public_key"
        )
    if key.key_size < MIN_RSA_BITS:
        raise InvalidArgument(
            f"public_key: an RSA key of {key.key_size} bits; use {MIN_RSA_BITS} or more",
            field="public_key",
        )
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der, usedforsecurity=False).hexdigest()
    return key, ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


class ApiKeys:
    """Registering, listing and deleting signing keys, and finding who signed a request."""

    def __init__(self, service: RegistryService, store: KeyStore) -> None:
        self.service = service
        self.store = store
        self.auditor = service.auditor

    @audited("key.add")
    def register(self, actor: User, public_key: str, name: str | None = None) -> ApiKey:
        """Register ``public_key`` (a PEM) for the caller; the fingerprint is computed here."""
        if actor.read_only:
            raise PermissionDenied("a read-only token cannot register keys")
        _, fingerprint = load_public_key(public_key)
        label = (name or "").strip() or fingerprint
        if len(label) > 128:
            raise InvalidArgument("name: longer than 128 characters", field="name")
        key = ApiKey(
            id=new_id(),
            user=actor.name,
            name=label,
            fingerprint=fingerprint,
            public_key=public_key.strip() + "\n",
            created_at=datetime.now(UTC),
        )
        try:
            self.store.add(key=key, user_id=actor.id)
        except AlreadyExists:
            raise AlreadyExists(
                f"a key with fingerprint {fingerprint} is already registered",
                field="public_key",
            ) from None
        return key

    def list_keys(self, actor: User, user: str | None = None) -> list[ApiKey]:
        """The caller's keys; an admin may name another ``user``."""
        if user is not None and user != actor.name and not actor.is_admin:
            raise PermissionDenied("only admins may list another user's keys")
        return self.store.for_user(user or actor.name)

    @audited("key.delete")
    def delete(self, actor: User, key_id: str) -> ApiKey:
        """Delete one of the caller's keys (an admin: anyone's); requests it signs are refused
        from then on."""
        key = self.store.get(key_id)
        if key is None or (key.user != actor.name and not actor.is_admin):
            raise NotFound(f"key {key_id!r} not found: `modelyard keys list` shows yours")
        if actor.read_only:
            raise PermissionDenied("a read-only token cannot delete keys")
        self.store.delete(key_id)
        return key

    def signer(self, fingerprint: str) -> tuple[User, ApiKey]:
        """The user (with their memberships) and the key a request signed with the key of
        ``fingerprint`` acts as."""
        key = self.store.by_fingerprint(fingerprint.lower())
        user = self.service.store.get_user(key.user) if key is not None else None
        if key is None or user is None:
            raise Unauthenticated(
                f"no key with fingerprint {fingerprint} is registered: register the public "
                "key with `modelyard keys add`"
            )
        return replace(user, memberships=self.service.store.memberships(user.id)), key
