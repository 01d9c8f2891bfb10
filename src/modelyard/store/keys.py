"""The SQL implementation of :class:`modelyard.domain.keys.KeyStore`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from modelyard.domain.keys import ApiKey
from modelyard.errors import AlreadyExists
from modelyard.store import tables as t
from modelyard.store.sql import SqlMetadataStore

_K = t.api_keys
_U = t.users
_SELECT = sa.select(_K, _U.c.name.label("user_name")).join(_U, _U.c.id == _K.c.user_id)


def _to_key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        user=row.user_name,
        name=row.name,
        fingerprint=row.fingerprint,
        public_key=row.public_key,
        created_at=row.created_at,
    )


class SqlKeyStore:
    """Signing keys in the registry's database, written through its store's single writer."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self._store = store

    def add(self, *, key: ApiKey, user_id: str) -> None:
        try:
            with self._store.write() as conn:
                conn.execute(
                    _K.insert().values(
                        id=key.id,
                        user_id=user_id,
                        name=key.name,
                        fingerprint=key.fingerprint,
                        public_key=key.public_key,
                        created_at=key.created_at,
                    )
                )
        except sa.exc.IntegrityError:  # uq_api_keys_fingerprint
            raise AlreadyExists(f"key {key.fingerprint} already registered") from None

    def for_user(self, user: str) -> list[ApiKey]:
        with self._store.read() as conn:
            rows = conn.execute(_SELECT.where(_U.c.name == user).order_by(_K.c.created_at)).all()
        return [_to_key(row) for row in rows]

    def by_fingerprint(self, fingerprint: str) -> ApiKey | None:
        with self._store.read() as conn:
            row = conn.execute(_SELECT.where(_K.c.fingerprint == fingerprint)).first()
        return _to_key(row) if row else None

    def get(self, key_id: str) -> ApiKey | None:
        with self._store.read() as conn:
            row = conn.execute(_SELECT.where(_K.c.id == key_id)).first()
        return _to_key(row) if row else None

    def delete(self, key_id: str) -> None:
        with self._store.write() as conn:
            conn.execute(_K.delete().where(_K.c.id == key_id))
