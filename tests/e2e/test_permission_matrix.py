"""The permission matrix: every role x access level x action x surface, against one table.

The table below is the documentation: docs/access.md shows it, rendered by
:func:`render_table`, and a test checks the two agree. Each cell is what a user in that role
gets when trying that action on a model of that access level, the same on every surface
(REST, the SDK, the CLI, and the foreign APIs for the actions they have: DeepDev's,
OpenSearch's, ModelBox's gRPC and the OCI model catalog):

- ``ok``: allowed;
- ``hide``: 404, the model does not exist for them (listings leave it out);
- ``deny``: 403, they can see the model but may not do that;
- ``auth``: 401, no token.

Actions: ``read`` a model; ``list`` (it is in their listing); ``write`` (log a metric; files,
metadata, versions and unprotected tags alike); ``tag`` (move the protected tag
``production``); ``deploy`` (the permission check of a deploy: the version is PENDING, so an
allowed deploy ends at "only READY versions are deployed", 409); ``manage`` (set its access
level, teams, grants, protected tags); ``delete`` (a version).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from click.testing import CliRunner

from modelbox_stub import ModelStoreStub, pb
from modelyard import Client
from modelyard.cli.main import main
from modelyard.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    RegistryError,
    Unauthenticated,
)
from oci_support import Signer, keys, public_pem
from server_support import Server, free_port, running_server

ROLES = (
    "anonymous",
    "unrelated user",
    "team member",
    "namespace reader",
    "namespace writer",
    "namespace admin",
    "granted reader",
    "granted writer",
    "owner",
    "admin",
)
LEVELS = ("private", "restricted", "public")
ACTIONS = ("read", "list", "write", "tag", "deploy", "manage", "delete")

_ALL = "ok ok ok ok ok ok ok"
_READ = "ok ok deny deny deny deny deny"
_WRITE = "ok ok ok deny deny deny deny"
_HIDE = "hide hide hide hide hide hide hide"
_AUTH = "auth auth auth auth auth auth auth"

#: role -> (private, restricted, public): the outcome of each action, in ACTIONS order.
TABLE: dict[str, tuple[str, str, str]] = {
    "anonymous": (_AUTH, _AUTH, _AUTH),
    "unrelated user": (_HIDE, _HIDE, _READ),
    "team member": (_HIDE, _READ, _READ),
    "namespace reader": (_HIDE, _READ, _READ),
    "namespace writer": (_HIDE, _WRITE, _WRITE),
    "namespace admin": (_ALL, _ALL, _ALL),
    "granted reader": (_READ, _READ, _READ),
    "granted writer": (_WRITE, _WRITE, _WRITE),
    "owner": (_ALL, _ALL, _ALL),
    "admin": (_ALL, _ALL, _ALL),
}

NS = "matrix"
DEEPDEV = "deepdev"  # the namespace of DeepDev's dialect
OPENSEARCH = "opensearch"  # the namespace of OpenSearch's model groups
TEAM = "analysts"
USERS = {
    "unrelated user": "ursula",
    "team member": "tess",
    "namespace reader": "nora",
    "namespace writer": "walt",
    "namespace admin": "nadia",
    "granted reader": "greta",
    "granted writer": "gwen",
    "owner": "olivia",
}


def expected(role: str, level: str, action: str) -> str:
    return TABLE[role][LEVELS.index(level)].split()[ACTIONS.index(action)]


def render_table() -> str:
    """The table as markdown, as docs/access.md shows it."""
    head = "| role | access | " + " | ".join(ACTIONS) + " |"
    rule = "|" + "---|" * (len(ACTIONS) + 2)
    rows = [
        f"| {role} | {level} | " + " | ".join(TABLE[role][i].split()) + " |"
        for role in ROLES
        for i, level in enumerate(LEVELS)
    ]
    return "\n".join([head, rule, *rows])


def test_the_docs_publish_this_table() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "access.md").read_text()
    assert render_table() in doc


# -- the world the table is about ---------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server (no failed-authentication limit: the anonymous row makes many 401s on
    purpose), the users, a team, a closed namespace with a reader, a writer and an admin, and
    one model per access level owned by olivia, each granted to greta (reader) and gwen
    (writer), with version 1 PENDING and its protected tag ``production``; the same again in
    the namespaces of DeepDev's models and of OpenSearch's model groups."""
    home = tmp_path_factory.mktemp("matrix-home")
    with (
        running_server(home, "--auth-failure-limit", "0", "--grpc-port", str(GRPC_PORT)) as server,
        Client(server.url, server.admin_token) as admin,
    ):
        tokens = {"admin": server.admin_token}
        for role, name in USERS.items():
            admin.create_user(name)
            tokens[role] = admin.create_token(user=name)
        signing = dict(zip(["admin", *USERS], keys(len(USERS) + 1), strict=True))
        for role, key in signing.items():
            with Client(server.url, tokens[role]) as user:
                user.add_key(public_pem(key))
        admin.create_team(TEAM)
        for name in ("tess", "olivia"):
            admin.add_team_member(TEAM, name)
        for ns in (NS, DEEPDEV, OPENSEARCH):
            admin.create_namespace(ns)
            for name, role in (("nora", "reader"), ("walt", "writer"), ("nadia", "admin")):
                admin.set_namespace_member(ns, name, role)
            admin.set_namespace_member(ns, "olivia", "writer")
            admin.remove_namespace_member(ns, "admin")  # its creator; an admin anyway
        with Client(server.url, tokens["owner"]) as owner:
            groups, ids = {}, {}
            for ns, level in itertools.product((NS, DEEPDEV, OPENSEARCH), LEVELS):
                model = owner.new_model(
                    f"m-{level}",
                    namespace=ns,
                    access=level,
                    teams=[TEAM] if level == "restricted" else None,
                    protected_tags=["production"],
                )
                version = model.new_model_version("1", unique_tags=["production"])
                model.grant("greta", "reader")
                model.grant("gwen", "writer")
                if ns == OPENSEARCH:
                    groups[level] = {"group": model.id, "model": version.id}
                if ns == NS:
                    ids[level] = {"model": model.id, "version": version.id}
        empty_home = tmp_path_factory.mktemp("no-token-home")
        yield {
            "server": server,
            "tokens": tokens,
            "empty_home": empty_home,
            "groups": groups,
            "ids": ids,
            "signing": signing,
        }


