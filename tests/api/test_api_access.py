"""Access control over REST: tokens (scopes, expiry, revocation), teams, namespaces and their
members, restricted models, grants, protected tags, the audit log, the failed-authentication
limit and which routes answer without a token. The role x level x action table itself is
tests/e2e/test_permission_matrix.py."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_helpers import BASE, create_model, create_version, model_url

from modelyard.api.app import create_app
from modelyard.domain.audit import Auditor
from modelyard.domain.directory import FailedAuthLimiter
from modelyard.domain.service import RegistryService
from modelyard.errors import ErrorCode


def _audit(api: Any, **params: Any) -> list[dict[str, Any]]:
    r = api.admin.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["events"]


# -- tokens ---------------------------------------------------------------------------------


def test_read_only_token_reads_but_never_writes(api: Any, assert_problem: Any) -> None:
    alice = api.client_for("alice")
    create_model(alice, "m", access="public")
    r = alice.post("/api/v1/tokens", json={"name": "ci", "scope": "read"})
    assert r.status_code == 201 and r.json()["scope"] == "read"
    reader = api.client(r.json()["token"])
    assert reader.get(model_url("m")).status_code == 200
    assert reader.get("/api/v1/me").json()["scope"] == "read"
    for response in (
        reader.patch(model_url("m"), json={"description": "x"}),
        reader.post(f"{model_url('m')}/versions", json={}),
        reader.post(f"{model_url('m')}/metrics", json={"metrics": [{"key": "k", "value": 1}]}),
        reader.delete(model_url("m")),
        reader.post(BASE, json={"name": "other"}),
        reader.post("/api/v1/namespaces", json={"name": "mine"}),
    ):
        problem = assert_problem(response, 403, ErrorCode.PERMISSION_DENIED)
        assert "read-only" in problem["detail"]
    # a read-only token makes read-only tokens only
    assert_problem(
        reader.post("/api/v1/tokens", json={"scope": "write"}), 403, ErrorCode.PERMISSION_DENIED
    )
    assert reader.post("/api/v1/tokens", json={"scope": "read"}).status_code == 201
    assert alice.get(model_url("m")).json()["description"] is None  # nothing changed


def test_revoked_token_is_refused_at_once(api: Any, assert_problem: Any) -> None:
    bob = api.client_for("bob")
    made = bob.post("/api/v1/tokens", json={"name": "laptop"}).json()
    laptop = api.client(made["token"])
    assert laptop.get("/api/v1/me").status_code == 200  # remembered for a second now
    listed = bob.get("/api/v1/tokens").json()["tokens"]
    assert {t["name"] for t in listed} >= {"laptop"}
    assert all("token" not in t for t in listed)  # never the secret
    r = bob.delete(f"/api/v1/tokens/{made['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert_problem(laptop.get("/api/v1/me"), 401, ErrorCode.UNAUTHENTICATED)
    # revoking again: 409; someone else's token, or one that does not exist: 404
    assert_problem(bob.delete(f"/api/v1/tokens/{made['id']}"), 409, ErrorCode.FAILED_PRECONDITION)
    carol_token = api.client_for("carol").post("/api/v1/tokens", json={}).json()["id"]
    assert_problem(bob.delete(f"/api/v1/tokens/{carol_token}"), 404, ErrorCode.NOT_FOUND)
    assert_problem(bob.delete("/api/v1/tokens/nope"), 404, ErrorCode.NOT_FOUND)
    assert_problem(
        bob.get("/api/v1/tokens", params={"user": "carol"}), 403, ErrorCode.PERMISSION_DENIED
    )
    # admins see and revoke anyone's
    everyone = api.admin.get("/api/v1/tokens", params={"user": "*"}).json()["tokens"]
    assert {"bob", "carol", "admin"} <= {t["user"] for t in everyone}
    assert api.admin.delete(f"/api/v1/tokens/{carol_token}").status_code == 200


def test_expired_token_is_refused(api: Any, assert_problem: Any) -> None:
    bob = api.client_for("bob")
    soon = datetime.now(UTC) + timedelta(seconds=1)
    made = bob.post("/api/v1/tokens", json={"expires_at": soon.isoformat()}).json()
    short = api.client(made["token"])
    assert short.get("/api/v1/me").status_code == 200
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds() + 0.05))
    assert_problem(short.get("/api/v1/me"), 401, ErrorCode.UNAUTHENTICATED)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert_problem(
        bob.post("/api/v1/tokens", json={"expires_at": past}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="expires_at",
    )
    assert_problem(
        bob.post("/api/v1/tokens", json={"scope": "admin"}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="scope",
    )


# -- teams, restricted models ------------------------------------------------------------


def test_restricted_model_reaches_its_teams_only(api: Any, assert_problem: Any) -> None:
    for name in ("olivia", "tess", "ursula"):
        api.client_for(name)
    assert api.admin.post("/api/v1/teams", json={"name": "nlp"}).status_code == 201
    assert api.admin.post("/api/v1/teams", json={"name": "vision"}).status_code == 201
    for user in ("olivia", "tess"):
        assert api.admin.put(f"/api/v1/teams/nlp/members/{user}").status_code == 200
    olivia = api.client_for("olivia")
    # only teams one is in, and only on a restricted model
    assert_problem(
        olivia.post(BASE, json={"name": "r", "access": "restricted", "teams": ["vision"]}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="teams",
    )
    assert_problem(
        olivia.post(BASE, json={"name": "r", "access": "restricted"}),
        422,
        field="teams",
        code=ErrorCode.INVALID_ARGUMENT,
    )
    assert_problem(
        olivia.post(BASE, json={"name": "r", "access": "public", "teams": ["nlp"]}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="teams",
    )
    assert_problem(
        olivia.post(BASE, json={"name": "r", "access": "restricted", "teams": ["nope"]}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="teams",
    )
    assert olivia.get(model_url("r")).status_code == 404  # nothing was made
    made = create_model(olivia, "r", access="restricted", add_all_backend_roles=True)
    assert made["teams"] == ["nlp"]
    tess, ursula = api.client_for("tess"), api.client_for("ursula")
    assert tess.get(model_url("r")).status_code == 200
    assert [m["name"] for m in tess.get(BASE).json()["models"]] == ["r"]
    assert_problem(ursula.get(model_url("r")), 404, ErrorCode.MODEL_NOT_FOUND)
    assert ursula.get(BASE).json()["models"] == []
    # tess reads but does not write; leaving the team takes her access at once
    assert_problem(
        tess.patch(model_url("r"), json={"description": "x"}), 403, ErrorCode.PERMISSION_DENIED
    )
    assert api.admin.delete("/api/v1/teams/nlp/members/tess").status_code == 200
    assert_problem(tess.get(model_url("r")), 404, ErrorCode.MODEL_NOT_FOUND)
    # team routes: admins only; unknown names 404
    assert_problem(tess.post("/api/v1/teams", json={"name": "x"}), 403, ErrorCode.PERMISSION_DENIED)
    assert_problem(api.admin.put("/api/v1/teams/nope/members/tess"), 404, ErrorCode.TEAM_NOT_FOUND)
    assert_problem(
        api.admin.put("/api/v1/teams/nlp/members/nobody"), 422, ErrorCode.INVALID_ARGUMENT
    )
    assert_problem(
        api.admin.post("/api/v1/teams", json={"name": "nlp"}), 409, ErrorCode.ALREADY_EXISTS
    )
    assert_problem(
        api.admin.post("/api/v1/teams", json={"name": "no good"}),
        422,
        field="name",
        code=ErrorCode.INVALID_ARGUMENT,
    )
    assert [t["name"] for t in olivia.get("/api/v1/teams").json()["teams"]] == ["nlp"]
    assert_problem(tess.get("/api/v1/teams/nlp"), 404, ErrorCode.TEAM_NOT_FOUND)
    # switching to private drops the teams
    r = olivia.patch(model_url("r"), json={"access": "private"})
    assert r.status_code == 200 and r.json()["teams"] == []


# -- namespaces --------------------------------------------------------------------------


def test_closed_namespace_takes_models_from_its_writers_only(api: Any, assert_problem: Any) -> None:
    nadia, walt, ursula = (api.client_for(n) for n in ("nadia", "walt", "ursula"))
    r = nadia.post("/api/v1/namespaces", json={"name": "fraud"})
    assert r.status_code == 201 and r.json()["open"] is False
    assert r.json()["members"] == [{"user": "nadia", "role": "admin"}]
    assert_problem(
        nadia.post("/api/v1/namespaces", json={"name": "fraud"}), 409, ErrorCode.ALREADY_EXISTS
    )
    assert_problem(
        ursula.post(BASE, json={"name": "m", "namespace": "fraud"}),
        403,
        ErrorCode.PERMISSION_DENIED,
    )
    assert_problem(
        ursula.put("/api/v1/namespaces/fraud/members/walt", json={"role": "writer"}),
        404,
        ErrorCode.NAMESPACE_NOT_FOUND,
    )
    r = nadia.put("/api/v1/namespaces/fraud/members/walt", json={"role": "writer"})
    assert r.status_code == 200
    assert_problem(
        nadia.put("/api/v1/namespaces/fraud/members/walt", json={"role": "owner"}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="role",
    )
    assert_problem(
        nadia.put("/api/v1/namespaces/fraud/members/nobody", json={"role": "reader"}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="user",
    )
    assert walt.post(BASE, json={"name": "m", "namespace": "fraud"}).status_code == 201
    # a writer is not an admin of the namespace
    assert_problem(
        walt.patch("/api/v1/namespaces/fraud", json={"open": True}),
        403,
        ErrorCode.PERMISSION_DENIED,
    )
    assert walt.get("/api/v1/namespaces/fraud").json()["members"] is None
    assert nadia.patch("/api/v1/namespaces/fraud", json={"open": True}).json()["open"] is True
    assert ursula.post(BASE, json={"name": "u", "namespace": "fraud"}).status_code == 201
    # the namespace admin manages walt's private model; ursula cannot see it
    assert nadia.get(model_url("m", "fraud")).status_code == 200
    assert_problem(ursula.get(model_url("m", "fraud")), 404, ErrorCode.MODEL_NOT_FOUND)
    r = nadia.delete("/api/v1/namespaces/fraud/members/walt")
    assert r.status_code == 200 and [m["user"] for m in r.json()["members"]] == ["nadia"]
    assert_problem(api.admin.get("/api/v1/namespaces/nope"), 404, ErrorCode.NAMESPACE_NOT_FOUND)


# -- grants and protected tags --------------------------------------------------------------


def test_grants_and_protected_tags(api: Any, assert_problem: Any) -> None:
    olivia, gwen, greta = (api.client_for(n) for n in ("olivia", "gwen", "greta"))
    create_model(olivia, "m", protected_tags=["production"])
    create_version(olivia, "m", version="1", unique_tags=["production", "staging"])
    assert_problem(gwen.get(model_url("m")), 404, ErrorCode.MODEL_NOT_FOUND)
    assert olivia.put(f"{model_url('m')}/grants/gwen", json={"role": "writer"}).status_code == 200
    r = olivia.put(f"{model_url('m')}/grants/greta", json={"role": "reader"})
    assert r.json()["grants"] == [
        {"user": "greta", "role": "reader"},
        {"user": "gwen", "role": "writer"},
    ]
    assert_problem(
        olivia.put(f"{model_url('m')}/grants/greta", json={"role": "admin"}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="role",
    )
    # greta reads, gwen writes; neither manages, moves the protected tag or deletes
    assert greta.get(model_url("m")).status_code == 200
    assert_problem(
        greta.put(f"{model_url('m')}/tags/staging", json={"version": "1"}),
        403,
        ErrorCode.PERMISSION_DENIED,
    )
    assert gwen.put(f"{model_url('m')}/tags/staging", json={"version": "1"}).status_code == 200
    problem = assert_problem(
        gwen.put(f"{model_url('m')}/tags/production", json={"version": "1"}),
        403,
        ErrorCode.PERMISSION_DENIED,
    )
    assert "protected" in problem["detail"]
    assert_problem(
        gwen.delete(f"{model_url('m')}/tags/production"), 403, ErrorCode.PERMISSION_DENIED
    )
    assert_problem(
        gwen.post(f"{model_url('m')}/versions", json={"unique_tags": ["production"]}),
        403,
        ErrorCode.PERMISSION_DENIED,
    )
    assert_problem(
        gwen.patch(model_url("m"), json={"protected_tags": []}), 403, ErrorCode.PERMISSION_DENIED
    )
    assert_problem(gwen.get(f"{model_url('m')}/grants"), 403, ErrorCode.PERMISSION_DENIED)
    assert_problem(gwen.delete(model_url("m")), 403, ErrorCode.PERMISSION_DENIED)
    assert olivia.put(f"{model_url('m')}/tags/production", json={"version": "1"}).status_code == 200
    r = olivia.patch(model_url("m"), json={"protected_tags": ["production", "production"]})
    assert r.json()["protected_tags"] == ["production"]
    assert_problem(
        olivia.patch(model_url("m"), json={"protected_tags": ["1x"]}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="protected_tags[0]",
    )
    assert olivia.delete(f"{model_url('m')}/grants/greta").status_code == 200
    assert_problem(greta.get(model_url("m")), 404, ErrorCode.MODEL_NOT_FOUND)
    assert_problem(olivia.delete(f"{model_url('m')}/grants/greta"), 404, ErrorCode.NOT_FOUND)


# -- the audit log -----------------------------------------------------------------------------


def test_audit_log_records_changes_and_every_denied_attempt(api: Any, assert_problem: Any) -> None:
    olivia, mallory = api.client_for("olivia"), api.client_for("mallory")
    create_model(olivia, "secret")
    create_model(olivia, "open", access="public")
    denied = [
        mallory.get(model_url("secret")),  # a read: not a change, not recorded
        mallory.patch(model_url("secret"), json={"description": "x"}),
        mallory.delete(model_url("secret")),
        mallory.patch(model_url("open"), json={"description": "x"}),
        mallory.delete(model_url("open")),
        mallory.put(f"{model_url('secret')}/files/x.bin", content=b"x"),
        mallory.post("/api/v1/users", json={"name": "eve"}),
        mallory.get("/api/v1/audit"),
    ]
    assert [r.status_code for r in denied] == [404, 404, 404, 403, 403, 404, 403, 403]
    api.anon.get(BASE)
    api.client("myd_not-a-token").get(BASE)
    entries = _audit(api, outcome="denied")
    got = {(e["actor"], e["action"], e["model"]) for e in entries}
    assert {
        ("mallory", "model.update", "secret"),
        ("mallory", "model.delete", "secret"),
        ("mallory", "model.update", "open"),
        ("mallory", "model.delete", "open"),
        ("mallory", "file.write", "secret"),
        ("mallory", "user.create", None),
        (None, "auth.failed", None),
    } <= got
    by_action = {e["action"]: e for e in entries if e["actor"] == "mallory"}
    assert by_action["model.update"]["error_code"] in ("MODEL_NOT_FOUND", "PERMISSION_DENIED")
    assert all(e["client"] and e["request_id"] for e in entries)
    assert sum(1 for e in entries if e["action"] == "auth.failed") == 2
    # successes carry who, what and where; a request id sent by the client is kept
    olivia.patch(model_url("open"), json={"access": "private"}, headers={"X-Request-ID": "r-42"})
    [change] = _audit(api, actor="olivia", action="model.update")
    assert change["outcome"] == "success" and change["request_id"] == "r-42"
    assert change["detail"]["access"] == "private" and change["namespace"] == "default"
    assert {e["action"] for e in _audit(api, action="model.", actor="olivia")} == {
        "model.create",
        "model.update",
    }
    # paging: newest first, without gaps or repeats
    first = api.admin.get("/api/v1/audit", params={"page_size": 2}).json()
    second = api.admin.get(
        "/api/v1/audit", params={"page_size": 2, "page_token": first["next_page_token"]}
    ).json()
    ids = [e["id"] for e in first["events"] + second["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    assert_problem(
        api.admin.get("/api/v1/audit", params={"outcome": "maybe"}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="outcome",
    )
    assert_problem(
        api.admin.get("/api/v1/audit", params={"page_token": "junk"}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="page_token",
    )


def test_no_route_changes_the_audit_log(api: Any) -> None:
    create_model(api.admin, "m")
    paths = api.anon.get("/openapi.json").json()["paths"]
    audit_paths = {p: set(ops) for p, ops in paths.items() if "audit" in p}
    assert audit_paths == {"/api/v1/audit": {"get"}}
    before = _audit(api)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert api.admin.request(method, "/api/v1/audit").status_code == 405
        assert api.admin.request(method, f"/api/v1/audit/{before[0]['id']}").status_code in (
            404,
            405,
        )
    # and the only entries since are the refused ones? none: 405s happen before any use case
    assert _audit(api)[0]["id"] == before[0]["id"]


# -- routes without a token ---------------------------------------------------------------


def test_every_route_needs_a_token_except_health_and_docs(api: Any) -> None:
    """Call every operation of the OpenAPI schema without a token: each answers 401, except
    the liveness probes and the docs (and the predictions of a deployment made public:
    tests/serving/test_deploy_api.py)."""
    open_paths = {"/healthz", "/v2/health/live", "/v2/health/ready"}
    spec = api.anon.get("/openapi.json").json()
    answered: dict[str, int] = {}
    for path, operations in spec["paths"].items():
        concrete = path
        for name in ("namespace", "model", "version", "tag", "team", "user"):
            concrete = concrete.replace("{" + name + "}", "x")
        concrete = concrete.replace("{path}", "a/b").replace("{path:path}", "a/b")
        concrete = concrete.replace("{name}", "x")
        for part in (
            "{deployment_id}",
            "{task_id}",
            "{token_id}",
            "{key_id}",
            "{session_id}",
            "{webhook_id}",
            "{upload_id}",
        ):
            concrete = concrete.replace(part, "0" * 32)
        assert "{" not in concrete, path
        # a well-formed prediction (a malformed one is refused, 422, before any lookup)
        body = {"data": [[1.0]]} if path.endswith("/predict") else {}
        for method in operations:
            r = api.anon.request(method.upper(), concrete, json=body)
            answered[f"{method.upper()} {path}"] = r.status_code
    needs = {k: v for k, v in answered.items() if k.split(" ", 1)[1] not in open_paths}
    assert len(needs) > 60
    assert {k: v for k, v in needs.items() if v != 401} == {}
    assert all(answered[f"GET {p}"] == 200 for p in open_paths if f"GET {p}" in answered)
    assert api.anon.get("/docs").status_code == 200


# -- failed authentications ---------------------------------------------------------------


def test_failed_authentications_are_limited_per_address(api: Any) -> None:
    api.service.auth_limiter = FailedAuthLimiter(limit=3, window=60)
    limited = type(api)(registry=api.registry, app=create_app(api.service), portal=api.portal)
    try:
        bad = limited.client("myd_wrong")
        assert [bad.get(BASE).status_code for _ in range(3)] == [401, 401, 401]
        r = bad.get(BASE)
        assert r.status_code == 429 and r.json()["code"] == "TOO_MANY_REQUESTS"
        assert int(r.headers["Retry-After"]) >= 1
        # even a good token from that address waits: the address is what is limited
        assert limited.admin.get(BASE).status_code == 429
    finally:
        limited.close()


def test_tokens_never_reach_the_logs(api: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    made = api.admin.post("/api/v1/tokens", json={"name": "secret-check"}).json()["token"]
    api.client(made + "x").get(BASE)
    api.client(made).get(BASE)
    api.client(made).delete("/api/v1/tokens/" + "0" * 32)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert made not in text and made[4:20] not in text


def test_service_without_auditor_still_works(registry: Any) -> None:
    bare = RegistryService(registry.service.store, registry.service.blobs)
    assert bare.auditor is None
    bare.create_model(registry.admin, name="plain")
    assert isinstance(registry.service.auditor, Auditor)


def test_anonymous_gets_401_with_challenge(api: Any, assert_problem: Any) -> None:
    r = api.anon.get(BASE)
    assert_problem(r, 401, ErrorCode.UNAUTHENTICATED)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
