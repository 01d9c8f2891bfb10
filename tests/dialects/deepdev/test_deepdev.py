"""DeepDev's API against a running server: a registration whose ``model_files`` are URLs on
127.0.0.1, the model card, visibility, deployment by the owner only, a prediction through the
status link, and bad input answered in DeepDev's error shape with nothing stored."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from http_source import Source, serving_files
from modelyard.client import Client
from server_support import Server, running_server

NAME = "codeclf"

SCORE = """\
import json
import os

import joblib

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.path.dirname(__file__), "model.joblib"))


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"labels": model.predict(rows).tolist(), "scores": model.predict_proba(rows).tolist()}
"""

INDEX = "# codeclf\n\nTells code from prose by four hand-made features.\n"

X = np.random.default_rng(7).normal(size=(80, 4))
Y = (X[:, 0] + X[:, 2] > 0).astype(int)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    root = tmp_path_factory.mktemp("deepdev-source")
    joblib.dump(LogisticRegression().fit(X, Y), root / "model.joblib")
    (root / "score.py").write_text(SCORE)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (root / "conda.yaml").write_text(
        f"name: codeclf\ndependencies:\n  - python={version}\n  - pip:\n"
        "    - scikit-learn\n    - joblib\n"
    )
    (root / "index.md").write_text(INDEX)
    with serving_files(root) as served:
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("deepdev-home")
    with (
        running_server(home, "--import-allowed-hosts", "127.0.0.1") as server,
        Client(server.url, server.admin_token) as admin,
    ):
        tokens = {"admin": server.admin_token}
        for name in ("alice", "bob"):
            admin.create_user(name)
            tokens[name] = admin.create_token(user=name)
        yield {"server": server, "tokens": tokens}


def http(server: dict[str, Any], user: str | None) -> httpx.Client:
    s: Server = server["server"]
    headers = {"Authorization": f"Bearer {server['tokens'][user]}"} if user else {}
    return httpx.Client(base_url=s.url, headers=headers, timeout=30)


def registration(
    source: Source, name: str = NAME, version: str = "1.0", **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_config": {
            "name": name,
            "version": version,
            "owner": "alice",
            "private": True,
            "inference_script": "score.py",
            "conda_file": "conda.yaml",
        },
        "model_files": {
            name: f"{source.url}/{name}"
            for name in ("score.py", "conda.yaml", "model.joblib", "index.md")
        },
        "model_metainfo": {
            "type": "ENCODER",
            "description": "Code or prose?",
            "index_page_file": "index.md",
            "input_types": ["SOURCE_CODE"],
            "input_languages": ["python", "java"],
            "input_description": "four features of a snippet",
            "output_types": ["CLASS_LABEL"],
            "output_description": "1 for code, 0 for prose",
            "num_params": 5,
        },
    }
    for path, value in changes.items():
        section, _, field = path.partition("__")
        if field:
            if value is None:
                body[section].pop(field)
            else:
                body[section][field] = value
        elif value is None:
            body.pop(section)
        else:
            body[section] = value
    return body


def wait_for(client: httpx.Client, url: str, field: str, done: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        if answer.json()[field] in done:
            return answer.json()
        time.sleep(0.2)
    raise AssertionError(f"{url} never reached {done}: {answer.json()}")


def test_register_deploy_and_predict_through_the_status_link(
    server: dict[str, Any], source: Source
) -> None:
    with http(server, "alice") as alice, http(server, "bob") as bob:
        answer = alice.put(f"/api/v1.0/model/{NAME}/1.0", json=registration(source))
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        assert accepted["status_url"] == answer.headers["Location"] == f"/api/v1.0/model/{NAME}/1.0"
        model = wait_for(alice, accepted["status_url"], "status", {"REGISTERED", "FAILED"})
        assert model["status"] == "REGISTERED", model

        # the files are modelyard's copies, byte for byte
        assert set(model["model_files"]) == {"score.py", "conda.yaml", "model.joblib", "index.md"}
        copied = alice.get(model["model_files"]["model.joblib"]["url"])
        assert copied.content == (source.root / "model.joblib").read_bytes()
        assert model["model_config"]["private"] is True
        assert model["model_config"]["owner"] == "alice"
        assert model["model_metainfo"]["input_languages"] == ["python", "java"]
        native = alice.get(f"/api/v1/models/deepdev/{NAME}").json()
        assert native["model_card"] == INDEX
        version = alice.get(f"/api/v1/models/deepdev/{NAME}/versions/1.0").json()
        assert version["meta_info"]["num_params"] == 5
        assert version["runtime"]["entry_point"] == "score.py"

        # private: unlisted and invisible to bob, who cannot deploy it either
        assert bob.get(accepted["status_url"]).status_code == 404
        assert NAME not in [m["name"] for m in bob.get("/api/v1.0/models").json()["models"]]
        refused = bob.put(f"/api/v1.0/deployment/{NAME}/1.0")
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "MODEL_NOT_FOUND"
        mine = registration(source, version="9.0", model_config__owner=None)
        taken = bob.put(f"/api/v1.0/model/{NAME}/9.0", json=mine)
        assert taken.status_code == 404  # the name is alice's: nothing says so to bob

        deployed = alice.put(f"/api/v1.0/deployment/{NAME}/1.0", json={"replicas": 1})
        assert deployed.status_code == 202, deployed.text
        status_url = deployed.json()["status_url"]
        status = wait_for(alice, status_url, "status", {"ACTIVE", "FAILED"})
        assert status["status"] == "ACTIVE", status
        assert status["scoring_url"] == status_url

        rows = X[:5].tolist()
        predicted = alice.post(status["scoring_url"], json={"data": rows})
        assert predicted.status_code == 200, predicted.text
        expected = LogisticRegression().fit(X, Y)
        assert predicted.json()["labels"] == expected.predict(np.array(rows)).tolist()
        assert bob.post(status_url, json={"data": rows}).status_code == 404
        again = alice.put(f"/api/v1.0/deployment/{NAME}/1.0")
        assert again.status_code == 200 and again.json()["status"] == "ACTIVE"

        # public: bob sees and lists it, and still may not deploy or undeploy it
        assert alice.patch(accepted["status_url"], json={"private": False}).status_code == 200
        assert bob.get(accepted["status_url"]).json()["model_config"]["private"] is False
        assert NAME in [m["name"] for m in bob.get("/api/v1.0/models").json()["models"]]
        assert bob.post(status_url, json={"data": rows}).status_code == 200
        assert bob.delete(status_url).status_code == 403
        assert bob.put(status_url, json={"replicas": 2}).status_code == 403  # deployed or not
        second = registration(source, version="2.0", model_config__private=None)
        assert alice.put(f"/api/v1.0/model/{NAME}/2.0", json=second).status_code == 202
        assert bob.get(f"/api/v1.0/model/{NAME}/2.0").json()["model_config"]["private"] is False
        assert bob.patch(accepted["status_url"], json={"private": True}).status_code == 403
        # a refused registration changes nothing, the model's visibility included
        again_private = registration(source, version="2.0", model_config__private=True)
        assert alice.put(f"/api/v1.0/model/{NAME}/2.0", json=again_private).status_code == 409
        assert bob.get(accepted["status_url"]).status_code == 200

        # two versions deployed side by side, each behind its own status link
        wait_for(alice, f"/api/v1.0/model/{NAME}/2.0", "status", {"REGISTERED"})
        assert alice.put(f"/api/v1.0/deployment/{NAME}/2.0").status_code == 202
        url_2 = f"/api/v1.0/deployment/{NAME}/2.0"
        assert wait_for(alice, url_2, "status", {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
        assert alice.post(url_2, json={"data": rows}).json() == predicted.json()
        assert alice.delete(url_2).status_code == 200

        stopped = alice.delete(status_url)
        assert stopped.status_code == 200, stopped.text
        assert alice.get(status_url).status_code == 404


def _error(answer: httpx.Response, target: str) -> str:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["target"] == target, error
    return str(error["message"])


@pytest.mark.parametrize(
    ("changes", "target", "says"),
    [
        ({"model_metainfo": None}, "model_metainfo", "field required"),
        ({"model_metainfo__type": "TRANSFORMER"}, "model_metainfo.type", "ENCODER"),
        ({"model_metainfo__input_types": ["CODE"]}, "model_metainfo.input_types.0", "SOURCE_CODE"),
        ({"model_metainfo__num_params": -1}, "model_metainfo.num_params", "greater than"),
        ({"model_config__inference_script": "main.py"}, "model_config.inference_script", "key"),
        ({"model_metainfo__index_page_file": "README.md"}, "model_metainfo.index_page_file", "key"),
        ({"model_config__conda_file": None}, "model_config.conda_file", "docker_base_image"),
        ({"model_config__name": "other"}, "model_config.name", "path"),
        ({"model_config__weights": "x"}, "model_config.weights", "unknown field"),
        ({"model_files": {}}, "model_files", "at least 1"),
    ],
)
def test_bad_registrations_name_the_field_and_store_nothing(
    server: dict[str, Any], source: Source, changes: dict[str, Any], target: str, says: str
) -> None:
    with http(server, "alice") as alice:
        answer = alice.put(
            "/api/v1.0/model/badmodel/1.0", json=registration(source, "badmodel", **changes)
        )
        assert says in _error(answer, target)
        assert alice.get("/api/v1/models/deepdev/badmodel").status_code == 404


def test_a_refused_url_names_its_file_and_stores_nothing(server: dict[str, Any], source: Source):
    body = registration(source, "ftpmodel")
    body["model_files"]["model.joblib"] = "ftp://example.com/model.joblib"
    with http(server, "alice") as alice:
        answer = alice.put("/api/v1.0/model/ftpmodel/1.0", json=body)
        assert "ftp" in _error(answer, "model_files.model.joblib")
        assert alice.get("/api/v1/models/deepdev/ftpmodel").status_code == 404


def test_languages_only_for_code_and_natural_language(server: dict[str, Any], source: Source):
    body = registration(source, "langs", model_metainfo__output_languages=["en"])
    with http(server, "alice") as alice:
        answer = alice.put("/api/v1.0/model/langs/1.0", json=body)
        message = _error(answer, "model_metainfo.output_languages")
        assert "SOURCE_CODE and NATURAL_LANGUAGE" in message
        assert alice.get("/api/v1/models/deepdev/langs").status_code == 404


def test_a_url_that_404s_fails_the_registration_and_it_can_be_sent_again(
    server: dict[str, Any], source: Source
) -> None:
    body = registration(source, "broken")
    body["model_files"]["model.joblib"] = f"{source.url}/missing.joblib"
    with http(server, "alice") as alice:
        accepted = alice.put("/api/v1.0/model/broken/1.0", json=body)
        assert accepted.status_code == 202, accepted.text
        failed = wait_for(alice, accepted.json()["status_url"], "status", {"FAILED", "REGISTERED"})
        assert failed["status"] == "FAILED"
        assert "model.joblib" in failed["error"] and "404" in failed["error"]
        assert "model.joblib" not in failed["model_files"]
        refused = alice.put("/api/v1.0/deployment/broken/1.0")
        assert refused.status_code == 409 and "FAILED" in refused.json()["error"]["message"]
        again = alice.put("/api/v1.0/model/broken/1.0", json=registration(source, "broken"))
        assert again.status_code == 202, again.text
        fixed = wait_for(alice, again.json()["status_url"], "status", {"FAILED", "REGISTERED"})
        assert fixed["status"] == "REGISTERED"
        assert len(fixed["model_files"]) == 4
        taken = alice.put("/api/v1.0/model/broken/1.0", json=registration(source, "broken"))
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "ALREADY_EXISTS"


def test_every_route_refuses_a_request_without_a_token(server: dict[str, Any]) -> None:
    with http(server, None) as anonymous:
        schema = anonymous.get("/api/v1.0/openapi.json").json()
        calls = [
            (method, path.replace("{model_name}", NAME).replace("{model_version}", "1.0"))
            for path, item in schema["paths"].items()
            for method in item
        ]
        assert len(calls) == 8
        for method, path in calls:
            answer = anonymous.request(method.upper(), "/api/v1.0" + path, json={})
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "UNAUTHENTICATED"
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_dialect_documents_itself(server: dict[str, Any]) -> None:
    with http(server, None) as anonymous:
        assert anonymous.get("/api/v1.0/docs").status_code == 200
        main = anonymous.get("/openapi.json").json()["info"]["description"]
        assert "/api/v1.0/docs" in main and "/_plugins/_ml/docs" in main
        assert anonymous.get("/_plugins/_ml/docs").status_code == 200
        schema = anonymous.get("/api/v1.0/openapi.json").json()
        body = schema["components"]["schemas"]["Registration"]
        assert set(body["required"]) == {"model_config", "model_files", "model_metainfo"}
        types = schema["components"]["schemas"]["ModelType"]["enum"]
        assert types == ["ENCODER", "DECODER", "SEQ2SEQ"]


def test_a_body_too_large_is_refused_in_each_dialects_shape(server: dict[str, Any]) -> None:
    big = b'{"x": "' + b"a" * (17 * 1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/json"}
    with http(server, "alice") as alice:
        deepdev = alice.put("/api/v1.0/model/big/1.0", content=big, headers=headers)
        assert deepdev.status_code == 413
        assert "larger than" in deepdev.json()["error"]["message"]
        opensearch = alice.post("/_plugins/_ml/model_groups/_search", content=big, headers=headers)
        assert opensearch.status_code == 413
        assert opensearch.json()["error"]["type"] == "status_exception"
        native = alice.post("/api/v1/models", content=big, headers=headers)
        assert native.status_code == 413 and native.json()["status"] == 413