_counter = itertools.count()


def _spare_version(world: dict[str, Any], level: str, ns: str = NS) -> str:
    """A fresh PENDING version for a delete attempt; its label."""
    return _spare(world, level, ns).version


def _spare(world: dict[str, Any], level: str, ns: str) -> Any:
    label = f"d{next(_counter)}"
    with Client(world["server"].url, world["server"].admin_token) as admin:
        return admin.get_model(f"{ns}/m-{level}").new_model_version(label)


# -- the three surfaces ---------------------------------------------------------------------


def _status(r: httpx.Response) -> str:
    if r.status_code in (200, 201, 202, 204):
        return "ok"
    code = r.json().get("code", "")
    if r.status_code == 409 and code == "FAILED_PRECONDITION":
        return "ok"  # past the permission check, stopped by the version's state
    return {401: "auth", 403: "deny", 404: "hide"}.get(r.status_code, f"{r.status_code} {code}")


def rest(world: dict[str, Any], role: str, level: str, action: str) -> str:
    server: Server = world["server"]
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {world['tokens'][role]}"}
    model = f"/api/v1/models/{NS}/m-{level}"
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        if action == "read":
            return _status(http.get(model))
        if action == "list":
            r = http.get("/api/v1/models", params={"namespace": NS})
            if r.status_code != 200:
                return _status(r)
            return "ok" if f"m-{level}" in [m["name"] for m in r.json()["models"]] else "hide"
        if action == "write":
            return _status(
                http.post(model + "/metrics", json={"metrics": [{"key": "k", "value": 1}]})
            )
        if action == "tag":
            return _status(http.put(model + "/tags/production", json={"version": "1"}))
        if action == "deploy":
            body = {"namespace": NS, "model": f"m-{level}", "version": "1"}
            return _status(http.post("/api/v1/deployments", json=body))
        if action == "manage":
            return _status(http.patch(model, json={"access": level}))
        assert action == "delete"
        label = _spare_version(world, level)
        return _status(http.delete(f"{model}/versions/{label}"))


def _error(exc: RegistryError) -> str:
    if isinstance(exc, FailedPrecondition):
        return "ok"
    for cls, outcome in ((Unauthenticated, "auth"), (PermissionDenied, "deny"), (NotFound, "hide")):
        if isinstance(exc, cls):
            return outcome
    return f"{type(exc).__name__}: {exc}"


def sdk(world: dict[str, Any], role: str, level: str, action: str) -> str:
    token = None if role == "anonymous" else world["tokens"][role]
    ref = f"{NS}/m-{level}"
    label = _spare_version(world, level) if action == "delete" else None
    with _environment(world, role), Client(world["server"].url, token) as client:
        try:
            if action == "list":
                names = [m.name for m in client.list_models(namespace=NS)]
                return "ok" if f"m-{level}" in names else "hide"
            model = client.get_model(ref)
            if action == "write":
                model.log_metrics({"k": 1.0})
            elif action == "tag":
                model.set_tag("production", "1")
            elif action == "deploy":
                model.get_version("1").deploy(wait=False)
            elif action == "manage":
                model.update(access=level)
            elif action == "delete":
                assert label is not None
                model.get_version(label).delete()
        except RegistryError as exc:
            return _error(exc)
    return "ok"


