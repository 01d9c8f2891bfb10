"""oracle-ads against one running ``modelyard server``, in its own venv, offline with a
throw-away API key: ``SklearnModel(...).prepare()`` output saved with ``.save()`` (signed
create, provenance and artifact upload), read back with ``from_model_catalog()`` and predicting
as before; refused when signed with a key nobody registered; and the saved version passing
modelyard's checks (ADS's introspection tests among them, under their ADS keys), deployed and
answering the bodies ADS sends (base64 .npy, JSON, DataFrame)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_venv import ORACLE_ADS, client_python
from modelyard.runtime.ads import ADS_TESTS
from oci_support import fingerprint, new_key, private_pem, public_pem
from server_support import Server, running_server

SCRIPT = Path(__file__).parent / "ads_script.py"
MODELYARD = Path(sys.executable).parent / "modelyard"


def oci_config(directory: Path, name: str) -> tuple[Path, Any]:
    """A throw-away API key and an OCI config file naming it; the key."""
    key = new_key()
    (directory / f"{name}.pem").write_text(private_pem(key))
    (directory / f"{name}.pub").write_text(public_pem(key))
    config = directory / f"{name}.config"
    config.write_text(
        "[DEFAULT]\n"
        f"user=ocid1.user.oc1..{name}\n"
        f"fingerprint={fingerprint(key)}\n"
        "tenancy=ocid1.tenancy.oc1..modelyard\n"
        "region=us-ashburn-1\n"
        f"key_file={directory / f'{name}.pem'}\n"
    )
    return config, key


def wait_for(read: Any, done: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what}: {value}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, httpx.Client, Any]]:
    """The server, alice's client, and what the ADS script reported."""
    python = client_python(*ORACLE_ADS)
    work = tmp_path_factory.mktemp("ads")
    (home := work / "home").mkdir()
    with running_server(home) as server:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"}
        ) as admin:
            admin.post("/api/v1/users", json={"name": "alice"})
            token = admin.post("/api/v1/tokens", json={"user": "alice"}).json()["token"]
        config, key = oci_config(work, "alice")
        other, _ = oci_config(work, "mallory")
        added = subprocess.run(
            [MODELYARD, "--url", server.url, "--token", token, "keys", "add", work / "alice.pub"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.stdout.strip() == fingerprint(key), added.stderr
        run = subprocess.run(
            [str(python), str(SCRIPT), str(work), server.url, "ads", str(config), str(other)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        log = (server.home / "server.log").read_text(errors="replace")[-3000:]
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:] + log
        report = json.loads(run.stdout.strip().splitlines()[-1])
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as alice:
            yield server, alice, report


def test_save_and_from_model_catalog_round_trip_the_artifact(saved: Any) -> None:
    _, alice, report = saved
    assert report["loaded_predict"] == report["expected"]
    assert {"score.py", "runtime.yaml", "model.joblib", "input_schema.json"} <= set(
        report["loaded_files"]
    )
    version = alice.get("/api/v1/models/ads/ads-sklearn/versions/1").json()
    assert version["id"] == report["model_id"]
    assert version["metadata"]["oci"]["customMetadataList"][0]["value"] == "modelyard"
    files = {
        f["path"]
        for f in alice.get("/api/v1/models/ads/ads-sklearn/versions/1/files").json()["files"]
    }
    assert "model_artifact_manifest.json" in files  # ADS zips one in


def test_a_request_signed_with_another_key_is_refused(saved: Any) -> None:
    assert saved[2]["refused"] == {"status": 401, "code": "NotAuthenticated"}


def test_the_artifact_passes_the_checks_under_ads_keys_too(saved: Any) -> None:
    _, alice, _ = saved
    url = "/api/v1/models/ads/ads-sklearn/versions/1"
    checks = wait_for(
        lambda: alice.get(url).json()["checks"],
        lambda c: c is not None and c["state"] not in ("PENDING", "RUNNING"),
        "checks",
    )
    assert checks["state"] in ("PASSED", "WARNED"), checks
    results = {r["id"]: r for r in checks["results"]}
    assert {f"ads.{t.key}" for t in ADS_TESTS} <= set(results)
    for key in ("score_py", "score_load_model", "score_predict", "score_predict_data"):
        assert results[f"ads.{key}"]["status"] == "PASS", results[f"ads.{key}"]
    assert results["ads.runtime_version"]["status"] == "PASS"
    # offline, ADS leaves the conda pack's path empty: served here, refused by OCI
    assert results["ads.runtime_env_path"]["status"] == "WARN"
    assert "INFERENCE_ENV_PATH" in results["ads.runtime_env_path"]["message"]


def test_the_deployment_answers_the_bodies_ads_sends(saved: Any) -> None:
    _, alice, report = saved
    made = alice.post(
        "/api/v1/deployments", json={"namespace": "ads", "model": "ads-sklearn", "version": "1"}
    )
    assert made.status_code == 202, made.text
    deployment = made.json()["id"]
    wait_for(
        lambda: alice.get(f"/api/v1/deployments/{deployment}").json(),
        lambda d: d["state"] in ("ACTIVE", "FAILED"),
        "deployment",
    )
    try:
        for form, body in report["bodies"].items():
            answer = alice.post(f"/api/v1/deployments/{deployment}/predict", json={"data": body})
            assert answer.status_code == 200, (form, answer.text)
            assert answer.json()["predictions"] == {"prediction": report["expected"]}, form
    finally:
        alice.delete(f"/api/v1/deployments/{deployment}")
