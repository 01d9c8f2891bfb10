"""The deployment routes against a running server: what they answer, every way they refuse,
who may do what, addressing by tag and by KServe V2 name, scaling under load, batching,
metrics, idle time-to-live and deploy-on-predict."""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serving_support import ROWS, ServerProcess, X, score_bundle, sklearn_bundle

from modelyard import Client
from modelyard.domain.deployments import DeploymentState
from modelyard.errors import FailedPrecondition, Unavailable


@pytest.fixture(scope="module")
def iris(client: Client, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[Any]]:
    """A READY, checked sklearn version of a public model, and its in-process predictions."""
    bundle = tmp_path_factory.mktemp("iris")
    expected = sklearn_bundle(bundle)
    model = client.new_model("iris", access="public")
    version = model.new_model_version("1", artifacts=[bundle]).finish()
    version.wait_for_checks(timeout=180)
    return version, expected


@pytest.fixture(scope="module")
def deployed(iris: tuple[Any, list[Any]]) -> Any:
    deployment = iris[0].deploy(timeout=180)
    yield deployment
    deployment.undeploy()


@pytest.fixture(scope="module")
def bob(client: Client, served: ServerProcess) -> httpx.Client:
    """An ordinary user's HTTP client."""
    client.create_user("bob")
    token = client.create_token(user="bob")
    with httpx.Client(
        base_url=served.url, headers={"authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        yield http


@pytest.fixture
def http(served: ServerProcess) -> httpx.Client:
    with served.http() as h:
        yield h


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["status"] == status and body["code"] == code, body
    return body


# -- deploying ---------------------------------------------------------------------------------


def test_create_answers_202_with_the_task_to_poll(iris: Any, http: httpx.Client) -> None:
    answer = http.post(
        "/api/v1/deployments",
        json={"namespace": "default", "model": "iris", "version": "1", "name": "iris-task"},
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["state"] == "PENDING" and body["task_id"]
    assert answer.headers["location"] == f"/api/v1/tasks/{body['task_id']}"
    assert body["endpoints"]["v2_infer"] == "/v2/models/iris-task/versions/1/infer"
    deadline = time.monotonic() + 120
    while (task := http.get(f"/api/v1/tasks/{body['task_id']}").json())["state"] != "COMPLETED":
        assert task["state"] != "FAILED" and time.monotonic() < deadline, task
        time.sleep(0.2)
    assert task["kind"] == "DEPLOY" and task["result"]["state"] == "ACTIVE"
    assert http.get(f"/api/v1/deployments/{body['id']}").json()["state"] == "ACTIVE"
    assert http.delete(f"/api/v1/deployments/{body['id']}").json()["state"] == "STOPPED"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"model": "iris", "version": "1"}, 422, "INVALID_ARGUMENT", "namespace"),
        ({"namespace": "default", "model": "iris"}, 422, "INVALID_ARGUMENT", "version"),
        (
            {"namespace": "default", "model": "iris", "version": "1", "tag": "x"},
            422,
            "INVALID_ARGUMENT",
            "version",
        ),
        (
            {"namespace": "default", "model": "iris", "version": "1", "replicas": 0},
            422,
            "INVALID_ARGUMENT",
            "settings.replicas",
        ),
        (
            {
                "namespace": "default",
                "model": "iris",
                "version": "1",
                "batching": {"max_batch_size": 0},
            },
            422,
            "INVALID_ARGUMENT",
            "settings.batching.max_batch_size",
        ),
        (
            {"namespace": "default", "model": "iris", "version": "1", "backend": "ray"},
            422,
            "INVALID_ARGUMENT",
            "backend",
        ),
        (
            {"namespace": "default", "model": "iris", "version": "1", "name": "no spaces"},
            422,
            "INVALID_ARGUMENT",
            "name",
        ),
        ({"namespace": "default", "model": "nope", "version": "1"}, 404, "MODEL_NOT_FOUND", None),
        ({"namespace": "default", "model": "iris", "version": "9"}, 404, "VERSION_NOT_FOUND", None),
        ({"namespace": "default", "model": "iris", "tag": "gone"}, 404, "TAG_NOT_FOUND", None),
    ],
)
def test_create_refuses_bad_requests(
    iris: Any, http: httpx.Client, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    problem = _problem(http.post("/api/v1/deployments", json=body), status, code)
    if field is not None:
        assert problem["errors"][0]["field"] == field, problem


def test_a_pending_version_and_a_taken_name_are_refused(
    client: Client, iris: Any, deployed: Any, http: httpx.Client
) -> None:
    client.get_model("iris").new_model_version("pending")
    body = {"namespace": "default", "model": "iris", "version": "pending"}
    problem = _problem(http.post("/api/v1/deployments", json=body), 409, "FAILED_PRECONDITION")
    assert "only READY versions are deployed" in problem["detail"]

    taken = {"namespace": "default", "model": "iris", "version": "1"}  # named "iris" already
    problem = _problem(http.post("/api/v1/deployments", json=taken), 409, "ALREADY_EXISTS")
    assert problem["errors"][0]["field"] == "name"


def test_deployed_versions_and_models_cannot_be_deleted(
    client: Client, deployed: Any, http: httpx.Client
) -> None:
    problem = _problem(
        http.delete("/api/v1/models/default/iris/versions/1"), 409, "FAILED_PRECONDITION"
    )
    assert f"undeploy it first: `modelyard deployments undeploy {deployed.id}`" in problem["detail"]
    _problem(http.delete("/api/v1/models/default/iris"), 409, "FAILED_PRECONDITION")
    assert client.get_model("iris").get_version("1").state == "READY"


# -- who may do what ---------------------------------------------------------------------------


def test_readers_predict_but_only_owners_change(
    client: Client, deployed: Any, bob: httpx.Client, iris: Any
) -> None:
    path = f"/api/v1/deployments/{deployed.id}"
    assert bob.get(path).json()["state"] == "ACTIVE"
    assert bob.post(path + "/predict", json={"data": ROWS}).json()["predictions"] == iris[1]
    _problem(bob.patch(path, json={"replicas": 2}), 403, "PERMISSION_DENIED")
    _problem(bob.delete(path), 403, "PERMISSION_DENIED")
    body = {"namespace": "default", "model": "iris", "version": "1", "name": "bobs"}
    _problem(bob.post("/api/v1/deployments", json=body), 403, "PERMISSION_DENIED")
    _problem(bob.get("/metrics"), 403, "PERMISSION_DENIED")


def test_private_deployments_are_invisible_to_others(
    client: Client, bob: httpx.Client, tmp_path: Path
) -> None:
    sklearn_bundle(tmp_path / "b")
    version = client.new_model("secret").new_model_version("1", artifacts=[tmp_path / "b"])
    version.finish().wait_for_checks(timeout=180)
    deployment = version.deploy(timeout=180)
    try:
        path = f"/api/v1/deployments/{deployment.id}"
        _problem(bob.get(path), 404, "DEPLOYMENT_NOT_FOUND")
        _problem(bob.post(path + "/predict", json={"data": ROWS}), 404, "DEPLOYMENT_NOT_FOUND")
        _problem(bob.delete(path), 404, "DEPLOYMENT_NOT_FOUND")
        assert deployment.id not in bob.get("/api/v1/deployments").text
        assert bob.post("/v2/models/secret/infer", json={}).status_code == 404
        _problem(
            bob.post(
                "/api/v1/deployments",
                json={"namespace": "default", "model": "secret", "version": "1"},
            ),
            404,
            "MODEL_NOT_FOUND",
        )
        # made public for predictions: anyone predicts by id or V2 name, nothing else shows
        anonymous = httpx.Client(base_url=client.url, timeout=60)
        _problem(anonymous.post(path + "/predict", json={"data": ROWS}), 401, "UNAUTHENTICATED")
        assert deployment.update(public=True).info.public is True
        # bob cannot read the model, yet may predict now
        assert bob.post(path + "/predict", json={"data": ROWS}).status_code == 200
        answer = anonymous.post(path + "/predict", json={"data": ROWS})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == client.get_model("secret").get_version("1").predict(
            ROWS
        )
        v2 = anonymous.post(
            "/v2/models/secret/infer",
            json={"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROWS[0]}]},
        )
        assert v2.status_code == 200, v2.text
        _problem(anonymous.get(path), 401, "UNAUTHENTICATED")
        _problem(anonymous.get("/api/v1/models/default/secret"), 401, "UNAUTHENTICATED")
        _problem(bob.get(path), 404, "DEPLOYMENT_NOT_FOUND")
        _problem(bob.patch(path, json={"public": False}), 404, "DEPLOYMENT_NOT_FOUND")
        bad = {"authorization": "Bearer myd_wrong"}
        _problem(
            anonymous.post(path + "/predict", json={"data": ROWS}, headers=bad),
            401,
            "UNAUTHENTICATED",
        )
        deployment.update(public=False)
        _problem(anonymous.post(path + "/predict", json={"data": ROWS}), 401, "UNAUTHENTICATED")
        anonymous.close()
    finally:
        deployment.undeploy()


# -- predicting --------------------------------------------------------------------------------


def test_predict_refuses_input_the_schema_does_not_allow(deployed: Any, http: httpx.Client) -> None:
    path = f"/api/v1/deployments/{deployed.id}/predict"
    problem = _problem(http.post(path, json={"data": [[1, 2, "x", 4]]}), 422, "INVALID_ARGUMENT")
    assert problem["errors"][0] == {"field": "data[0][2]", "message": "expected number, got string"}
    problem = _problem(http.post(path, json={"rows": ROWS}), 422, "INVALID_ARGUMENT")
    assert {e["field"] for e in problem["errors"]} >= {"data"}
    _problem(
        http.post(path, content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "INVALID_ARGUMENT",
    )
    _problem(
        http.post("/api/v1/deployments/nope/predict", json={"data": ROWS}),
        404,
        "DEPLOYMENT_NOT_FOUND",
    )


def test_predict_by_version_label_and_by_tag(
    client: Client, deployed: Any, iris: Any, http: httpx.Client
) -> None:
    iris[0].set_tag("production")
    for ref in ("1", "production"):
        answer = http.post(
            f"/api/v1/models/default/iris/versions/{ref}/predict", json={"data": ROWS}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "predictions": iris[1],
            "deployment": deployed.id,
            "model": "default/iris",
            "version": "1",
        }
    client.get_model("iris").new_model_version("v2")  # not deployed
    problem = _problem(
        http.post("/api/v1/models/default/iris/versions/v2/predict", json={"data": ROWS}),
        404,
        "DEPLOYMENT_NOT_FOUND",
    )
    assert "is not deployed" in problem["detail"]


def test_a_stopped_deployment_answers_503(iris: Any, http: httpx.Client) -> None:
    deployment = iris[0].deploy(name="stopping", timeout=180)
    deployment.undeploy()
    problem = _problem(
        http.post(f"/api/v1/deployments/{deployment.id}/predict", json={"data": ROWS}),
        503,
        "UNAVAILABLE",
    )
    assert "is STOPPED, not ACTIVE" in problem["detail"]
    _problem(http.get(f"/api/v1/deployments/{deployment.id}/ready"), 503, "UNAVAILABLE")


def test_health_of_a_deployment(deployed: Any, http: httpx.Client) -> None:
    assert http.get(f"/api/v1/deployments/{deployed.id}/live").json()["live"] is True
    assert http.get(f"/api/v1/deployments/{deployed.id}/ready").json()["ready"] is True


# -- KServe V2 ---------------------------------------------------------------------------------


def test_v2_infer_metadata_and_ready(deployed: Any, iris: Any, http: httpx.Client) -> None:
    flat = np.array(ROWS).ravel().tolist()
    tensor = {"name": "x", "shape": [len(ROWS), 4], "datatype": "FP32", "data": flat}
    answer = http.post("/v2/models/iris/versions/1/infer", json={"id": "r1", "inputs": [tensor]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "model_name": "iris",
        "model_version": "1",
        "id": "r1",
        "outputs": [
            {"name": "output-0", "shape": [len(ROWS)], "datatype": "INT64", "data": iris[1]}
        ],
    }
    assert http.post("/v2/models/iris/infer", json={"inputs": [tensor]}).status_code == 200
    meta = http.get("/v2/models/iris").json()
    assert meta["name"] == "iris" and meta["versions"] == ["1"]
    assert meta["platform"] == "modelyard-sklearn"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert http.get("/v2/models/iris/versions/1/ready").json() == {"name": "iris", "ready": True}


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v2/models/iris/versions/7/infer", {"inputs": []}, 404, "serves version 1, not 7"),
        ("/v2/models/nobody/infer", {"inputs": []}, 404, "no deployment named 'nobody'"),
        ("/v2/models/iris/infer", {"inputs": []}, 422, "inputs: expected a non-empty list"),
        (
            "/v2/models/iris/infer",
            {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}]},
            422,
            "inputs[0].data: holds 3 values, but shape [2, 4] needs 8",
        ),
        (
            "/v2/models/iris/infer",
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP99", "data": [1, 2, 3, 4]}]},
            422,
            "inputs[0].datatype: expected one of",
        ),
        (
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, "a", 4]}
                ]
            },
            422,
            "inputs[0].data[2]: 'a' is not a FP32 value",
        ),
    ],
)
def test_v2_errors_name_the_field(
    deployed: Any, http: httpx.Client, path: str, body: Any, status: int, words: str
) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"], answer.json()