def cli(world: dict[str, Any], role: str, level: str, action: str) -> str:
    ref = f"{NS}/m-{level}"
    args: dict[str, list[str]] = {
        "read": ["models", "show", ref],
        "list": ["models", "list", "--namespace", NS, "--json"],
        "write": ["metrics", "log", ref, "k=1"],
        "tag": ["tags", "set", ref, "production", "1"],
        "deploy": ["deploy", ref, "1", "--no-wait"],
        "manage": ["models", "access", ref, "--level", level],
    }
    if action == "delete":
        args["delete"] = ["versions", "delete", ref, _spare_version(world, level), "--yes"]
    token = [] if role == "anonymous" else ["--token", world["tokens"][role]]
    with _environment(world, role):
        result = CliRunner().invoke(
            main, ["--url", world["server"].url, *token, *args[action]], catch_exceptions=False
        )
    if result.exit_code == 0:
        if action == "list":
            return "ok" if f'"name": "m-{level}"' in result.output else "hide"
        return "ok"
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    for code, outcome in (
        ("[FAILED_PRECONDITION]", "ok"),
        ("[UNAUTHENTICATED]", "auth"),
        ("[PERMISSION_DENIED]", "deny"),
        ("_NOT_FOUND]", "hide"),
    ):
        if code in text:
            return outcome
    return f"exit {result.exit_code}: {text}"


#: What DeepDev's API can express: its routes read, list, deploy and set private or public.
DEEPDEV_ACTIONS = ("read", "list", "deploy", "manage")


def deepdev(world: dict[str, Any], role: str, level: str, action: str) -> str:
    if action not in DEEPDEV_ACTIONS or (action == "manage" and level == "restricted"):
        return expected(role, level, action)  # not expressible there
    server: Server = world["server"]
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {world['tokens'][role]}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        if action == "read":
            r = http.get(f"/api/v1.0/model/m-{level}/1")
        elif action == "list":
            r = http.get("/api/v1.0/models")
            if r.status_code == 200:
                names = [m["name"] for m in r.json()["models"]]
                return "ok" if f"m-{level}" in names else "hide"
        elif action == "deploy":
            r = http.put(f"/api/v1.0/deployment/m-{level}/1")
        else:
            r = http.patch(f"/api/v1.0/model/m-{level}/1", json={"private": level == "private"})
    if r.status_code in (200, 202):
        return "ok"
    code = r.json()["error"]["code"]
    if r.status_code == 409 and code == "FAILED_PRECONDITION":
        return "ok"
    return {401: "auth", 403: "deny", 404: "hide"}.get(r.status_code, f"{r.status_code} {code}")


#: What OpenSearch's API can express: tags are not in it.
OPENSEARCH_ACTIONS = ("read", "list", "write", "deploy", "manage", "delete")
ML = "/_plugins/_ml"


def opensearch(world: dict[str, Any], role: str, level: str, action: str) -> str:
    if action not in OPENSEARCH_ACTIONS:
        return expected(role, level, action)  # not expressible there
    server: Server = world["server"]
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {world['tokens'][role]}"}
    ids = world["groups"][level]
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        if action == "read":
            r = http.get(f"{ML}/model_groups/{ids['group']}")
        elif action == "list":
            r = http.post(f"{ML}/model_groups/_search", json={"size": 100})
            if r.status_code == 200:
                names = [hit["_source"]["name"] for hit in r.json()["hits"]["hits"]]
                return "ok" if f"m-{level}" in names else "hide"
        elif action == "write":  # a new model (version) in the group
            r = http.post(f"{ML}/models/meta", json=_os_meta(ids["group"]))
        elif action == "deploy":
            r = http.post(f"{ML}/models/{ids['model']}/_deploy")
        elif action == "manage":
            access: dict[str, Any] = {"access_mode": level}
            if level == "restricted":
                access["backend_roles"] = [TEAM]
            r = http.put(f"{ML}/model_groups/{ids['group']}", json=access)
        else:
            r = http.delete(f"{ML}/models/{_spare(world, level, OPENSEARCH).id}")
    if r.status_code in (200, 201):
        return "ok"
    kind = r.json()["error"]["type"]
    if r.status_code == 400 and kind == "status_exception":
        return "ok"  # past the permission check, stopped by the version's state
    return {401: "auth", 403: "deny", 404: "hide"}.get(r.status_code, f"{r.status_code} {kind}")


