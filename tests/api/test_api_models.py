"""/api/v1/models: create, read, list, update, delete; validation; metadata; auth."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import BASE, create_model, create_version, model_url

from modelyard.errors import ErrorCode


def test_create_get_update_delete(api: Any) -> None:
    made = create_model(
        api.admin,
        "churn",
        namespace="team",
        task="classification",
        description="d",
        metadata={"a": 1},
        model_card="# Churn",
    )
    assert (made["namespace"], made["owner"], made["access"]) == ("team", "admin", "private")
    got = api.admin.get(model_url("churn", "team")).json()
    assert got == made
    r = api.admin.patch(model_url("churn", "team"), json={"description": "new", "access": "public"})
    assert r.status_code == 200 and r.json()["description"] == "new"
    assert r.json()["access"] == "public"
    assert api.admin.delete(model_url("churn", "team")).status_code == 204
    assert api.admin.get(model_url("churn", "team")).status_code == 404


def test_duplicate_model_name(api: Any, assert_problem: Any) -> None:
    create_model(api.admin, "churn", description="first")
    r = api.admin.post(BASE, json={"name": "churn", "description": "second"})
    assert_problem(r, 409, ErrorCode.ALREADY_EXISTS, field="name")
    assert api.admin.get(model_url("churn")).json()["description"] == "first"


def test_unknown_model(api: Any, assert_problem: Any) -> None:
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/versions"),
        ("GET", "/files"),
        ("GET", "/metrics"),
        ("GET", "/tags"),
        ("GET", "/metadata"),
    ]:
        r = api.admin.request(
            method, model_url("nope") + suffix, json={} if method == "PATCH" else None
        )
        assert_problem(r, 404, ErrorCode.MODEL_NOT_FOUND)


def test_malformed_json(api: Any, assert_problem: Any) -> None:
    r = api.admin.post(BASE, content=b'{"name": "x",', headers={"content-type": "application/json"})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="body")
    assert api.admin.get(model_url("x")).status_code == 404


def test_unknown_field(api: Any, assert_problem: Any) -> None:
    r = api.admin.post(BASE, json={"name": "x", "colour": "red"})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="colour")
    assert api.admin.get(model_url("x")).status_code == 404
    create_model(api.admin, "y")
    r = api.admin.patch(model_url("y"), json={"name": "renamed"})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="name")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "d" * 10_001),
        ("model_card", "m" * (1024 * 1024 + 1)),
        ("metadata", {"blob": "x" * (64 * 1024)}),
        ("name", "n" * 129),
        ("name", "../evil"),
        ("namespace", "a/b"),
        ("task", "t" * 257),
        ("access", "everyone"),
    ],
)
def test_oversize_or_bad_fields_create_nothing(
    api: Any, assert_problem: Any, field: str, value: Any
) -> None:
    body = {"name": "victim", field: value}
    r = api.admin.post(BASE, json=body)
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field=field)
    assert api.admin.get(BASE).json()["models"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "d" * 10_001),
        ("model_card", "m" * (1024 * 1024 + 1)),
        ("metadata", {"blob": "x" * (64 * 1024)}),
    ],
)
def test_oversize_update_changes_nothing(
    api: Any, assert_problem: Any, field: str, value: Any
) -> None:
    before = create_model(api.admin, "m", description="keep")
    r = api.admin.patch(model_url("m"), json={field: value})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field=field)
    assert api.admin.get(model_url("m")).json() == before


def test_list_filters_and_pagination(api: Any) -> None:
    for i in range(7):
        create_model(api.admin, f"asr-{i}", task="ASR")
    create_model(api.admin, "bert", namespace="nlp", task="fill-mask")
    create_model(api.admin, "a_b")
    create_model(api.admin, "axb")

    def listed(**params: Any) -> list[str]:
        r = api.admin.get(BASE, params=params)
        assert r.status_code == 200, r.text
        return [m["name"] for m in r.json()["models"]]

    assert listed(namespace="nlp") == ["bert"]
    assert listed(task="ASR") == [f"asr-{i}" for i in range(7)]
    assert listed(name_prefix="a_") == ["a_b"]
    assert listed(name_contains="_") == ["a_b"]
    assert listed(name_contains="sr-6") == ["asr-6"]
    assert listed(owner="admin", namespace="nlp") == ["bert"]
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"page_size": 3}
        if token:
            params["page_token"] = token
        page = api.admin.get(BASE, params=params).json()
        seen += [m["name"] for m in page["models"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == sorted(["a_b", "axb", "bert", *[f"asr-{i}" for i in range(7)]])


def test_bad_list_parameters(api: Any, assert_problem: Any) -> None:
    assert_problem(
        api.admin.get(BASE, params={"page_size": 0}), 422, "INVALID_ARGUMENT", field="page_size"
    )
    assert_problem(
        api.admin.get(BASE, params={"page_token": "garbage"}),
        422,
        "INVALID_ARGUMENT",
        field="page_token",
    )


def test_list_by_tag(api: Any) -> None:
    create_model(api.admin, "one")
    create_model(api.admin, "two")
    create_version(api.admin, "one", unique_tags=["production"])
    r = api.admin.get(BASE, params={"tag": "production"})
    assert [m["name"] for m in r.json()["models"]] == ["one"]


def test_model_metadata_merge(api: Any, assert_problem: Any) -> None:
    create_model(api.admin, "m", metadata={"keep": 1, "drop": True})
    r = api.admin.patch(model_url("m") + "/metadata", json={"drop": None, "new": {"x": [1, 2]}})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"keep": 1, "new": {"x": [1, 2]}}
    assert api.admin.get(model_url("m") + "/metadata").json()["metadata"] == r.json()["metadata"]
    r = api.admin.patch(model_url("m") + "/metadata", json={"big": "x" * 70_000})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="metadata")


# -- auth and visibility ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}]
)
def test_missing_or_bad_token_is_401(api: Any, assert_problem: Any, headers: dict) -> None:
    for method, url in [
        ("GET", BASE),
        ("POST", BASE),
        ("GET", model_url("m")),
        ("GET", "/api/v1/me"),
    ]:
        r = api.anon.request(
            method, url, headers=headers, json={"name": "m"} if method == "POST" else None
        )
        assert_problem(r, 401, ErrorCode.UNAUTHENTICATED)
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert api.admin.get(BASE).json()["models"] == []


def test_private_model_is_invisible_to_others(api: Any, assert_problem: Any) -> None:
    create_model(api.admin, "secret")
    create_version(api.admin, "secret", unique_tags=["prod"])
    bob = api.client_for("bob")
    for suffix in [
        "",
        "/versions",
        "/versions/1",
        "/files",
        "/versions/1/files",
        "/metrics",
        "/versions/1/metrics",
        "/tags",
        "/tags/prod",
        "/tags/prod/history",
        "/metadata",
    ]:
        assert_problem(bob.get(model_url("secret") + suffix), 404, ErrorCode.MODEL_NOT_FOUND)
    assert_problem(
        bob.patch(model_url("secret"), json={"description": "x"}), 404, ErrorCode.MODEL_NOT_FOUND
    )
    assert_problem(bob.delete(model_url("secret")), 404, ErrorCode.MODEL_NOT_FOUND)
    assert bob.get(BASE).json()["models"] == []
    assert bob.get(BASE, params={"name_prefix": "sec"}).json()["models"] == []
    # the same 404 as for a model that does not exist at all
    ghost = bob.get(model_url("ghost")).json()
    real = bob.get(model_url("secret")).json()
    assert ghost["detail"].replace("ghost", "X") == real["detail"].replace("secret", "X")


def test_public_model_readable_not_writable_by_others(api: Any, assert_problem: Any) -> None:
    create_model(api.admin, "open", access="public")
    create_version(api.admin, "open")
    bob = api.client_for("bob")
    assert bob.get(model_url("open")).status_code == 200
    assert bob.get(model_url("open") + "/versions/1").status_code == 200
    assert [m["name"] for m in bob.get(BASE).json()["models"]] == ["open"]
    forbidden = [
        bob.patch(model_url("open"), json={"description": "x"}),
        bob.delete(model_url("open")),
        bob.post(model_url("open") + "/versions", json={}),
        bob.patch(model_url("open") + "/metadata", json={"a": 1}),
        bob.post(model_url("open") + "/metrics", json={"metrics": [{"key": "a", "value": 1}]}),
        bob.put(model_url("open") + "/tags/prod", json={"version": "1"}),
        bob.put(model_url("open") + "/versions/1/files/x.bin", content=b"x"),
        bob.post(model_url("open") + "/versions/1/finish"),
    ]
    for r in forbidden:
        assert_problem(r, 403, ErrorCode.PERMISSION_DENIED)
    got = api.admin.get(model_url("open")).json()
    assert got["description"] is None and got["metadata"] == {}
    assert (
        api.admin.get(model_url("open") + "/versions").json()["versions"][0]["state"] == "PENDING"
    )


def test_owner_writes_own_model(api: Any) -> None:
    bob = api.client_for("bob")
    made = create_model(bob, "mine")
    assert made["owner"] == "bob"
    assert bob.patch(model_url("mine"), json={"task": "t"}).status_code == 200
    assert api.client_for("carol").get(model_url("mine")).status_code == 404
    assert api.admin.get(model_url("mine")).status_code == 200


def test_non_admin_cannot_create_for_others_or_users(api: Any, assert_problem: Any) -> None:
    bob = api.client_for("bob")
    assert_problem(
        bob.post(BASE, json={"name": "m", "owner": "admin"}), 403, ErrorCode.PERMISSION_DENIED
    )
    assert_problem(
        bob.post("/api/v1/users", json={"name": "eve"}), 403, ErrorCode.PERMISSION_DENIED
    )
    r = api.admin.post(BASE, json={"name": "m", "owner": "nobody"})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="owner")


def test_users_tokens_namespaces(api: Any) -> None:
    assert api.admin.get("/api/v1/me").json()["name"] == "admin"
    r = api.admin.post("/api/v1/users", json={"name": "dana"})
    assert r.status_code == 201
    token = api.admin.post("/api/v1/tokens", json={"user": "dana"}).json()["token"]
    dana = api.client(token)
    assert dana.get("/api/v1/me").json() == {
        **r.json(),
        "teams": [],
        "namespaces": {},
        "scope": "write",
    }
    create_model(dana, "x", namespace="research")
    assert "research" in [n["name"] for n in dana.get("/api/v1/namespaces").json()["namespaces"]]
    assert [u["name"] for u in api.admin.get("/api/v1/users").json()["users"]] == ["admin", "dana"]


M = "/api/v1/models/{namespace}/{model}"
V = M + "/versions/{version}"
EXPECTED_ROUTES = [
    ("post", "/api/v1/models"),
    ("get", "/api/v1/models"),
    ("get", M),
    ("patch", M),
    ("delete", M),
    ("get", M + "/metadata"),
    ("patch", M + "/metadata"),
    ("get", M + "/metrics"),
    ("post", M + "/metrics"),
    ("get", M + "/tags"),
    ("get", M + "/tags/{tag}"),
    ("put", M + "/tags/{tag}"),
    ("delete", M + "/tags/{tag}"),
    ("get", M + "/tags/{tag}/history"),
    ("get", M + "/files"),
    ("post", M + "/files"),
    ("get", M + "/files/{path}"),
    ("put", M + "/files/{path}"),
    ("post", M + "/versions"),
    ("get", M + "/versions"),
    ("get", V),
    ("patch", V),
    ("delete", V),
    ("post", V + "/finish"),
    ("post", V + "/fail"),
    ("get", V + "/metadata"),
    ("patch", V + "/metadata"),
    ("get", V + "/metrics"),
    ("post", V + "/metrics"),
    ("get", V + "/files"),
    ("post", V + "/files"),
    ("get", V + "/files/{path}"),
    ("put", V + "/files/{path}"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("post", "/api/v1/tokens"),
    ("get", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{token_id}"),
    ("get", "/api/v1/namespaces"),
    ("post", "/api/v1/namespaces"),
    ("get", "/api/v1/namespaces/{namespace}"),
    ("patch", "/api/v1/namespaces/{namespace}"),
    ("put", "/api/v1/namespaces/{namespace}/members/{user}"),
    ("delete", "/api/v1/namespaces/{namespace}/members/{user}"),
    ("post", "/api/v1/teams"),
    ("get", "/api/v1/teams"),
    ("get", "/api/v1/teams/{team}"),
    ("delete", "/api/v1/teams/{team}"),
    ("put", "/api/v1/teams/{team}/members/{user}"),
    ("delete", "/api/v1/teams/{team}/members/{user}"),
    ("get", M + "/grants"),
    ("put", M + "/grants/{user}"),
    ("delete", M + "/grants/{user}"),
    ("get", "/api/v1/audit"),
    ("post", "/api/v1/deployments"),
    ("get", "/api/v1/deployments"),
    ("get", "/api/v1/deployments/{deployment_id}"),
    ("patch", "/api/v1/deployments/{deployment_id}"),
    ("delete", "/api/v1/deployments/{deployment_id}"),
    ("post", "/api/v1/deployments/{deployment_id}/predict"),
    ("post", "/v2/models/{name}/versions/{version}/infer"),
    ("get", "/v2/models/{name}/versions/{version}"),
    ("get", "/v2/models/{name}/versions/{version}/ready"),
    ("get", "/v2/health/live"),
    ("get", "/v2/health/ready"),
]


def test_openapi_lists_every_route(api: Any) -> None:
    spec = api.anon.get("/openapi.json")  # the schema needs no token
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    missing = [(m, p) for m, p in EXPECTED_ROUTES if m not in paths.get(p, {})]
    assert missing == []
    # Besides the native API: the health probe, Prometheus metrics and KServe's V2 protocol.
    native = ("/api/v1/", "/v2/")
    outside = [p for p in paths if not p.startswith(native) and p not in {"/healthz", "/metrics"}]
    assert outside == []
