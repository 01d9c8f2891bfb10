"""The OpenSearch dialect against one running ``modelyard server``: real tiny TorchScript and
ONNX sentence-embedding models (built by ``embedding_models``) registered, deployed, asked for
embeddings equal to their own output, undeployed and deleted; over plain HTTP and through the
published ``opensearch-py-ml`` client, unchanged, in its own venv."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from opensearch_support import ML, assert_os_error, basic

from client_venv import OPENSEARCH, client_python
from embedding_models import TEXTS, EmbeddingFixture, build_embedding_model, zip_sha256
from http_source import serving_files
from server_support import Server, running_server

SCRIPT = Path(__file__).parent / "os_client_script.py"


def client(server: Server, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    )


def token_for(server: Server, name: str) -> str:
    with client(server, server.admin_token) as admin:
        admin.post("/api/v1/users", json={"name": name})
        made = admin.post("/api/v1/tokens", json={"user": name, "name": "os"})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])


def log_tail(server: Server) -> str:
    """The end of the server's log, for a failure's message."""
    return (server.home / "server.log").read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("os-server")
    with running_server(home, "--import-allowed-hosts", "127.0.0.1") as running:
        yield running


@pytest.fixture(scope="module")
def torch_model(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingFixture:
    return build_embedding_model(
        tmp_path_factory.mktemp("torch") / "model",
        model_format="TORCH_SCRIPT",
        framework_type="sentence_transformers",
    )


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingFixture:
    return build_embedding_model(
        tmp_path_factory.mktemp("onnx") / "model",
        model_format="ONNX",
        framework_type="sentence_transformers",
        seed=1,
    )


def _wait_state(client: httpx.Client, model_id: str, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        doc = client.get(f"{ML}/models/{model_id}").json()
        if doc["model_state"] == wanted:
            return dict(doc)
        assert doc["model_state"] not in ("DEPLOY_FAILED", "REGISTER_FAILED"), doc
        time.sleep(0.5)
    raise AssertionError(f"model {model_id} never became {wanted}")


def _vectors(answer: dict[str, Any], dim: int) -> np.ndarray:
    rows = []
    for result in answer["inference_results"]:
        (output,) = result["output"]
        assert (output["name"], output["data_type"], output["shape"]) == (
            "sentence_embedding",
            "FLOAT32",
            [dim],
        )
        rows.append(output["data"])
    return np.array(rows)


def test_deploy_predict_undeploy_delete_over_http(
    server: Server, torch_model: EmbeddingFixture
) -> None:
    alice_token = token_for(server, "alice")
    with client(server, alice_token) as alice, client(server, token_for(server, "bob")) as bob:
        _deploy_predict_undeploy_delete(server, torch_model, alice, alice_token, bob)


def _deploy_predict_undeploy_delete(
    server: Server,
    torch_model: EmbeddingFixture,
    alice: httpx.Client,
    alice_token: str,
    bob: httpx.Client,
) -> None:
    zipped = torch_model.write_zip()
    data = zipped.read_bytes()
    group = alice.post(
        f"{ML}/model_groups/_register", json={"name": "shared", "access_mode": "public"}
    ).json()["model_group_id"]
    meta = {
        "name": "tiny",
        "version": "1.0.0",
        "model_format": "TORCH_SCRIPT",
        "model_group_id": group,
        "model_config": torch_model.model_config(),
        "model_content_hash_value": zip_sha256(zipped),
        "model_content_size_in_bytes": len(data),
        "total_chunks": 1,
    }
    model_id = alice.post(f"{ML}/models/meta", json=meta).json()["model_id"]
    sent = alice.post(f"{ML}/models/{model_id}/chunk/0", content=data)
    assert sent.json() == {"status": "Uploaded"}, sent.text
    assert alice.get(f"{ML}/models/{model_id}").json()["model_state"] == "REGISTERED"
    not_yet = alice.post(f"{ML}/models/{model_id}/_predict", json={"text_docs": ["x"]})
    assert_os_error(not_yet, 400, "status_exception", "_deploy")
    # bob sees the public group's model, but only its owner deploys it
    assert_os_error(bob.post(f"{ML}/models/{model_id}/_deploy"), 403, "security_exception")
    deployed = alice.post(f"{ML}/models/{model_id}/_deploy")
    assert deployed.status_code == 200, deployed.text
    answer = deployed.json()
    assert (answer["task_type"], answer["status"]) == ("DEPLOY_MODEL", "CREATED")
    try:
        doc = _wait_state(alice, model_id, "DEPLOYED")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log_tail(server)}") from None
    assert doc["current_worker_node_count"] == 1
    # a search tells the deployed model by its state, as GET does (bob sees it too)
    for who in (alice, bob):
        found = who.post(
            f"{ML}/models/_search", json={"query": {"term": {"model_state": "DEPLOYED"}}}
        ).json()
        assert [h["_id"] for h in found["hits"]["hits"]] == [model_id], found
        assert found["hits"]["hits"][0]["_source"]["current_worker_node_count"] == 1
    task = alice.get(f"{ML}/tasks/{answer['task_id']}").json()
    assert (task["state"], task["model_id"]) == ("COMPLETED", model_id)
    again = alice.post(f"{ML}/models/{model_id}/_deploy").json()  # a retried deploy
    assert (again["task_id"], again["status"]) == (answer["task_id"], "COMPLETED")
    expected = torch_model.expected(list(TEXTS))
    for path in (
        f"{ML}/models/{model_id}/_predict",
        f"{ML}/models/{model_id}/_predict/",
        f"{ML}/_predict/text_embedding/{model_id}",
        f"{ML}/_predict/TEXT_EMBEDDING/{model_id}/",
    ):
        predicted = bob.post(path, json={"text_docs": list(TEXTS)})
        assert predicted.status_code == 200, (path, predicted.text)
        got = _vectors(predicted.json(), torch_model.dim)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    by_basic = httpx.post(
        f"{server.url}{ML}/models/{model_id}/_predict",
        json={"text_docs": ["the lazy dog"]},
        headers=basic("alice", alice_token),
        timeout=60,
    )
    assert by_basic.status_code == 200, by_basic.text
    wrong = alice.post(f"{ML}/_predict/kmeans/{model_id}", json={"text_docs": ["x"]})
    assert_os_error(wrong, 400, "illegal_argument_exception", "algorithm")
    empty = alice.post(f"{ML}/models/{model_id}/_predict", json={"text_docs": []})
    assert_os_error(empty, 400, "illegal_argument_exception", "text_docs")
    refused = alice.delete(f"{ML}/models/{model_id}")
    assert_os_error(refused, 400, "status_exception", "deployed")
    assert_os_error(bob.post(f"{ML}/models/{model_id}/_undeploy"), 403, "security_exception")
    undeployed = alice.post(f"{ML}/models/{model_id}/_undeploy")
    assert undeployed.json() == {"modelyard": {"stats": {model_id: "UNDEPLOYED"}}}
    assert alice.get(f"{ML}/models/{model_id}").json()["model_state"] == "UNDEPLOYED"
    assert alice.post(f"{ML}/models/{model_id}/_undeploy").json() == {}
    assert alice.delete(f"{ML}/models/{model_id}").status_code == 200
    assert_os_error(alice.get(f"{ML}/models/{model_id}"), 404, "status_exception")


def test_the_opensearch_py_ml_client(
    server: Server,
    torch_model: EmbeddingFixture,
    onnx_model: EmbeddingFixture,
    tmp_path: Path,
) -> None:
    python = client_python(*OPENSEARCH)
    token = token_for(server, "carol")
    torch_meta = tmp_path / "torch_meta.json"
    torch_meta.write_text(
        json.dumps(
            {
                "name": "tiny-torch",
                "version": "1.0.0",
                "model_format": "TORCH_SCRIPT",
                "model_config": torch_model.model_config(),
            }
        )
    )
    onnx_zip = onnx_model.write_zip()
    with serving_files(tmp_path / "source") as source:
        onnx_url = source.add("onnx.zip", onnx_zip.read_bytes())
        settings = {
            "url": server.url,
            "user": "carol",
            "token": token,
            "torch_zip": str(torch_model.write_zip()),
            "torch_meta": str(torch_meta),
            "texts": list(TEXTS),
            "onnx_register": {
                "name": "tiny-onnx",
                "version": "1.0.0",
                "model_format": "ONNX",
                "model_group_id": "",
                "model_content_hash_value": zip_sha256(onnx_zip),
                "model_config": onnx_model.model_config(),
                "url": onnx_url,
            },
        }
        (config := tmp_path / "settings.json").write_text(json.dumps(settings))
        run = subprocess.run(
            [str(python), str(SCRIPT), str(config)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stdout + run.stderr + log_tail(server)
    out = json.loads(run.stdout.strip().splitlines()[-1])
    group_id = out["group"]["model_group_id"]
    assert out["group"]["status"] == "CREATED"
    assert out["group_id_by_name"] == group_id
    torch_id = out["torch_id"]
    assert out["torch_model"]["model_state"] == "DEPLOYED"
    assert out["torch_model"]["model_group_id"] == group_id
    expected = torch_model.expected(list(TEXTS))
    for key in ("torch_embedding", "torch_predict"):
        got = _vectors(out[key], torch_model.dim)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert out["onnx_task"]["state"] == "COMPLETED"
    got = _vectors(out["onnx_embedding"], onnx_model.dim)
    np.testing.assert_allclose(got, onnx_model.expected(list(TEXTS)), rtol=1e-4, atol=1e-5)
    assert [h["_id"] for h in out["models_found"]["hits"]["hits"]] == [torch_id]
    onnx_id = out["onnx_task"]["model_id"]
    tasks = out["tasks_found"]["hits"]["hits"]
    assert {t["_source"]["task_type"] for t in tasks} == {"REGISTER_MODEL", "DEPLOY_MODEL"}
    assert {t["_source"]["model_id"] for t in tasks} == {onnx_id}
    # match analyses "tiny-embeddings" into two words: the ONNX model's own group (named
    # after it, made by its registration) matches one of them, and scores lower
    names = [h["_source"]["name"] for h in out["groups_found"]["hits"]["hits"]]
    assert names == ["tiny-embeddings", "tiny-onnx"]
    assert out["delete_deployed"] == {"status": 400, "type": "status_exception"}
    assert out["undeploy"][0] == {"modelyard": {"stats": {torch_id: "UNDEPLOYED"}}}
    assert out["after_undeploy"] == "UNDEPLOYED"
    assert [d["result"] for d in out["delete"]] == ["deleted", "deleted"]
    assert out["delete_group"]["result"] == "deleted"
    assert out["delete_task"]["result"] == "deleted"
    assert out["gone"]["status"] == 404