def test_v2_needs_a_token(served: ServerProcess, deployed: Any) -> None:
    answer = httpx.post(f"{served.url}/v2/models/iris/infer", json={"inputs": []})
    assert answer.status_code == 401 and "error" in answer.json()


# -- scale, batching, metrics ------------------------------------------------------------------


def test_scaling_a_live_deployment_drops_no_request(deployed: Any, iris: Any) -> None:
    expected = iris[1]
    stop = time.monotonic() + 1e9
    errors: list[BaseException] = []
    answered = 0

    def hammer() -> None:
        nonlocal answered
        while time.monotonic() < stop:
            try:
                assert deployed.predict(ROWS) == expected
                answered += 1
            except BaseException as exc:  # collected, the test fails on any
                errors.append(exc)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(hammer) for _ in range(4)]
        deployed.scale(2)
        deadline = time.monotonic() + 60
        while deployed.refresh().info.replicas_ready != 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        deployed.scale(1)
        while deployed.refresh().info.replicas_ready != 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        stop = time.monotonic()
        for run in runs:
            run.result()
    assert not errors, errors[:3]
    assert answered > 20


def test_batching_groups_concurrent_requests_and_splits_the_answers(iris: Any) -> None:
    version, _ = iris
    deployment = version.deploy(name="iris-batched", max_batch_size=16, max_wait_ms=5, timeout=180)
    from sklearn.linear_model import LogisticRegression  # the same fit as the bundle's

    rows = X[:32].tolist()
    expected = LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int)).predict(X[:32])
    try:
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda row: deployment.predict([row]), rows))
        assert [a[0] for a in answers] == expected.tolist()
    finally:
        deployment.undeploy()


