"""GET /api/v1/templates: the template bundle as a zip; /templates/catalog: what is offered."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from modelyard.errors import ErrorCode
from modelyard.runtime.templates import generate

URL = "/api/v1/templates"


def test_template_zip_holds_the_generated_files(api: Any) -> None:
    r = api.admin.get(
        URL, params={"task": "classification", "framework": "pytorch", "architecture": "cnn"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert 'filename="classification-pytorch-cnn.zip"' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert members == generate("classification", "pytorch", "cnn")
    assert "model.py" in members and "class CNN(nn.Module)" in members["model.py"].decode()


def test_default_architecture_when_none_is_asked(api: Any) -> None:
    r = api.admin.get(URL, params={"task": "text-embedding", "framework": "sklearn"})
    assert r.status_code == 200, r.text
    assert 'filename="text-embedding-sklearn-default.zip"' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert "model.py" not in archive.namelist()
        assert b"model.skops" in archive.read("README.md")


def test_any_user_may_download_templates(api: Any) -> None:
    r = api.client_for("alice").get(URL, params={"task": "regression", "framework": "python"})
    assert r.status_code == 200, r.text


def test_templates_need_a_token(api: Any, assert_problem: Any) -> None:
    r = api.anon.get(URL, params={"task": "regression", "framework": "python"})
    assert_problem(r, 401, ErrorCode.UNAUTHENTICATED)
    assert_problem(api.anon.get(URL + "/catalog"), 401, ErrorCode.UNAUTHENTICATED)


@pytest.mark.parametrize(
    ("params", "field", "listed"),
    [
        ({"task": "clustering", "framework": "onnx"}, "task", "classification, object-detection"),
        ({"task": "regression", "framework": "tensorflow"}, "framework", "sklearn, onnx"),
        (
            {"task": "object-detection", "framework": "python"},
            "framework",
            "onnx, pytorch, keras",
        ),
        (
            {"task": "segmentation", "framework": "pytorch", "architecture": "resnet"},
            "architecture",
            "default, unet",
        ),
    ],
)
def test_what_is_not_offered_is_a_422_naming_the_parameter(
    api: Any, assert_problem: Any, params: dict[str, str], field: str, listed: str
) -> None:
    body = assert_problem(
        api.admin.get(URL, params=params), 422, ErrorCode.INVALID_ARGUMENT, field=field
    )
    assert listed in body["detail"], body


def test_missing_parameters_are_named(api: Any, assert_problem: Any) -> None:
    body = assert_problem(
        api.admin.get(URL, params={"task": "regression"}),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="framework",
    )
    assert body["errors"]


def test_catalog_offers_cascading_choices(api: Any) -> None:
    r = api.admin.get(URL + "/catalog")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tasks"] == [
        "classification",
        "object-detection",
        "segmentation",
        "regression",
        "text-embedding",
    ]
    assert body["frameworks"] == ["sklearn", "onnx", "pytorch", "keras", "python"]
    by_pair = {(t["task"], t["framework"]): t["architectures"] for t in body["templates"]}
    assert len(by_pair) == 23
    assert [a["name"] for a in by_pair[("text-embedding", "pytorch")]] == [
        "default",
        "embedding-bag",
        "transformer",
    ]
    grid = by_pair[("object-detection", "pytorch")][1]
    assert grid["flavor"] == "pytorch" and grid["model_class"] == "model.py:GridDetector"
    assert by_pair[("segmentation", "keras")][0]["input"] == "images-hwc"
    # every architecture listed downloads
    for (task, framework), architectures in by_pair.items():
        for arch in architectures:
            params = {"task": task, "framework": framework, "architecture": arch["name"]}
            assert api.admin.get(URL, params=params).status_code == 200, params


def test_gesund_style_is_gesunds_layout_for_its_model_types(api: Any) -> None:
    params = {"task": "object-detection", "framework": "onnx", "style": "gesund"}
    r = api.admin.get(URL, params=params)
    assert r.status_code == 200, r.text
    assert 'filename="object-detection-onnx-default-gesund.zip"' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert members == generate("object-detection", "onnx", style="gesund")
    assert set(members) == {
        "__init__.py",
        "model.py",
        "preprocess.py",
        "postprocess.py",
        "loss.py",
        "schema.py",
        "reqs.txt",
        "input_example.json",
        "modelyard.yaml",
        "README.md",
    }
    assert "class GesundModel:" in members["model.py"].decode()
    assert "class Response(BaseModel):" in members["schema.py"].decode()
    assert "pydantic>=2,<3" in members["reqs.txt"].decode().splitlines()

    styles = {
        (t["task"], t["framework"]): t["styles"]
        for t in api.admin.get(URL + "/catalog").json()["templates"]
    }
    gesund = sorted(pair for pair, offered in styles.items() if "gesund" in offered)
    assert gesund == sorted(
        (task, framework)
        for task in ("classification", "object-detection", "segmentation")
        for framework in ("onnx", "pytorch", "keras")
    )


@pytest.mark.parametrize(
    ("params", "field", "listed"),
    [
        ({"task": "regression", "framework": "onnx"}, "task", "classification, object-detection"),
        ({"task": "classification", "framework": "sklearn"}, "framework", "onnx, pytorch, keras"),
        (
            {"task": "segmentation", "framework": "pytorch", "architecture": "unet"},
            "architecture",
            "default only",
        ),
        (
            {"task": "segmentation", "framework": "onnx", "style": "bento"},
            "style",
            "modelyard, gesund",
        ),
    ],
)
def test_gesund_style_not_offered_is_a_422_naming_the_parameter(
    api: Any, assert_problem: Any, params: dict[str, str], field: str, listed: str
) -> None:
    params = {"style": "gesund", **params}
    body = assert_problem(
        api.admin.get(URL, params=params), 422, ErrorCode.INVALID_ARGUMENT, field=field
    )
    assert listed in body["detail"], body
