"""Models that crash their worker or hang leave the API server and the other deployments fully
responsive; the crashed replica is restarted, and the hanging request times out with a clear
error. Killing the API server with SIGKILL and starting it again brings ACTIVE deployments back
without a new deploy call."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from serving_support import ROWS, ServerProcess, score_bundle, sklearn_bundle

from modelyard import Client
from modelyard.domain.deployments import DeploymentState
from modelyard.errors import DeadlineExceeded, FailedPrecondition, Unavailable


def _ready_version(client: Client, name: str, bundle: Path) -> object:
    version = client.new_model(name).new_model_version("1", artifacts=[bundle]).finish()
    version.wait_for_checks(timeout=180)
    return version


def _restarts(served: ServerProcess, deployment_id: str) -> int:
    with served.http() as http:
        text = http.get("/metrics").text
    for line in text.splitlines():
        if line.startswith("modelyard_replica_restarts_total") and deployment_id in line:
            return int(line.rsplit(" ", 1)[1])
    return 0


def test_crash_and_hang_leave_everything_else_responsive(
    client: Client, served: ServerProcess, tmp_path: Path
) -> None:
    expected = sklearn_bundle(tmp_path / "good")
    good = _ready_version(client, "steady", tmp_path / "good").deploy(timeout=180)
    crasher = _ready_version(client, "crasher", score_bundle(tmp_path / "crash", "os._exit(3)"))
    hanger = _ready_version(client, "hanger", score_bundle(tmp_path / "hang", "time.sleep(3600)"))

    # Their checks FAILED (the checks predict too), so they deploy only when forced.
    with pytest.raises(FailedPrecondition, match="failed its checks"):
        crasher.deploy(timeout=60)
    crashing = crasher.deploy(force=True, timeout=180)
    hanging = hanger.deploy(force=True, request_timeout_s=2, timeout=180)
    pid_before = _replica_pids(served, crashing.id)

    with pytest.raises(Unavailable, match="died while predicting"):
        crashing.predict(ROWS)

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"did not answer within 2 s"):
        hanging.predict(ROWS)
    assert time.monotonic() - started < 10

    # The hung replica is killed once its prediction outlives the timeout, and restarted.
    _wait_ready(hanging)

    # While a request hangs in one deployment, the rest answers at once.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        stuck = pool.submit(hanging.predict, ROWS)
        for _ in range(20):
            t0 = time.monotonic()
            np.testing.assert_allclose(good.predict(ROWS), expected)
            assert client.list_models(page_size=5) is not None
            assert time.monotonic() - t0 < 2.0
        with pytest.raises(DeadlineExceeded):
            stuck.result(timeout=30)

    # The crashed replica came back (a new process) and is counted as a restart.
    _wait_ready(crashing)
    assert _restarts(served, crashing.id) >= 1
    assert _replica_pids(served, crashing.id) - pid_before

    for d in (good, crashing, hanging):
        d.undeploy()


def _wait_ready(deployment: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while deployment.refresh().info.replicas_ready != 1:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"{deployment} has no replica ready"
        time.sleep(0.2)


def _replica_pids(served: ServerProcess, deployment_id: str) -> set[int]:
    """Worker processes of a deployment: children of the server whose socket names it."""
    assert served.process is not None
    pattern = f"modelyard.serving.worker.*{deployment_id[-12:]}"
    out = subprocess.run(
        ["pgrep", "-P", str(served.process.pid), "-f", pattern],
        capture_output=True,
        text=True,
    ).stdout
    return {int(p) for p in out.split()}


def test_sigkill_and_restart_bring_active_deployments_back(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home").start()
    try:
        expected = sklearn_bundle(tmp_path / "bundle")
        with Client(server.url, server.token) as client:
            version = _ready_version(client, "survivor", tmp_path / "bundle")
            deployment = version.deploy(replicas=2, timeout=180)
            stopped = _ready_version(client, "undeployed", tmp_path / "bundle").deploy(timeout=180)
            stopped.undeploy()
            workers = _replica_pids(server, deployment.id)
            assert len(workers) == 2

        server.kill()  # SIGKILL: no shutdown of any kind
        _wait_gone(workers)  # orphaned workers notice and exit by themselves
        server.start()

        with Client(server.url, server.token) as client:
            back = client.get_deployment(deployment.id)
            assert back.state == DeploymentState.ACTIVE
            back.wait(timeout=120)
            np.testing.assert_allclose(back.predict(ROWS), expected)
            deadline = time.monotonic() + 60
            while back.refresh().info.replicas_ready < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert back.info.replicas_ready == 2
            assert client.get_deployment(stopped.id).state == DeploymentState.STOPPED
            assert len(_replica_pids(server, deployment.id)) == 2
    finally:
        server.stop()


def _wait_gone(pids: set[int], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive.discard(pid)
        time.sleep(0.1)
    assert not alive, f"worker processes {alive} outlived their server"


def test_requests_beyond_the_payload_limit_are_refused(
    client: Client, served: ServerProcess, tmp_path: Path
) -> None:
    sklearn_bundle(tmp_path / "bundle")
    deployment = _ready_version(client, "limited", tmp_path / "bundle").deploy(timeout=180)
    big = b'{"data": [' + b"[1.0, 2.0, 3.0, 4.0]," * 1_000_000 + b"[1, 2, 3, 4]]}"
    with served.http() as http:
        answer = http.post(
            f"/api/v1/deployments/{deployment.id}/predict",
            content=big,
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 413, answer.text
    assert answer.json()["errors"][0]["field"] == "body"
    np.testing.assert_equal(len(deployment.predict(ROWS)), len(ROWS))  # still serving
    deployment.undeploy()


def test_v2_health_needs_no_token(served: ServerProcess) -> None:
    assert httpx.get(f"{served.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{served.url}/v2/health/ready").json() == {"ready": True}
