"""Gesund bundles end to end: for each of Gesund's model types, the Gesund template with a tiny
ONNX model built here is zipped, uploaded with its artifact props, checked, deployed and asked;
the answer validates against schema.py (registered as the version's output schema) and equals
what the bundle's own preprocess -> GesundModel -> postprocess make of the example. A bundle
whose class is not GesundModel, or whose schema does not match its answer, fails its checks
saying so (and a forced deployment of the latter answers 500 naming the field); props that do
not fit the zip are refused naming the prop."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from serving_support import ServerProcess

from modelyard import Client, InvalidArgument, ModelError
from modelyard.cli.main import main
from modelyard.domain.gesund import ArtifactProps
from modelyard.domain.runtime import CheckState, CheckStatus, Flavor
from modelyard.runtime.bundle import bundle_code
from modelyard.runtime.templates import generate
from modelyard.runtime.templates.contracts import CHANNELS, FEATURES

CLASSES = 3
PROPS = {
    "classification": ArtifactProps.parse(model_type="Classification", framework="ONNX"),
    "object-detection": ArtifactProps.parse(model_type="Object Detection", framework="ONNX"),
    "segmentation": ArtifactProps.parse(model_type="Image Segmentation", framework="ONNX"),
}


def _onnx(path: Path, nodes: list[Any], outputs: list[Any], inits: dict[str, np.ndarray]) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = ["N", FEATURES] if "Gemm" in {n.op_type for n in nodes} else ["N", CHANNELS, "H", "W"]
    graph = helper.make_graph(
        nodes,
        "gesund-test",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(*output) for output in outputs],
        initializer=[numpy_helper.from_array(value, name) for name, value in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _model(task: str, path: Path) -> None:
    """A tiny ONNX model for the task: a linear classifier, fixed candidate boxes per image
    (two overlap: one is dropped; one scores under the threshold), a 1x1 convolution."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(3)
    if task == "classification":
        w = rng.normal(size=(FEATURES, CLASSES)).astype(np.float32)
        nodes = [helper.make_node("Gemm", ["input", "w", "b"], ["logits"])]
        outputs = [("logits", TensorProto.FLOAT, ["N", CLASSES])]
        _onnx(path, nodes, outputs, {"w": w, "b": np.arange(CLASSES, dtype=np.float32)})
    elif task == "segmentation":
        w = rng.normal(size=(2, CHANNELS, 1, 1)).astype(np.float32)
        nodes = [helper.make_node("Conv", ["input", "w"], ["scores"])]
        _onnx(path, nodes, [("scores", TensorProto.FLOAT, ["N", 2, "H", "W"])], {"w": w})
    else:
        nodes = [
            helper.make_node("Shape", ["input"], ["shape"]),
            helper.make_node("Slice", ["shape", "zero", "one"], ["n"]),
            helper.make_node("Concat", ["n", "d4"], ["boxes_shape"], axis=0),
            helper.make_node("Concat", ["n", "d"], ["scores_shape"], axis=0),
            helper.make_node("Expand", ["cboxes", "boxes_shape"], ["boxes"]),
            helper.make_node("Expand", ["cscores", "scores_shape"], ["scores"]),
            helper.make_node("Expand", ["clabels", "scores_shape"], ["labels"]),
        ]
        inits = {
            "zero": np.array([0], np.int64),
            "one": np.array([1], np.int64),
            "d4": np.array([3, 4], np.int64),
            "d": np.array([3], np.int64),
            "cboxes": np.array([[[2, 2, 10, 10], [3, 3, 10, 10], [0, 0, 4, 4]]], np.float32),
            "cscores": np.array([[0.9, 0.8, 0.3]], np.float32),
            "clabels": np.array([[1, 1, 0]], np.int64),
        }
        outputs = [
            ("boxes", TensorProto.FLOAT, ["N", 3, 4]),
            ("scores", TensorProto.FLOAT, ["N", 3]),
            ("labels", TensorProto.INT64, ["N", 3]),
        ]
        _onnx(path, nodes, outputs, inits)