def test_metrics_count_predictions_per_deployment(deployed: Any, http: httpx.Client) -> None:
    before = _count(http, deployed.id)
    for _ in range(3):
        deployed.predict(ROWS)
    http.post(f"/api/v1/deployments/{deployed.id}/predict", json={"data": [["x"]]})
    text = http.get("/metrics").text
    assert _count(http, deployed.id) == before + 3
    assert f'modelyard_prediction_seconds_count{{deployment="{deployed.id}",name="iris"}}' in text
    assert 'outcome="INVALID_ARGUMENT"' in text


def _count(http: httpx.Client, deployment_id: str) -> int:
    prefix = f'modelyard_predictions_total{{deployment="{deployment_id}",name="iris",outcome="ok"}}'
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return int(line.rsplit(" ", 1)[1])
    return 0


# -- lifecycle policies ------------------------------------------------------------------------


def test_idle_deployments_stop_and_come_back_on_a_prediction(iris: Any) -> None:
    version, expected = iris
    deployment = version.deploy(
        name="iris-idle", idle_ttl_s=2, deploy_on_predict=True, request_timeout_s=120, timeout=180
    )
    deadline = time.monotonic() + 30
    while deployment.refresh().state != DeploymentState.STOPPED:
        assert time.monotonic() < deadline, deployment.info
        time.sleep(0.2)
    assert "idle for more than 2 s" in (deployment.info.status_message or "")

    assert deployment.predict(ROWS) == expected  # deploys it again, then answers
    # The answer may come a moment before the deploy task marks it ACTIVE; keep it from
    # going idle again meanwhile.
    deployment.update(idle_ttl_s=3600)
    assert deployment.wait(timeout=60).info.state == DeploymentState.ACTIVE
    deployment.undeploy()


