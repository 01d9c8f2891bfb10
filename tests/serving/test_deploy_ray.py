"""The Ray backend against a real single-node Ray cluster started here (``ray start --head``
on 127.0.0.1): deploy, predict, batch, scale, crash, hang, survive a SIGKILLed API server and
clean up after an undeploy -- through the same routes, SDK and errors as the local backend."""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("ray.serve", reason="the ray extra is not installed")

from ray_support import RayHead
from serving_support import ROWS, ServerProcess, score_bundle, sklearn_bundle

from modelyard import Client
from modelyard.domain.deployments import DeploymentState
from modelyard.errors import DeadlineExceeded, FailedPrecondition, ModelError


@pytest.fixture(scope="module")
def head() -> Iterator[RayHead]:
    # Ray's socket paths must stay short: a directory of its own right under /tmp.
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    ray_head = RayHead(temp).start()
    try:
        yield ray_head
    finally:
        ray_head.stop()
        assert ray_head.processes() == [], "Ray processes left behind"
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_server(head: RayHead, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("ray-home"))
    server.start("--serving-backend", "ray", "--ray-address", head.address)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(ray_server: ServerProcess) -> Iterator[Client]:
    with Client(ray_server.url, ray_server.token) as c:
        yield c


@pytest.fixture(scope="module")
def http(ray_server: ServerProcess) -> Iterator[httpx.Client]:
    with ray_server.http() as h:
        yield h


def serve_apps(head: RayHead) -> dict[str, str]:
    """The Serve applications on the cluster and their states, seen by a driver of its own."""
    script = (
        "import json, ray; from ray import serve\n"
        f"ray.init(address={head.address!r}, logging_level='ERROR', log_to_driver=False)\n"
        "print(json.dumps({n: a.status.value for n, a in serve.status().applications.items()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


CRASH, HANG, RAISE = ([[-1.0] * 4], [[-2.0] * 4], [[-3.0] * 4])


def _register(client: Client, name: str, bundle: Path) -> Any:
    version = client.new_model(name).new_model_version("1", artifacts=[bundle]).finish()
    version.wait_for_checks(timeout=120)
    return version


def test_a_sklearn_model_is_served_by_ray_replicas_and_scales_without_dropping_requests(
    client: Client, http: httpx.Client, tmp_path: Path
) -> None:
    expected = sklearn_bundle(tmp_path / "iris")
    version = _register(client, "iris", tmp_path / "iris")
    deployment = version.deploy(max_batch_size=8, max_wait_ms=5, timeout=180)
    assert deployment.info.backend == "ray"  # the server's default here
    assert deployment.state == DeploymentState.ACTIVE
    assert deployment.predict(ROWS) == expected
    # Concurrent single rows are batched by Serve and each gets its own answer back.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda row: deployment.predict([row]), ROWS * 4))
    assert answers == [[label] for label in expected * 4]
    # Scale to two replicas while predictions keep coming: none fails.
    failures: list[str] = []
    done = False

    def keep_predicting() -> int:
        count = 0
        while not done:
            answer = http.post(f"/api/v1/deployments/{deployment.id}/predict", json={"data": ROWS})
            if answer.status_code != 200 or answer.json()["predictions"] != expected:
                failures.append(answer.text)
            count += 1
        return count

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        counting = pool.submit(keep_predicting)
        deployment.scale(2)
        deadline = time.monotonic() + 120
        while deployment.refresh().info.replicas_ready < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        done = True
        assert counting.result() > 0
    assert deployment.info.replicas_ready == 2
    assert failures == []
    assert http.get(f"/api/v1/deployments/{deployment.id}/ready").status_code == 200
    # The input schema is checked by the API server before Ray sees the request.
    wrong = http.post(f"/api/v1/deployments/{deployment.id}/predict", json={"data": [["x"]]})
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["errors"][0]["field"] == "data[0][0]"
    deployment.undeploy()


def test_a_crashing_and_a_hanging_replica_leave_the_server_responsive(
    client: Client, http: httpx.Client, tmp_path: Path
) -> None:
    bundle = score_bundle(
        tmp_path / "moody",
        """
        if data[0][0] == -1:
            os._exit(1)
        if data[0][0] == -2:
            time.sleep(3600)
        if data[0][0] == -3:
            raise ValueError("no such row")
        return data
        """,
    )
    version = _register(client, "moody", bundle)
    # Long enough for Ray to notice the crash under load (a 504 otherwise), short for the hang.
    deployment = version.deploy(request_timeout_s=8, force=True, timeout=180)
    assert deployment.predict(ROWS) == ROWS
    crashed = http.post(f"/api/v1/deployments/{deployment.id}/predict", json={"data": CRASH})
    assert crashed.status_code == 503, crashed.text
    assert "died" in crashed.json()["detail"], crashed.json()
    assert http.get("/healthz").status_code == 200
    _eventually(lambda: deployment.predict(ROWS) == ROWS, "the crashed replica came back")
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as timed_out:
        deployment.predict(HANG)
    assert time.monotonic() - started < 30
    assert "did not answer within 8 s" in timed_out.value.message
    assert http.get("/healthz", timeout=2).status_code == 200
    # Serve's health check replaces the stuck replica: the deployment answers again.
    _eventually(lambda: deployment.predict(ROWS) == ROWS, "the hung replica was replaced")
    with pytest.raises(ModelError) as raised:
        deployment.predict(RAISE)
    assert "ValueError: no such row (score.py line" in raised.value.message
    deployment.undeploy()


def _eventually(check: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # still restarting
            last = exc
        time.sleep(1)
    raise AssertionError(f"not within {timeout:g} s: {what} (last error: {last})")


def test_deployments_survive_a_killed_api_server_and_undeploy_removes_the_app(
    client: Client, ray_server: ServerProcess, head: RayHead, tmp_path: Path
) -> None:
    expected = sklearn_bundle(tmp_path / "durable")
    version = _register(client, "durable", tmp_path / "durable")
    deployment = version.deploy(timeout=180)
    app = f"modelyard-{deployment.id}"
    assert serve_apps(head).get(app) == "RUNNING"
    ray_server.kill()
    ray_server.start("--serving-backend", "ray", "--ray-address", head.address)
    with Client(ray_server.url, ray_server.token) as again:
        back = again.get_deployment(deployment.id)
        assert back.state == DeploymentState.ACTIVE
        _eventually(lambda: back.predict(ROWS) == expected, "the restarted server predicts")
        back.undeploy()
    _eventually(lambda: app not in serve_apps(head), "the Serve app was deleted", timeout=60)


def test_a_version_the_cluster_environment_cannot_run_fails_to_deploy_on_ray(
    client: Client, tmp_path: Path
) -> None:
    bundle = score_bundle(tmp_path / "old", "return data", requirements="scikit-learn==0.0.1\n")
    version = client.new_model("old").new_model_version("1", artifacts=[bundle]).finish()
    with pytest.raises(FailedPrecondition) as failed:
        version.deploy(force=True, timeout=120)
    assert "scikit-learn==0.0.1 (installed: " in failed.value.message
    assert "deploy with backend local" in failed.value.message