def _bundle(tmp_path: Path, task: str, **replace: str) -> Path:
    """The Gesund template for ``task`` with its model in it (``replace``: files to swap),
    as a directory and as model_artifacts.zip; returns the zip."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    files = {path: data.decode() for path, data in generate(task, "onnx", style="gesund").items()}
    assert {"__init__.py", "model.py", "loss.py", "preprocess.py", "postprocess.py"} <= set(files)
    assert {"reqs.txt", "schema.py"} <= set(files)
    files.update(replace)
    for path, text in files.items():
        (bundle / path).write_text(text)
    _model(task, bundle / "model.onnx")
    archive = tmp_path / "model_artifacts.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(bundle.iterdir()):
            zf.write(path, path.name)
    return archive


def _own_answer(bundle: Path, example: Any) -> tuple[Any, type]:
    """What the bundle's own code answers, and its schema.py Response."""
    with bundle_code(bundle) as code:
        model = code.import_file("model.py").GesundModel(str(bundle / "model.onnx"))
        model.load()
        inputs = code.import_file("preprocess.py").preprocess(example)
        answer = code.import_file("postprocess.py").postprocess(model.predict(inputs))
        return answer, code.import_file("schema.py").Response


def _upload(client: Client, name: str, archive: Path, props: ArtifactProps) -> Any:
    version = client.new_model(name).new_model_version("1")
    version.upload_bundle(archive, props=props)
    return version.finish()


@pytest.mark.parametrize("task", list(PROPS))
def test_gesund_template_registers_deploys_and_predicts(
    client: Client, tmp_path: Path, task: str
) -> None:
    archive = _bundle(tmp_path, task)
    version = _upload(client, f"gesund-{task}", archive, PROPS[task])

    report = version.wait_for_checks(timeout=180)
    assert report.state == CheckState.PASSED, [(r.id, r.message) for r in report.results]
    version.refresh()
    assert (version.info.task, version.info.framework) == (task, "onnx")
    assert version.info.runtime is not None
    assert version.info.runtime.flavor == Flavor.GESUND
    assert version.info.runtime.model_file == "model.onnx"
    example = json.loads((tmp_path / "bundle" / "input_example.json").read_text())
    expected, response = _own_answer(tmp_path / "bundle", example)
    # schema.py's Response, registered as the version's output schema by the checks
    assert version.output_schema == response.model_json_schema()

    deployment = version.deploy(timeout=180)
    try:
        answer = deployment.predict(example)
    finally:
        deployment.undeploy()

    jsonschema.validate(answer, version.output_schema)
    response.model_validate(answer)
    assert answer == response.model_validate(expected).model_dump(mode="json")
    if task == "object-detection":  # the overlapping and the low-scoring box are dropped
        assert [d["box"] for d in answer["detections"][0]] == [[2, 2, 10, 10]]


def test_a_class_not_named_gesund_model_fails_the_checks(client: Client, tmp_path: Path) -> None:
    model_py = generate("classification", "onnx", style="gesund")["model.py"].decode()
    archive = _bundle(
        tmp_path,
        "classification",
        **{"model.py": model_py.replace("class GesundModel", "class MyModel")},
    )
    version = _upload(client, "gesund-misnamed", archive, PROPS["classification"])

    report = version.wait_for_checks(timeout=180)

    assert report.state == CheckState.FAILED
    failed = {r.id: r for r in report.results if r.status == CheckStatus.FAIL}
    assert set(failed) == {"entry_point.signatures"}, failed
    assert failed["entry_point.signatures"].message.startswith(
        "model.py defines no class GesundModel: a Gesund bundle's model.py must define class "
        "GesundModel"
    )


