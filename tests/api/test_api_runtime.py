"""A version's runtime spec and the check runs over /api/v1: what is stored, who may start a
run, and the failures. The checks themselves run in tests/checks/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import create_model, create_version, model_url, upload, version_url

from modelyard.api.app import create_app
from modelyard.domain.checks import VersionChecks
from modelyard.domain.runtime import CheckReport, RuntimeSpec
from modelyard.errors import ErrorCode
from modelyard.store.tasks import SqlTaskStore

SPEC = {"flavor": "sklearn", "model_file": "model.joblib", "requirements": ["scikit-learn"]}


def _never_run(bundle: Path, spec: RuntimeSpec | None, **_: Any) -> CheckReport:
    raise AssertionError("no task runner runs in these tests")


@pytest.fixture
def checks_api(api: Any) -> Iterator[Any]:
    """``api``'s registry behind an app with version checks: their tasks are submitted (no
    runner runs them here)."""
    checks = VersionChecks(api.service, SqlTaskStore(api.service.store), _never_run)
    app = create_app(api.service, checks=checks)
    holder = type(api)(registry=api.registry, app=app, portal=api.portal)
    yield holder
    holder.close()


def _ready(api: Any, model: str, label: str, **fields: Any) -> str:
    create_version(api.admin, model, version=label, **fields)
    assert upload(api.admin, model, label, "model.joblib", b"not really").status_code == 201
    r = api.admin.post(version_url(model, label) + "/finish")
    assert r.status_code == 200, r.text
    return version_url(model, label)


def test_runtime_is_stored_and_finishing_queues_a_check_run(checks_api: Any) -> None:
    api = checks_api
    create_model(api.admin, "m")
    url = _ready(api, "m", "1", runtime=SPEC)
    version = api.admin.get(url).json()
    assert version["runtime"] == {**SPEC, "requirements": ["scikit-learn"]} | {
        k: None
        for k in (
            "entry_point",
            "model_class",
            "python_version",
            "conda_env",
            "docker_image",
            "example",
            "text_embedding",
        )
    }
    first = version["checks"]
    assert first["state"] == "PENDING" and first["task"]

    again = api.admin.post(url + "/checks")
    assert again.status_code == 202, again.text
    task = again.json()
    assert (task["kind"], task["state"], task["version"]) == ("CHECK_VERSION", "CREATED", "1")
    checks = api.admin.get(url).json()["checks"]
    assert (checks["state"], checks["task"], checks["results"]) == ("PENDING", task["id"], [])

    # A new runtime on a READY version is checked again.
    r = api.admin.patch(url, json={"runtime": {"flavor": "python", "entry_point": "score.py"}})
    assert r.status_code == 200, r.text
    assert r.json()["runtime"]["flavor"] == "python"
    assert r.json()["checks"]["task"] not in (first["task"], task["id"])


def test_a_pending_version_takes_a_runtime_and_is_not_checked(checks_api: Any) -> None:
    api = checks_api
    create_model(api.admin, "m")
    create_version(api.admin, "m", version="1")
    r = api.admin.patch(version_url("m", "1"), json={"runtime": SPEC})
    assert r.status_code == 200 and r.json()["runtime"]["model_file"] == "model.joblib"
    assert r.json()["checks"] is None


def test_runtime_errors_name_the_field(checks_api: Any, assert_problem: Any) -> None:
    api = checks_api
    create_model(api.admin, "m")
    versions = model_url("m") + "/versions"
    cases = [
        ({"flavor": "tensorflow"}, "runtime.flavor"),
        ({"flavor": "onnx", "model_file": "/etc/passwd"}, "runtime.model_file"),
        ({"flavor": "python", "entry_point": "../score.py"}, "runtime.entry_point"),
        ({"flavor": "onnx", "surprise": 1}, "runtime.surprise"),
        ({"model_file": "model.onnx"}, "runtime.flavor"),
        ({"flavor": "sklearn", "requirements": "numpy"}, "runtime.requirements"),
    ]
    for runtime, field in cases:
        r = api.admin.post(versions, json={"runtime": runtime})
        assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field=field)
    assert api.admin.get(versions).json()["versions"] == []  # nothing was created


def test_who_may_run_checks(checks_api: Any, assert_problem: Any) -> None:
    api = checks_api
    create_model(api.admin, "shared", access="public")
    create_model(api.admin, "secret")
    shared = _ready(api, "shared", "1")
    secret = _ready(api, "secret", "1")
    reader = api.client_for("reader")
    assert reader.get(shared).json()["checks"]["state"] == "PENDING"  # readers see results
    assert_problem(reader.post(shared + "/checks"), 403, ErrorCode.PERMISSION_DENIED)
    assert_problem(reader.post(secret + "/checks"), 404, ErrorCode.MODEL_NOT_FOUND)
    assert_problem(api.anon.post(shared + "/checks"), 401, ErrorCode.UNAUTHENTICATED)


def test_checks_run_on_ready_versions_only(checks_api: Any, assert_problem: Any) -> None:
    api = checks_api
    create_model(api.admin, "m")
    create_version(api.admin, "m", version="1")
    r = api.admin.post(version_url("m", "1") + "/checks")
    body = assert_problem(r, 409, ErrorCode.FAILED_PRECONDITION)
    assert "PENDING" in body["detail"] and "finish" in body["detail"]
    api.admin.post(version_url("m", "1") + "/fail", json={"reason": "bad"})
    r = api.admin.patch(version_url("m", "1"), json={"runtime": SPEC})
    assert_problem(r, 409, ErrorCode.FAILED_PRECONDITION)
    assert_problem(
        api.admin.post(version_url("m", "9") + "/checks"), 404, ErrorCode.VERSION_NOT_FOUND
    )


def test_a_server_without_checks_says_so(api: Any, assert_problem: Any) -> None:
    create_model(api.admin, "m")
    url = _ready(api, "m", "1")
    assert api.admin.get(url).json()["checks"] is None
    body = assert_problem(api.admin.post(url + "/checks"), 409, ErrorCode.FAILED_PRECONDITION)
    assert "not enabled" in body["detail"]
