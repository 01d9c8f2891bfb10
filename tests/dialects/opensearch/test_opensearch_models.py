"""ML Commons' models in-process: registering in chunks and from a URL, reading, searching and
deleting; every failure in OpenSearch's error shape, with nothing stored."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from opensearch_support import (
    ML,
    OsApi,
    assert_os_error,
    get_with_body,
    meta_body,
    model_config,
    model_zip,
    sha256,
)

from http_source import Source
from modelyard.dialects.opensearch import models as model_routes


def _model(osapi: OsApi, model_id: str) -> dict[str, Any]:
    response = osapi.admin.get(f"{ML}/models/{model_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _files(osapi: OsApi, group: str, number: str) -> dict[str, int]:
    listed = osapi.admin.get(f"/api/v1/models/opensearch/{group}/versions/{number}/files")
    assert listed.status_code == 200, listed.text
    return {f["path"]: f["size"] for f in listed.json()["files"]}


def test_chunked_register_stores_the_zips_members(osapi: OsApi) -> None:
    data = model_zip("all-MiniLM")
    model_id = osapi.upload(osapi.admin, data, name="minilm")
    doc = _model(osapi, model_id)
    assert doc["model_state"] == "REGISTERED"
    assert doc["name"] == "minilm"
    assert doc["algorithm"] == "TEXT_EMBEDDING"
    assert doc["model_version"] == "1"
    assert doc["model_format"] == "TORCH_SCRIPT"
    assert doc["model_content_hash_value"] == sha256(data)
    assert doc["model_content_size_in_bytes"] == len(data)
    assert doc["total_chunks"] == 1
    assert doc["model_config"] == model_config()
    assert isinstance(doc["created_time"], int)
    group = osapi.admin.get(f"{ML}/model_groups/{doc['model_group_id']}").json()
    assert group["name"] == "minilm"
    assert group["access"] == "private"  # none of the three access fields: private
    assert group["latest_version"] == 1
    assert set(_files(osapi, "minilm", "1")) == {"all-MiniLM/model.pt", "all-MiniLM/tokenizer.json"}
    version = osapi.admin.get("/api/v1/models/opensearch/minilm/versions/1").json()
    assert version["state"] == "READY"
    runtime = version["runtime"]
    assert runtime["flavor"] == "text_embedding"
    assert runtime["model_file"] == "all-MiniLM/model.pt"
    assert runtime["text_embedding"]["tokenizer_file"] == "all-MiniLM/tokenizer.json"
    assert runtime["text_embedding"]["embedding_dimension"] == 8
    assert osapi.sessions.staging_dir.exists() and not list(osapi.sessions.staging_dir.iterdir())


def test_several_chunks_and_a_chunk_sent_twice(
    osapi: OsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_routes, "CHUNK_SIZE", 1000)
    monkeypatch.setattr("opensearch_support.CHUNK", 1000)
    data = model_zip(extra={"LICENSE": os.urandom(5000)})
    group = osapi.group(osapi.admin, "grouped")
    body = meta_body(data, group=group)
    assert body["total_chunks"] == math.ceil(len(data) / 1000) > 3
    response = osapi.admin.post(f"{ML}/models/meta", json=body)
    model_id = response.json()["model_id"]
    chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    for n in reversed(range(1, len(chunks))):  # any order
        assert (
            osapi.admin.post(f"{ML}/models/{model_id}/chunk/{n}", content=chunks[n]).status_code
            == 200
        )
        assert _model(osapi, model_id)["model_state"] == "REGISTERING"
    again = osapi.admin.post(f"{ML}/models/{model_id}/chunk/1", content=chunks[1])
    assert again.json() == {"status": "Uploaded"}
    assert osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=chunks[0]).status_code == 200
    assert _model(osapi, model_id)["model_state"] == "REGISTERED"
    # a retry of a chunk after the last one (a dropped connection) changes nothing
    retry = osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=chunks[0])
    assert retry.json() == {"status": "Uploaded"}
    assert set(_files(osapi, "grouped", "1")) == {"model.pt", "tokenizer.json", "LICENSE"}


def test_hash_mismatch_after_the_last_chunk_fails_the_model(osapi: OsApi) -> None:
    data = model_zip()
    body = meta_body(data, model_content_hash_value="ab" * 32)
    model_id = osapi.admin.post(f"{ML}/models/meta", json=body).json()["model_id"]
    response = osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=data)
    assert_os_error(response, 400, "illegal_argument_exception", "model_content_hash_value")
    doc = _model(osapi, model_id)
    assert doc["model_state"] == "REGISTER_FAILED"
    assert "model_content_hash_value" in doc["error"]
    assert _files(osapi, "tiny-minilm", "1") == {}
    again = osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=data)
    assert_os_error(again, 400, "status_exception", "takes no chunks")


@pytest.mark.parametrize(
    ("number", "reason"),
    [("1", "expected 0 to 0"), ("-1", "chunk_number"), ("x", "chunk_number")],
)
def test_chunk_number_out_of_range(osapi: OsApi, number: str, reason: str) -> None:
    data = model_zip()
    model_id = osapi.admin.post(f"{ML}/models/meta", json=meta_body(data)).json()["model_id"]
    response = osapi.admin.post(f"{ML}/models/{model_id}/chunk/{number}", content=data)
    assert_os_error(response, 400, "illegal_argument_exception", reason)
    assert _model(osapi, model_id)["model_state"] == "REGISTERING"


def test_a_chunk_of_the_wrong_size_is_refused(osapi: OsApi) -> None:
    data = model_zip()
    model_id = osapi.admin.post(f"{ML}/models/meta", json=meta_body(data)).json()["model_id"]
    response = osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=data + b"x")
    assert_os_error(response, 400, "illegal_argument_exception", "body")
    too_big = osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=b"x" * 10_000_001)
    assert_os_error(too_big, 400, "illegal_argument_exception", "body")
    # past the 16 MiB cap on JSON bodies: refused by the dialect, in its shape, not by the cap
    huge = osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=b"x" * (17 << 20))
    assert_os_error(huge, 400, "illegal_argument_exception", "body")
    assert _model(osapi, model_id)["model_state"] == "REGISTERING"
    assert osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=data).status_code == 200
    assert _model(osapi, model_id)["model_state"] == "REGISTERED"


def _nothing_stored(osapi: OsApi) -> None:
    """No model in any namespace, no blob, no staged upload: seen by the service, not the
    dialect."""
    registry = osapi.api.registry
    assert registry.service.list_models(registry.admin).items == []
    assert registry.blob_files() == []
    assert list(osapi.sessions.staging_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "kind", "field"),
    [
        ({"model_format": "PYTORCH"}, "illegal_argument_exception", "model_format"),
        ({"model_format": None}, "illegal_argument_exception", "model_format"),
        ({"name": None}, "illegal_argument_exception", "name"),
        (
            {"model_content_hash_value": None},
            "illegal_argument_exception",
            "model_content_hash_value",
        ),
        (
            {"model_content_hash_value": "nope"},
            "illegal_argument_exception",
            "model_content_hash_value",
        ),
        ({"total_chunks": 7}, "illegal_argument_exception", "total_chunks"),
        ({"total_chunks": "many"}, "mapper_parsing_exception", "total_chunks"),
        ({"model_config": None}, "illegal_argument_exception", "model_config"),
        (
            {"model_config": {"model_type": "bert", "framework_type": "sentence_transformers"}},
            "illegal_argument_exception",
            "model_config.embedding_dimension",
        ),
        (
            {"model_config": {**model_config(), "framework_type": "keras"}},
            "illegal_argument_exception",
            "model_config.framework_type",
        ),
        (
            {"model_config": {**model_config(), "pooling_mode": "median"}},
            "illegal_argument_exception",
            "model_config.pooling_mode",
        ),
        ({"connector": {"protocol": "http"}}, "illegal_argument_exception", "connector"),
        ({"function_name": "KMEANS"}, "illegal_argument_exception", "function_name"),
        ({"access_mode": "secret"}, "illegal_argument_exception", "access_mode"),
        (
            {"access_mode": "public", "backend_roles": ["ml"]},
            "illegal_argument_exception",
            "backend_roles",
        ),
        ({"name": "no spaces allowed"}, "illegal_argument_exception", "name"),
        ({"model_group_id": "0" * 32}, "status_exception", "not found"),
    ],
)
def test_bad_meta_is_refused_and_stores_nothing(
    osapi: OsApi, change: dict[str, Any], kind: str, field: str
) -> None:
    body = meta_body(model_zip())
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    response = osapi.admin.post(f"{ML}/models/meta", json=body)
    status = 404 if kind == "status_exception" else 400
    assert_os_error(response, status, kind, field)
    _nothing_stored(osapi)


def test_a_body_that_is_not_json(osapi: OsApi) -> None:
    response = osapi.admin.post(
        f"{ML}/models/meta", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_os_error(response, 400, "parsing_exception")
    _nothing_stored(osapi)


def test_a_zip_without_a_model_file_fails_the_model(osapi: OsApi) -> None:
    data = model_zip(onnx=True)  # declared TORCH_SCRIPT: no .pt member
    model_id = osapi.admin.post(f"{ML}/models/meta", json=meta_body(data)).json()["model_id"]
    response = osapi.admin.post(f"{ML}/models/{model_id}/chunk/0", content=data)
    assert_os_error(response, 400, "illegal_argument_exception", "expected one .pt model file")
    assert _model(osapi, model_id)["model_state"] == "REGISTER_FAILED"
    assert _files(osapi, "tiny-minilm", "1") == {}


def _task(osapi: OsApi, task_id: str) -> dict[str, Any]:
    response = osapi.admin.get(f"{ML}/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _register_url(osapi: OsApi, url: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "from-url",
        "version": "1.0.1",
        "model_format": "ONNX",
        "model_config": model_config(),
        "url": url,
        **extra,
    }
    response = osapi.admin.post(f"{ML}/models/_register", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_register_from_a_url(osapi: OsApi, source: Source) -> None:
    data = model_zip(onnx=True)
    answer = _register_url(osapi, source.add("m.zip", data), model_content_hash_value=sha256(data))
    assert answer["status"] == "CREATED"
    task = _task(osapi, answer["task_id"])
    assert (task["state"], task["task_type"], task["function_name"]) == (
        "CREATED",
        "REGISTER_MODEL",
        "TEXT_EMBEDDING",
    )
    assert _model(osapi, task["model_id"])["model_state"] == "REGISTERING"
    assert osapi.run_tasks() == 1
    task = _task(osapi, answer["task_id"])
    assert task["state"] == "COMPLETED"
    assert task["last_update_time"] >= task["create_time"]
    doc = _model(osapi, task["model_id"])
    assert (doc["model_state"], doc["model_format"]) == ("REGISTERED", "ONNX")
    assert set(_files(osapi, "from-url", "1")) == {"model.onnx", "tokenizer.json"}
    query = {"query": {"term": {"task_type": "REGISTER_MODEL"}}}
    found = get_with_body(osapi.admin, f"{ML}/tasks/_search", query)
    assert [h["_id"] for h in found.json()["hits"]["hits"]] == [answer["task_id"]]
    deleted = osapi.admin.delete(f"{ML}/tasks/{answer['task_id']}")
    assert deleted.status_code == 200 and deleted.json()["result"] == "deleted", deleted.text
    assert_os_error(osapi.admin.get(f"{ML}/tasks/{answer['task_id']}"), 404, "status_exception")


def test_only_an_ended_task_is_deleted_by_its_models_owner(osapi: OsApi, source: Source) -> None:
    data = model_zip(onnx=True)
    group = osapi.group(osapi.admin, "shared-group", access_mode="public")
    answer = _register_url(osapi, source.add("m.zip", data), model_group_id=group)
    task_url = f"{ML}/tasks/{answer['task_id']}"
    assert_os_error(osapi.admin.delete(task_url), 400, "status_exception", "not ended")
    osapi.run_tasks()
    reader = osapi.client_for("reader")
    assert reader.get(task_url).status_code == 200
    assert_os_error(reader.delete(task_url), 403, "security_exception")
    assert osapi.admin.delete(task_url).status_code == 200
    assert_os_error(osapi.admin.delete(task_url), 404, "status_exception")


@pytest.mark.parametrize("case", ["missing", "hash", "not a zip"])
def test_a_url_that_fails_fails_the_task(osapi: OsApi, source: Source, case: str) -> None:
    data = model_zip(onnx=True)
    url = source.add("m.zip", data if case != "not a zip" else b"plain text")
    if case == "missing":
        url = f"{source.url}/nothing.zip"
    digest = sha256(b"other") if case == "hash" else None
    extra = {"model_content_hash_value": digest} if digest else {}
    answer = _register_url(osapi, url, **extra)
    osapi.run_tasks()
    task = _task(osapi, answer["task_id"])
    assert task["state"] == "FAILED"
    expected = {"missing": "404", "hash": "hash", "not a zip": "zip"}[case]
    assert expected in task["error"], task
    assert _model(osapi, task["model_id"])["model_state"] == "REGISTER_FAILED"
    assert _files(osapi, "from-url", "1") == {}


def test_register_needs_a_url_it_may_fetch(osapi: OsApi) -> None:
    body = {"name": "x", "model_format": "ONNX", "model_config": model_config()}
    assert_os_error(
        osapi.admin.post(f"{ML}/models/_register", json=body),
        400,
        "illegal_argument_exception",
        "url",
    )
    body["url"] = "http://10.0.0.1/model.zip"
    assert_os_error(
        osapi.admin.post(f"{ML}/models/_register", json=body),
        400,
        "illegal_argument_exception",
        "url",
    )
    _nothing_stored(osapi)


def test_get_search_and_delete_models(osapi: OsApi) -> None:
    group = osapi.group(osapi.admin, "searched", access_mode="public")
    first = osapi.upload(osapi.admin, model_zip(), group=group, name="one")
    second = osapi.upload(osapi.admin, model_zip("v2"), group=group, name="two")
    assert _model(osapi, second)["model_version"] == "2"
    query = {
        "query": {"bool": {"must": [{"term": {"model_group_id": group}}]}},
        "sort": [{"model_version": "desc"}],
    }
    found = get_with_body(osapi.admin, f"{ML}/models/_search", query)
    assert found.status_code == 200, found.text
    assert [h["_id"] for h in found.json()["hits"]["hits"]] == [second, first]
    assert osapi.admin.get(f"{ML}/model_groups/{group}").json()["latest_version"] == 2
    deleted = osapi.admin.delete(f"{ML}/models/{first}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["result"] == "deleted"
    assert_os_error(osapi.admin.get(f"{ML}/models/{first}"), 404, "status_exception")
    assert_os_error(osapi.admin.delete(f"{ML}/models/{first}"), 404, "status_exception")
    bad = osapi.admin.post(f"{ML}/models/_search", json={"query": {"wildcard": {"name": "x*"}}})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] in ("parsing_exception", "illegal_argument_exception")


def test_a_zip_over_4_gb_takes_chunks_past_4_gib(osapi: OsApi) -> None:
    """5 GB in 500 chunks: the staging file is sparse, so only the last chunk is written here;
    its offset (4,990,000,000) is past what 32 bits hold."""
    size = 5_000_000_000
    body = meta_body(b"", model_content_hash_value="ab" * 32)
    body.update(model_content_size_in_bytes=size, total_chunks=500)
    model_id = osapi.admin.post(f"{ML}/models/meta", json=body).json()["model_id"]
    last = osapi.admin.post(f"{ML}/models/{model_id}/chunk/499", content=b"\x01" * 10_000_000)
    assert last.json() == {"status": "Uploaded"}, last.text
    (session,) = [osapi.sessions.store.get(p.name) for p in osapi.sessions.staging_dir.iterdir()]
    assert session is not None
    assert (session.size, session.received) == (size, ((4_990_000_000, size),))
    beyond = osapi.admin.post(f"{ML}/models/{model_id}/chunk/500", content=b"\x01")
    assert_os_error(beyond, 400, "illegal_argument_exception", "expected 0 to 499")
    assert _model(osapi, model_id)["model_state"] == "REGISTERING"