def test_a_schema_that_does_not_match_the_answer_fails_checks_and_serving(
    client: Client, tmp_path: Path
) -> None:
    schema = generate("classification", "onnx", style="gesund")["schema.py"].decode()
    mismatched = schema.replace(
        "labels: list[str | int]", "labels: list[str | int]\n    model_name: str"
    )
    archive = _bundle(tmp_path, "classification", **{"schema.py": mismatched})
    version = _upload(client, "gesund-mismatch", archive, PROPS["classification"])

    report = version.wait_for_checks(timeout=180)

    assert report.state == CheckState.FAILED
    failed = {r.id: r.message for r in report.results if r.status == CheckStatus.FAIL}
    assert set(failed) == {"predict.example"}, failed
    assert failed["predict.example"].startswith(
        "predicting on input_example.json failed: the answer does not match schema.py's "
        "Response (1 error(s)); first at model_name: Field required"
    )

    deployment = version.deploy(timeout=180, force=True)
    try:
        example = json.loads((tmp_path / "bundle" / "input_example.json").read_text())
        with pytest.raises(ModelError, match=r"schema\.py's Response .* at model_name") as err:
            deployment.predict(example)
    finally:
        deployment.undeploy()
    assert err.value.status == 500


@pytest.mark.parametrize(
    ("props", "field", "message"),
    [
        (
            {"model_type": "regression", "framework": "onnx"},
            "model_type",
            "model_type: expected one of classification, object-detection, segmentation",
        ),
        ({"model_type": "classification", "framework": None}, "framework", "framework: Gesund"),
        (
            {"model_type": "classification", "framework": "pytorch"},
            "include_model_files",
            "include_model_files: on, yet the zip holds no pytorch model file",
        ),
        (
            {"model_type": "classification", "framework": "onnx", "include_model_files": False},
            "include_model_files",
            "include_model_files: off, yet the zip holds model.onnx",
        ),
    ],
)
def test_props_that_do_not_fit_are_refused_naming_the_prop(
    client: Client,
    served: ServerProcess,
    tmp_path: Path,
    props: dict[str, Any],
    field: str,
    message: str,
) -> None:
    """Through the native API (problem+json naming the field); nothing is stored."""
    archive = _bundle(tmp_path, "classification")
    model = client.new_model(f"gesund-props-{field}-{len(message)}")
    model.new_model_version("1")
    params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in props.items()}
    with served.http() as http:
        response = http.put(
            f"/api/v1/models/default/{model.name}/versions/1/bundle",
            params={k: v for k, v in params.items() if v is not None},
            content=archive.read_bytes(),
        )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "INVALID_ARGUMENT" and problem["detail"].startswith(message)
    assert problem["errors"][0]["field"] == field
    assert model.get_version("1").artifacts() == []
    if field in ("model_type", "framework"):  # the SDK and the CLI check these before sending
        with pytest.raises(InvalidArgument) as refused:
            ArtifactProps.parse(**props)
        assert refused.value.field == field


def test_cli_pushes_a_gesund_zip_with_its_props(
    client: Client, served: ServerProcess, tmp_path: Path
) -> None:
    archive = _bundle(tmp_path, "segmentation")
    auth = ["--url", served.url, "--token", served.token]
    push = [*auth, "bundle", "push", "default/gesund-cli", str(archive), "--version", "1"]
    runner = CliRunner()
    client.new_model("gesund-cli")

    refused = runner.invoke(main, [*push, "--model-type", "segmentation", "--framework", "tf"])
    assert refused.exit_code == 2
    assert "--framework" in refused.output and "tensorflow, keras, onnx, pytorch" in refused.output

    props = ["--model-type", "Image Segmentation", "--framework", "onnx", "--finish"]
    pushed = runner.invoke(main, [*push, *props], catch_exceptions=False)
    assert pushed.exit_code == 0, pushed.output
    version = client.get_model("gesund-cli").get_version("1")
    assert (version.info.task, version.info.framework) == ("segmentation", "onnx")
    assert version.info.runtime is not None and version.info.runtime.flavor == Flavor.GESUND
    assert version.wait_for_checks(timeout=180).state == CheckState.PASSED