def test_a_model_that_does_not_load_fails_the_deploy_with_its_error(
    client: Client, http: httpx.Client, tmp_path: Path
) -> None:
    bundle = score_bundle(tmp_path / "noload", "return data")
    score = bundle / "score.py"
    score.write_text(
        score.read_text().replace("return {'scale': 2}", "raise RuntimeError('no weights')")
    )
    version = client.new_model("noload").new_model_version("1", artifacts=[bundle]).finish()
    version.wait_for_checks(timeout=120)
    with pytest.raises(FailedPrecondition) as failed:
        version.deploy(force=True, timeout=120)
    assert "the model's worker did not start" in failed.value.message
    assert "RuntimeError: no weights" in failed.value.message
    listed = http.get("/api/v1/deployments", params={"state": "FAILED"}).json()["deployments"]
    assert [d["name"] for d in listed] == ["noload"]
    assert "no weights" in listed[0]["status_message"]


def test_a_prediction_waiting_for_a_failing_redeploy_fails_with_the_reason(
    client: Client, tmp_path: Path
) -> None:
    gone = tmp_path / "weights-gone"
    bundle = score_bundle(tmp_path / "flaky", "return data")
    score = bundle / "score.py"
    score.write_text(
        score.read_text().replace(
            "return {'scale': 2}",
            f"if os.path.exists({str(gone)!r}):\n        raise RuntimeError('weights gone')\n"
            "    return {'scale': 2}",
        )
    )
    version = client.new_model("flaky").new_model_version("1", artifacts=[bundle]).finish()
    version.wait_for_checks(timeout=120)
    deployment = version.deploy(idle_ttl_s=1, deploy_on_predict=True, request_timeout_s=90)
    deadline = time.monotonic() + 30
    while deployment.refresh().state != DeploymentState.STOPPED:
        assert time.monotonic() < deadline, deployment.info
        time.sleep(0.2)
    gone.touch()  # the next start of the model fails

    started = time.monotonic()
    with pytest.raises(Unavailable) as refused:
        deployment.predict([1])
    assert time.monotonic() - started < 30  # not the request timeout of 90 s
    assert "FAILED" in refused.value.message and "weights gone" in refused.value.message
    assert deployment.refresh().state == DeploymentState.FAILED
    deployment.undeploy()


