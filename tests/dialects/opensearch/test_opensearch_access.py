"""Model groups, authentication and permissions through the OpenSearch dialect: the same rules
as the native API (private groups are invisible, restricted ones visible to their backend
roles), answered in OpenSearch's error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opensearch_support import (
    ML,
    OsApi,
    assert_os_error,
    basic,
    get_with_body,
    meta_body,
    model_zip,
)


def _search_names(client: Any, path: str = "model_groups") -> list[str]:
    response = get_with_body(client, f"{ML}/{path}/_search", {"query": {"match_all": {}}})
    assert response.status_code == 200, response.text
    return sorted(h["_source"]["name"] for h in response.json()["hits"]["hits"])


def test_register_get_update_delete_a_group(osapi: OsApi) -> None:
    group_id = osapi.group(osapi.admin, "bert-group", description="BERT models")
    doc = osapi.admin.get(f"{ML}/model_groups/{group_id}").json()
    assert doc["name"] == "bert-group"
    assert doc["description"] == "BERT models"
    assert (doc["access"], doc["latest_version"]) == ("private", 0)
    assert doc["owner"]["name"] == "admin"
    assert isinstance(doc["created_time"], int)
    taken = osapi.admin.post(f"{ML}/model_groups/_register", json={"name": "bert-group"})
    assert_os_error(taken, 400, "illegal_argument_exception", "bert-group")
    updated = osapi.admin.put(
        f"{ML}/model_groups/{group_id}", json={"description": "new", "access_mode": "public"}
    )
    assert updated.json() == {"status": "Updated"}
    doc = osapi.admin.get(f"{ML}/model_groups/{group_id}").json()
    assert (doc["description"], doc["access"]) == ("new", "public")
    renamed = osapi.admin.put(f"{ML}/model_groups/{group_id}", json={"name": "other"})
    assert_os_error(renamed, 400, "illegal_argument_exception", "name")
    model_id = osapi.upload(osapi.admin, model_zip(), group=group_id)
    kept = osapi.admin.delete(f"{ML}/model_groups/{group_id}")
    assert_os_error(kept, 400, "status_exception", "associated model versions")
    assert osapi.admin.delete(f"{ML}/models/{model_id}").status_code == 200
    gone = osapi.admin.delete(f"{ML}/model_groups/{group_id}")
    assert gone.status_code == 200 and gone.json()["result"] == "deleted"
    assert_os_error(osapi.admin.get(f"{ML}/model_groups/{group_id}"), 404, "status_exception")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "g", "access_mode": "hidden"}, "access_mode"),
        ({"name": "g", "access_mode": "private", "backend_roles": ["ml"]}, "backend_roles"),
        ({"name": "g", "backend_roles": ["no-such-team"]}, "backend_roles"),
        ({"name": "g", "add_all_backend_roles": True}, "add_all_backend_roles"),
        ({"name": "g", "backend_roles": "ml"}, "backend_roles"),
    ],
)
def test_bad_groups_are_refused(osapi: OsApi, body: dict[str, Any], field: str) -> None:
    osapi.api.service.create_team(osapi.api.registry.admin, name="ml")
    response = osapi.admin.post(f"{ML}/model_groups/_register", json=body)
    kind = "mapper_parsing_exception" if body.get("backend_roles") == "ml" else None
    assert_os_error(response, 400, kind or "illegal_argument_exception", field)
    assert _search_names(osapi.admin) == []


def test_private_and_restricted_groups(osapi: OsApi) -> None:
    service, admin = osapi.api.service, osapi.api.registry.admin
    service.create_team(admin, name="ml")
    alice = osapi.client_for("alice")
    bob = osapi.client_for("bob")
    carol = osapi.client_for("carol")
    service.set_team_member(admin, "ml", "alice", member=True)
    service.set_team_member(admin, "ml", "carol", member=True)
    private = osapi.group(alice, "alice-private")
    restricted = osapi.group(alice, "alice-ml", backend_roles=["ml"])
    everyone = osapi.group(alice, "alice-public", access_mode="public")
    all_roles = osapi.group(alice, "alice-all", add_all_backend_roles=True)
    doc = alice.get(f"{ML}/model_groups/{restricted}").json()
    assert (doc["access"], doc["backend_roles"]) == ("restricted", ["ml"])
    assert alice.get(f"{ML}/model_groups/{all_roles}").json()["backend_roles"] == ["ml"]
    # bob is in no team: the private and restricted groups do not exist for him
    for group_id in (private, restricted, all_roles):
        assert_os_error(bob.get(f"{ML}/model_groups/{group_id}"), 404, "status_exception")
    assert _search_names(bob) == ["alice-public"]
    assert bob.get(f"{ML}/model_groups/{everyone}").status_code == 200
    # carol shares the backend role ml
    assert _search_names(carol) == ["alice-all", "alice-ml", "alice-public"]
    assert_os_error(carol.get(f"{ML}/model_groups/{private}"), 404, "status_exception")
    # a model registered in a private group is invisible too, in get and search
    model_id = osapi.upload(alice, model_zip(), group=private)
    assert alice.get(f"{ML}/models/{model_id}").status_code == 200
    assert_os_error(bob.get(f"{ML}/models/{model_id}"), 404, "status_exception")
    assert_os_error(bob.delete(f"{ML}/models/{model_id}"), 404, "status_exception")
    assert _search_names(bob, "models") == []
    # only its owner (or an admin) deletes or changes the access of a visible group
    assert_os_error(
        carol.put(f"{ML}/model_groups/{restricted}", json={"access_mode": "public"}),
        403,
        "security_exception",
    )
    assert_os_error(carol.delete(f"{ML}/model_groups/{restricted}"), 403, "security_exception")
    assert_os_error(bob.delete(f"{ML}/model_groups/{everyone}"), 403, "security_exception")
    # nobody else registers a model into a group they cannot write to
    into = bob.post(f"{ML}/models/meta", json=meta_body(model_zip(), group=everyone))
    assert_os_error(into, 403, "security_exception")


def test_a_read_only_token_cannot_register(osapi: OsApi) -> None:
    service, admin = osapi.api.service, osapi.api.registry.admin
    osapi.api.registry.user("reader")
    token = service.create_token(admin, user="reader", scope="read").token
    reader = osapi.api.client(token)
    assert_os_error(
        reader.post(f"{ML}/model_groups/_register", json={"name": "g"}), 403, "security_exception"
    )
    assert_os_error(
        reader.post(f"{ML}/models/meta", json=meta_body(model_zip())), 403, "security_exception"
    )
    assert _search_names(osapi.admin) == []


def test_basic_auth_with_a_user_name_and_a_token(osapi: OsApi) -> None:
    token = osapi.api.registry.token("dave")
    client = osapi.api.client(None)
    ok = client.post(
        f"{ML}/model_groups/_register", json={"name": "daves"}, headers=basic("dave", token)
    )
    assert ok.status_code == 200, ok.text
    doc = client.get(
        f"{ML}/model_groups/{ok.json()['model_group_id']}", headers=basic("dave", token)
    )
    assert doc.json()["owner"]["name"] == "dave"
    osapi.api.registry.user("erin")
    for headers in (
        basic("erin", token),  # dave's token, another user's name
        basic("dave", "not-a-token"),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Digest abc"},
    ):
        denied = client.get(f"{ML}/model_groups/_search", headers=headers)
        assert_os_error(denied, 401, "security_exception")
        assert denied.headers["www-authenticate"].startswith("Basic")


def _routes(osapi: OsApi) -> list[tuple[str, str]]:
    schema = osapi.admin.get(f"{ML}/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops]


def test_every_route_needs_credentials(osapi: OsApi) -> None:
    routes = _routes(osapi)
    assert len(routes) >= 20
    assert ("POST", "/models/{model_id}/chunk/{chunk_number}") in routes
    assert ("GET", "/tasks/_search") in routes
    ids = {"model_id": "0" * 32, "model_group_id": "0" * 32, "task_id": "0" * 32}
    for method, path in routes:
        url = ML + path.format(chunk_number="0", algorithm="text_embedding", **ids)
        response = osapi.api.anon.request(method, url, json={})
        assert_os_error(response, 401, "security_exception", "credentials")


def test_unknown_routes_and_methods(osapi: OsApi) -> None:
    assert_os_error(
        osapi.admin.get(f"{ML}/connectors/_search"), 404, "resource_not_found_exception"
    )
    assert_os_error(osapi.admin.put(f"{ML}/models/meta"), 405, "illegal_argument_exception")
    docs = osapi.api.anon.get(f"{ML}/docs")
    assert docs.status_code == 200


def test_every_route_is_documented(osapi: OsApi) -> None:
    lines = (Path(__file__).parents[3] / "docs" / "opensearch.md").read_text().splitlines()
    names = {
        "{model_id}": "{id}",
        "{model_group_id}": "{id}",
        "{task_id}": "{id}",
        "{chunk_number}": "{n}",
        "{algorithm}": "text_embedding",
    }
    missing = []
    for method, path in _routes(osapi):
        documented = path.strip("/")
        for name, shown in names.items():
            documented = documented.replace(name, shown)
        if not any(f"{documented}`" in line and f"`{method}" in line for line in lines):
            missing.append(f"{method} {path}")
    assert not missing, f"routes missing from docs/opensearch.md: {missing}"
