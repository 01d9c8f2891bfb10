"""The OCI dialect in-process: the ``api`` fixture's registry served by an app with signing
keys, and a key registered for the admin and one for the user ``bob``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from modelyard.api.app import create_app
from modelyard.domain.keys import ApiKeys
from modelyard.store.keys import SqlKeyStore
from oci_support import OciApi, keys, public_pem


@pytest.fixture
def oci(api: Any) -> Iterator[OciApi]:
    service = api.service
    app = create_app(service, keys=ApiKeys(service, SqlKeyStore(service.store)))
    holder = dataclasses.replace(api, app=app, _clients=[])
    admin_key, bob_key = keys(2)
    bob = holder.client_for("bob")
    for client, key in ((holder.admin, admin_key), (bob, bob_key)):
        answer = client.post("/api/v1/users/me/keys", json={"public_key": public_pem(key)})
        assert answer.status_code == 201, answer.text
    yield OciApi(api=holder, http=holder.client(None), admin_key=admin_key, bob_key=bob_key)
    holder.close()
