"""URL imports over the REST API: a task per import, polled by id; nothing stored on failure."""

from __future__ import annotations

import hashlib
from typing import Any

from imports_support import Imports, make_imports

from http_source import Source
from modelyard.imports.guard import AddressPolicy
from modelyard.imports.sources import UrlFetcher

BASE = "/api/v1/models/default"


def _version(client: Any, model: str = "m", *, public: bool = False) -> str:
    access = "public" if public else "private"
    assert client.post("/api/v1/models", json={"name": model, "access": access}).status_code == 201
    assert client.post(f"{BASE}/{model}/versions", json={"version": "1"}).status_code == 201
    return f"{BASE}/{model}/versions/1"


def _import(client: Any, version: str, files: dict[str, str], **body: Any) -> dict[str, Any]:
    r = client.post(f"{version}/files:import", json={"files": files, **body})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/tasks/{r.json()['id']}"
    assert r.json()["state"] == "CREATED"
    return r.json()


def _run(client: Any, imports: Imports, task: dict[str, Any]) -> dict[str, Any]:
    imports.runner.run_pending()
    r = client.get(f"/api/v1/tasks/{task['id']}")
    assert r.status_code == 200, r.text
    return r.json()


def test_import_copies_the_bytes_and_completes(api_imports: Any, imports: Imports, source: Source):
    data = bytes(range(256)) * 20_000  # ~5 MiB: several chunks
    url = source.add("weights.bin", data)
    version = _version(api_imports.admin)
    task = _import(
        api_imports.admin,
        version,
        {"model/weights.bin": url, "README.md": source.add("README.md", b"# hi\n")},
        sha256={"model/weights.bin": hashlib.sha256(data).hexdigest()},
    )
    done = _run(api_imports.admin, imports, task)
    assert done["state"] == "COMPLETED", done
    assert done["error"] is None and done["started_at"] and done["finished_at"]
    files = {f["path"]: f for f in api_imports.admin.get(f"{version}/files").json()["files"]}
    assert {f["path"]: f["id"] for f in done["result"]["files"]} == {
        p: f["id"] for p, f in files.items()
    }
    got = api_imports.admin.get(f"{version}/files/model/weights.bin")
    assert got.content == data
    assert files["model/weights.bin"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert imports.runner.run_pending() == 0  # nothing is run twice


def test_hash_mismatch_fails_the_task_and_stores_nothing(
    api_imports: Any, imports: Imports, source: Source
):
    version = _version(api_imports.admin)
    task = _import(
        api_imports.admin,
        version,
        {"a.bin": source.add("a.bin", b"abc")},
        sha256={"a.bin": "0" * 64},
    )
    done = _run(api_imports.admin, imports, task)
    assert done["state"] == "FAILED"
    assert "file a.bin" in done["error"] and "sha256: expected " + "0" * 64 in done["error"]
    assert api_imports.admin.get(f"{version}/files").json()["files"] == []
    assert api_imports.registry.blob_files() == []
    assert api_imports.registry.tmp_files() == []


def test_a_missing_source_fails_the_task_naming_the_status(
    api_imports: Any, imports: Imports, source: Source
):
    version = _version(api_imports.admin)
    task = _import(api_imports.admin, version, {"x.bin": f"{source.url}/nope.bin"})
    done = _run(api_imports.admin, imports, task)
    assert done["state"] == "FAILED"
    assert "file x.bin" in done["error"] and "404" in done["error"]
    assert api_imports.registry.blob_files() == [] and api_imports.registry.tmp_files() == []


def test_loopback_is_refused_when_the_import_is_requested(
    api: Any, registry: Any, source: Source, assert_problem: Any
):
    guarded = make_imports(registry, UrlFetcher())
    api.app.state.imports = guarded.service
    version = _version(api.admin)
    url = source.add("a.bin", b"secret")
    by_name = url.replace("127.0.0.1", "localhost")
    for target, shown in ((url, "127.0.0.1 is"), (by_name, "localhost (")):
        r = api.admin.post(f"{version}/files:import", json={"files": {"w/a.bin": target}})
        body = assert_problem(r, 422, "INVALID_ARGUMENT", field="files.w/a.bin")
        assert "SSRF" in body["detail"] and "is a loopback address" in body["detail"]
        assert shown in body["detail"] and "import_allowed_hosts" in body["detail"]
    assert api.admin.get("/api/v1/tasks").json()["tasks"] == []
    # A version from model_files is not created either.
    r = api.admin.post(
        f"{BASE}/m/versions", json={"version": "2", "model_files": {"x": f"{source.url}/a.bin"}}
    )
    assert_problem(r, 422, "INVALID_ARGUMENT", field="files.x")
    versions = api.admin.get(f"{BASE}/m/versions").json()["versions"]
    assert [v["version"] for v in versions] == ["1"]
    assert api.admin.get(f"{version}/files").json()["files"] == []


def test_the_guard_checks_again_when_the_task_fetches(api: Any, registry: Any, source: Source):
    """DNS may answer differently between submit and fetch (rebinding): the fetch is refused."""
    answers = {"rebind.example": "93.184.215.14"}
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [answers[host]]

    rebinding = make_imports(registry, UrlFetcher(policy=AddressPolicy(resolver=resolver)))
    api.app.state.imports = rebinding.service
    version = _version(api.admin)
    files = {p: f"http://rebind.example/{p}" for p in ("a.bin", "b.bin", "c.bin")}
    task = _import(api.admin, version, files)
    assert lookups == ["rebind.example"]  # one lookup per host and port, not per file
    answers["rebind.example"] = "127.0.0.1"
    done = _run(api.admin, rebinding, task)
    assert done["state"] == "FAILED"
    assert (
        "file a.bin" in done["error"]
        and "rebind.example (127.0.0.1) is a loopback" in (done["error"])
    )
    assert api.admin.get(f"{version}/files").json()["files"] == []


def test_a_host_that_does_not_resolve_yet_is_accepted_and_fails_when_fetched(
    api: Any, registry: Any
):
    unresolved = make_imports(registry, UrlFetcher())
    api.app.state.imports = unresolved.service
    version = _version(api.admin)
    task = _import(api.admin, version, {"a.bin": "http://no-such-host.invalid/a.bin"})
    done = _run(api.admin, unresolved, task)
    assert done["state"] == "FAILED"
    assert "cannot resolve host 'no-such-host.invalid'" in done["error"], done["error"]
    assert registry.blob_files() == [] and registry.tmp_files() == []


def test_every_redirect_is_checked(api_imports: Any, imports: Imports, source: Source):
    version = _version(api_imports.admin)
    good = source.add("ok.bin", b"fine")
    metadata = "http://169.254.169.254/latest/meta-data/"
    task = _import(api_imports.admin, version, {"ok.bin": f"{source.url}/redirect?to={good}"})
    assert _run(api_imports.admin, imports, task)["state"] == "COMPLETED"
    task = _import(api_imports.admin, version, {"evil.bin": f"{source.url}/redirect?to={metadata}"})
    done = _run(api_imports.admin, imports, task)
    assert done["state"] == "FAILED"
    assert "SSRF" in done["error"] and "metadata" in done["error"], done["error"]
    paths = [f["path"] for f in api_imports.admin.get(f"{version}/files").json()["files"]]
    assert paths == ["ok.bin"]


def test_file_urls_are_refused_unless_enabled(
    api: Any, registry: Any, tmp_path: Any, assert_problem: Any
):
    local = tmp_path / "local.bin"
    local.write_bytes(b"on the server's disk")
    api.app.state.imports = make_imports(registry, UrlFetcher()).service
    version = _version(api.admin)
    r = api.admin.post(f"{version}/files:import", json={"files": {"l.bin": local.as_uri()}})
    body = assert_problem(r, 422, "INVALID_ARGUMENT", field="files.l.bin")
    assert "MODELYARD_IMPORT_ALLOW_FILE_URLS" in body["detail"]

    enabled = make_imports(registry, UrlFetcher(allow_file_urls=True))
    api.app.state.imports = enabled.service
    task = _import(api.admin, version, {"l.bin": local.as_uri()})
    assert _run(api.admin, enabled, task)["state"] == "COMPLETED"
    assert api.admin.get(f"{version}/files/l.bin").content == b"on the server's disk"


def test_bad_requests_are_refused_up_front(api_imports: Any, assert_problem: Any):
    version = _version(api_imports.admin)
    cases = [
        ({"files": {"a": "ftp://x/y"}}, "files.a"),
        ({"files": {"a": "http://x:99999/y"}}, "files.a"),
        ({"files": {"a": "http://[::1]/y", "b": "http://169.254.169.254/"}}, "files.a"),
        ({"files": {"../a": "http://x/y"}}, "files.../a"),
        ({"files": {"a": "http://x/y"}, "sha256": {"b": "0" * 64}}, "sha256.b"),
        ({"files": {"a": "http://x/y"}, "sha256": {"a": "nothex"}}, "sha256.a"),
    ]
    for body, field in cases:
        r = api_imports.admin.post(f"{version}/files:import", json=body)
        assert_problem(r, 422, "INVALID_ARGUMENT", field=field)
    api_imports.admin.post(f"{version}/finish")
    r = api_imports.admin.post(f"{version}/files:import", json={"files": {"a": "http://x/y"}})
    assert_problem(r, 409, "FAILED_PRECONDITION")


def test_tasks_are_visible_only_to_readers_of_their_model(
    api_imports: Any, imports: Imports, source: Source, assert_problem: Any
):
    private = _import(api_imports.admin, _version(api_imports.admin), {"a": source.add("a", b"1")})
    public = _import(
        api_imports.admin, _version(api_imports.admin, "pub", public=True), {"b": f"{source.url}/a"}
    )
    bob = api_imports.client_for("bob")
    assert_problem(bob.get(f"/api/v1/tasks/{private['id']}"), 404, "NOT_FOUND")
    assert_problem(bob.get("/api/v1/tasks/not-an-id"), 404, "NOT_FOUND")
    assert bob.get(f"/api/v1/tasks/{public['id']}").status_code == 200
    assert [t["id"] for t in bob.get("/api/v1/tasks").json()["tasks"]] == [public["id"]]
    r = bob.post(f"{BASE}/pub/versions/1/files:import", json={"files": {"c": f"{source.url}/a"}})
    assert_problem(r, 403, "PERMISSION_DENIED")

    imports.runner.run_pending()
    admin = api_imports.admin
    listed = admin.get("/api/v1/tasks", params={"state": "COMPLETED"}).json()["tasks"]
    assert [t["id"] for t in listed] == [public["id"], private["id"]]  # newest first
    assert admin.get("/api/v1/tasks", params={"state": "CREATED"}).json()["tasks"] == []
    page = admin.get("/api/v1/tasks", params={"page_size": 1}).json()
    rest = admin.get("/api/v1/tasks", params={"page_token": page["next_page_token"]}).json()
    assert [t["id"] for t in page["tasks"] + rest["tasks"]] == [public["id"], private["id"]]
    assert_problem(admin.get("/api/v1/tasks", params={"state": "DONE"}), 422, "INVALID_ARGUMENT")


def test_secrets_in_source_urls_are_not_shown(api_imports: Any, source: Source):
    version = _version(api_imports.admin)
    url = source.add("a", b"1") + "?X-Amz-Signature=secret"
    task = _import(api_imports.admin, version, {"a": url.replace("http://", "http://u:pw@")})
    assert task["params"]["files"] == {"a": f"{source.url}/a"}


def test_a_version_from_model_files_becomes_ready_or_failed(
    api_imports: Any, imports: Imports, source: Source
):
    admin = api_imports.admin
    assert admin.post("/api/v1/models", json={"name": "dd"}).status_code == 201
    data = b"model bytes"
    r = admin.post(
        f"{BASE}/dd/versions",
        json={
            "version": "1.0",
            "model_files": {"model.bin": source.add("model.bin", data)},
            "model_files_sha256": {"model.bin": hashlib.sha256(data).hexdigest()},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "PENDING" and r.json()["import_task"]
    done = _run(admin, imports, {"id": r.json()["import_task"]})
    assert done["state"] == "COMPLETED"
    assert admin.get(f"{BASE}/dd/versions/1.0").json()["state"] == "READY"

    r = admin.post(
        f"{BASE}/dd/versions", json={"version": "2.0", "model_files": {"x": f"{source.url}/no"}}
    )
    done = _run(admin, imports, {"id": r.json()["import_task"]})
    assert done["state"] == "FAILED"
    failed = admin.get(f"{BASE}/dd/versions/2.0").json()
    assert failed["state"] == "FAILED" and "404" in failed["status_message"]


def test_a_server_without_imports_answers_409(api: Any, assert_problem: Any):
    version = _version(api.admin)
    r = api.admin.post(f"{version}/files:import", json={"files": {"a": "http://x/y"}})
    assert_problem(r, 409, "FAILED_PRECONDITION")
    assert_problem(api.admin.get("/api/v1/tasks"), 409, "FAILED_PRECONDITION")


def test_policy_parses_hosts_and_networks():
    policy = AddressPolicy.parse(" Models.Internal. , 10.0.0.0/8,[::1] ,")
    assert policy.hosts == {"models.internal"}
    assert [str(n) for n in policy.networks] == ["10.0.0.0/8", "::1/128"]