def test_the_ray_backend_needs_the_cluster_address(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="MODELYARD_RAY_ADDRESS") as refused:
        ServerProcess(tmp_path / "home").start("--serving-backend", "ray")
    assert "--ray-address" in str(refused.value)


def test_the_predict_fast_path_answers_as_the_route_does(
    deployed: Any, iris: tuple[Any, list[Any]], http: httpx.Client
) -> None:
    path = f"/api/v1/deployments/{deployed.id}/predict"
    answer = http.post(path, json={"data": ROWS}, headers={"x-request-id": "mine-1"})
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "mine-1"
    assert answer.json() == {
        "predictions": iris[1],
        "deployment": deployed.id,
        "model": "default/iris",
        "version": "1",
    }
    # Bodies it does not take as they are reach the route and its validation, body intact.
    extra = http.post(path, json={"data": ROWS, "extra": 1})
    problem = _problem(extra, 422, "INVALID_ARGUMENT")
    assert [e["field"] for e in problem["errors"]] == ["extra"]
    chunked = http.post(
        path,
        content=iter([b'{"data": ', json.dumps(ROWS).encode(), b"}"]),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 200 and chunked.json()["predictions"] == iris[1]
    # Errors keep the problem shape and the request id.
    unknown = http.post("/api/v1/deployments/nope/predict", json={"data": ROWS})
    assert (
        _problem(unknown, 404, "DEPLOYMENT_NOT_FOUND")["request_id"]
        == unknown.headers["x-request-id"]
    )
    anonymous = httpx.post(str(http.base_url.join(path)), json={"data": ROWS})
    assert _problem(anonymous, 401, "UNAUTHENTICATED")["detail"].startswith("missing credentials")


def test_replicas_compute_on_one_thread_unless_the_server_says_otherwise(
    client: Client, tmp_path: Path
) -> None:
    bundle = score_bundle(tmp_path / "threads", "return [[os.environ.get('OMP_NUM_THREADS')]]")
    version = client.new_model("threads").new_model_version("1", artifacts=[bundle]).finish()
    version.wait_for_checks(timeout=120)
    deployment = version.deploy(force=True, timeout=120)
    assert deployment.predict(ROWS) == [["1"]]
    deployment.undeploy()
