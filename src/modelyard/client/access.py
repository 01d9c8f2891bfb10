"""The SDK's access calls: tokens, teams, namespaces and their members, the audit log.
Mixed into :class:`modelyard.client.client.Client`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from modelyard.api import schemas as s
from modelyard.client._transport import Transport, paginate, segment


class AccessCalls:
    _t: Transport

    # -- tokens ------------------------------------------------------------------------

    def create_token(
        self,
        user: str | None = None,
        name: str = "api",
        *,
        scope: str = "write",
        expires_at: datetime | None = None,
    ) -> str:
        """A new API token for you, or (admins) for ``user``; ``scope='read'`` makes one that
        never changes anything. Only its hash is kept: this is the one time it is shown."""
        return self.issue_token(user, name, scope=scope, expires_at=expires_at).token

    def issue_token(
        self,
        user: str | None = None,
        name: str = "api",
        *,
        scope: str = "write",
        expires_at: datetime | None = None,
    ) -> s.TokenOut:
        """As :meth:`create_token`, with the token's id, scope and expiry."""
        body = {
            "user": user,
            "name": name,
            "scope": scope,
            "expires_at": expires_at.isoformat() if expires_at else None,
        }
        return self._t.call("POST", "/api/v1/tokens", s.TokenOut, json=body)

    def list_tokens(self, user: str | None = None) -> list[s.TokenInfoOut]:
        """Your tokens (admins: ``user``'s, or ``"*"`` for everyone's); never the secrets."""
        params = {"user": user} if user else None
        return self._t.call("GET", "/api/v1/tokens", s.TokenList, params=params).tokens

    def revoke_token(self, token_id: str) -> s.TokenInfoOut:
        """Revoke a token by id; it stops working at once."""
        return self._t.call("DELETE", f"/api/v1/tokens/{segment(token_id)}", s.TokenInfoOut)

    # -- signing keys ------------------------------------------------------------------

    def add_key(self, public_key: str, name: str | None = None) -> s.KeyOut:
        """Register an RSA public key (PEM) whose private key signs your requests to the OCI
        dialect; the answer has its fingerprint, the one in your OCI config."""
        body = {"public_key": public_key, "name": name}
        return self._t.call("POST", "/api/v1/users/me/keys", s.KeyOut, json=body)

    def list_keys(self, user: str | None = None) -> list[s.KeyOut]:
        """Your signing keys (admins: ``user``'s)."""
        params = {"user": user} if user else None
        return self._t.call("GET", "/api/v1/users/me/keys", s.KeyList, params=params).keys

    def delete_key(self, key_id: str) -> s.KeyOut:
        """Delete a signing key by id; what it signs is refused from then on."""
        return self._t.call("DELETE", f"/api/v1/users/me/keys/{segment(key_id)}", s.KeyOut)

    # -- teams -------------------------------------------------------------------------

    def create_team(self, name: str, description: str | None = None) -> s.TeamOut:
        """(Admins)"""
        body = {"name": name, "description": description}
        return self._t.call("POST", "/api/v1/teams", s.TeamOut, json=body)

    def list_teams(self) -> list[s.TeamOut]:
        return self._t.call("GET", "/api/v1/teams", s.TeamList).teams

    def get_team(self, name: str) -> s.TeamOut:
        return self._t.call("GET", f"/api/v1/teams/{segment(name)}", s.TeamOut)

    def delete_team(self, name: str) -> None:
        self._t.send("DELETE", f"/api/v1/teams/{segment(name)}")

    def add_team_member(self, team: str, user: str) -> s.TeamOut:
        path = f"/api/v1/teams/{segment(team)}/members/{segment(user)}"
        return self._t.call("PUT", path, s.TeamOut)

    def remove_team_member(self, team: str, user: str) -> s.TeamOut:
        path = f"/api/v1/teams/{segment(team)}/members/{segment(user)}"
        return self._t.call("DELETE", path, s.TeamOut)

    # -- namespaces --------------------------------------------------------------------

    def list_namespaces(self) -> list[s.NamespaceOut]:
        return self._t.call("GET", "/api/v1/namespaces", s.NamespaceList).namespaces

    def create_namespace(self, name: str, open: bool = False) -> s.NamespaceOut:
        """A namespace you administer; closed (only its writers create models) unless open."""
        body = {"name": name, "open": open}
        return self._t.call("POST", "/api/v1/namespaces", s.NamespaceOut, json=body)

    def get_namespace(self, name: str) -> s.NamespaceOut:
        return self._t.call("GET", f"/api/v1/namespaces/{segment(name)}", s.NamespaceOut)

    def update_namespace(self, name: str, *, open: bool) -> s.NamespaceOut:
        path = f"/api/v1/namespaces/{segment(name)}"
        return self._t.call("PATCH", path, s.NamespaceOut, json={"open": open})

    def set_namespace_member(self, namespace: str, user: str, role: str) -> s.NamespaceOut:
        """Give ``user`` the role ``reader``, ``writer`` or ``admin`` in the namespace."""
        path = f"/api/v1/namespaces/{segment(namespace)}/members/{segment(user)}"
        return self._t.call("PUT", path, s.NamespaceOut, json={"role": role})

    def remove_namespace_member(self, namespace: str, user: str) -> s.NamespaceOut:
        path = f"/api/v1/namespaces/{segment(namespace)}/members/{segment(user)}"
        return self._t.call("DELETE", path, s.NamespaceOut)

    # -- the audit log -----------------------------------------------------------------

    def audit_log(self, page_size: int = 100, **filters: Any) -> Iterator[s.AuditEventOut]:
        """(Admins) audit entries, newest first; filters: ``actor``, ``action`` (or a prefix
        ending in '.'), ``outcome``, ``namespace``, ``model``, ``since``, ``until``."""
        params = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in filters.items()
            if v is not None
        }

        def fetch(token: str | None) -> tuple[list[s.AuditEventOut], str | None]:
            query = {**params, "page_size": page_size, "page_token": token}
            page = self._t.call("GET", "/api/v1/audit", s.AuditList, params=query)
            return page.events, page.next_page_token

        return paginate(fetch)