def _os_meta(group: str) -> dict[str, Any]:
    return {
        "name": "matrix",
        "version": "1.0.0",
        "model_format": "TORCH_SCRIPT",
        "model_group_id": group,
        "model_content_hash_value": "0" * 64,
        "model_content_size_in_bytes": 10,
        "total_chunks": 1,
        "model_config": {
            "model_type": "bert",
            "embedding_dimension": 8,
            "framework_type": "sentence_transformers",
        },
    }


#: What ModelBox's gRPC API can express: it reads, lists and writes (metrics, metadata).
GRPC_ACTIONS = ("read", "list", "write")
GRPC_PORT = free_port()
_GRPC_OUTCOMES = {
    grpc.StatusCode.UNAUTHENTICATED: "auth",
    grpc.StatusCode.PERMISSION_DENIED: "deny",
    grpc.StatusCode.NOT_FOUND: "hide",
}


def modelbox(world: dict[str, Any], role: str, level: str, action: str) -> str:
    if action not in GRPC_ACTIONS:
        return expected(role, level, action)  # not expressible there
    metadata = (
        () if role == "anonymous" else (("authorization", f"Bearer {world['tokens'][role]}"),)
    )
    model_id = world["ids"][level]["model"]
    with grpc.insecure_channel(f"127.0.0.1:{GRPC_PORT}") as channel:
        stub = ModelStoreStub(channel)
        try:
            if action == "read":
                stub.ListMetadata(pb.ListMetadataRequest(parent_id=model_id), metadata=metadata)
            elif action == "list":
                found = stub.ListModels(pb.ListModelsRequest(namespace=NS), metadata=metadata)
                return "ok" if f"m-{level}" in [m.name for m in found.models] else "hide"
            else:
                value = pb.MetricsValue(step=1, f_val=1.0)
                request = pb.LogMetricsRequest(parent_id=model_id, key="k", value=value)
                stub.LogMetrics(request, metadata=metadata)
        except grpc.RpcError as exc:
            return _GRPC_OUTCOMES.get(exc.code(), f"{exc.code()}: {exc.details()}")
    return "ok"


#: What the OCI model catalog can express: a catalog model is a version, so it reads, lists,
#: writes (updates) and deletes.
OCI_ACTIONS = ("read", "list", "write", "delete")


def oci(world: dict[str, Any], role: str, level: str, action: str) -> str:
    if action not in OCI_ACTIONS:
        return expected(role, level, action)  # not expressible there
    server: Server = world["server"]
    auth = None if role == "anonymous" else Signer(world["signing"][role])
    version_id = world["ids"][level]["version"]
    with httpx.Client(base_url=f"{server.url}/20190101", auth=auth, timeout=30) as http:
        if action == "read":
            r = http.get(f"/models/{version_id}")
        elif action == "list":
            r = http.get("/models", params={"compartmentId": "c", "projectId": NS, "limit": 1000})
            if r.status_code == 200:
                sets = [m["modelVersionSetName"] for m in r.json()]
                return "ok" if f"m-{level}" in sets else "hide"
        elif action == "write":
            r = http.put(f"/models/{version_id}", json={"description": "matrix"})
        else:
            r = http.delete(f"/models/{_spare(world, level, NS).id}")
    if r.status_code in (200, 204):
        return "ok"
    if r.status_code == 404 and expected(role, level, action) == "deny":
        return "deny"  # OCI answers NotAuthorizedOrNotFound, 404, for both: it tells nothing
    return {401: "auth", 404: "hide"}.get(r.status_code, f"{r.status_code} {r.text}")


class _environment:
    """No token from the environment or a token file for the anonymous row."""

    def __init__(self, world: dict[str, Any], role: str) -> None:
        self.anonymous = role == "anonymous"
        self.home = str(world["empty_home"])
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in (("MODELYARD_TOKEN", None), ("MODELYARD_HOME", self.home)):
            self.saved[key] = os.environ.get(key)
            if self.anonymous and value is not None:
                os.environ[key] = value
            elif self.anonymous:
                os.environ.pop(key, None)

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


SURFACES: dict[str, Callable[[dict[str, Any], str, str, str], str]] = {
    "rest": rest,
    "sdk": sdk,
    "cli": cli,
    "deepdev": deepdev,
    "opensearch": opensearch,
    "modelbox": modelbox,
    "oci": oci,
}


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(world: dict[str, Any], role: str, surface: str) -> None:
    """One role on one surface: every access level and action, compared with the table."""
    attempt = SURFACES[surface]
    got = {
        (level, action): attempt(world, role, level, action)
        for level in LEVELS
        for action in ACTIONS
    }
    want = {
        (level, action): expected(role, level, action) for level in LEVELS for action in ACTIONS
    }
    wrong = {cell: (got[cell], want[cell]) for cell in want if got[cell] != want[cell]}
    assert wrong == {}, f"{role} on {surface}: (got, table) per (level, action)"
