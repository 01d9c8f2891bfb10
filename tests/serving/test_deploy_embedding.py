"""A text-embedding model (OpenSearch ML Commons' TorchScript or ONNX zip contents) goes
register -> checks -> deploy -> predict against a running server; the embeddings equal the
model's own, alone and when concurrent requests are batched into one model call."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from serving_support import ServerProcess

from embedding_models import TEXTS, build_embedding_model
from modelyard import Client
from modelyard.domain.deployments import DeploymentState
from modelyard.domain.runtime import CheckState
from modelyard.errors import FailedPrecondition


@pytest.mark.parametrize(
    ("model_format", "framework_type"),
    [("TORCH_SCRIPT", "sentence_transformers"), ("ONNX", "huggingface_transformers")],
)
def test_register_deploy_predict_embeddings(
    client: Client, served: ServerProcess, tmp_path: Path, model_format: str, framework_type: str
) -> None:
    fixture = build_embedding_model(
        tmp_path / "model", model_format=model_format, framework_type=framework_type
    )
    name = f"embed-{model_format.lower()}"
    version = (
        client.new_model(name)
        .new_model_version(
            "1",
            artifacts=fixture.files,
            runtime=fixture.runtime(pooling_mode="cls", normalize_result=True),
        )
        .finish()
    )
    report = version.wait_for_checks(timeout=180)
    assert report.state == CheckState.PASSED, report.failures()
    expected = fixture.expected(TEXTS, pooling_mode="cls", normalize_result=True)

    deployment = version.deploy(max_batch_size=8, max_wait_ms=50, timeout=180)

    assert deployment.state == DeploymentState.ACTIVE
    np.testing.assert_allclose(version.predict({"text_docs": list(TEXTS)}), expected, atol=1e-6)
    np.testing.assert_allclose(deployment.predict(list(TEXTS)), expected, atol=1e-6)
    np.testing.assert_allclose(deployment.predict(TEXTS[2]), expected[2:3], atol=1e-6)
    with ThreadPoolExecutor(8) as pool:  # batched: lists of texts join into one model call
        answers = list(pool.map(lambda i: deployment.predict([TEXTS[i % 4]]), range(16)))
    for i, answer in enumerate(answers):
        np.testing.assert_allclose(answer, expected[i % 4 : i % 4 + 1], atol=1e-6)

    with served.http() as http:
        refused = http.post(
            f"/api/v1/models/default/{name}/versions/1/predict",
            json={"data": {"text_docs": ["fine", 3]}},
        )
        assert refused.status_code == 422, refused.text
        assert "text_docs[1]: expected a text" in refused.text
        v2 = http.post(
            f"/v2/models/{name}/versions/1/infer",
            json={"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                              "data": list(TEXTS[:2])}]},
        )  # fmt: skip
    assert v2.status_code == 200, v2.text
    output = v2.json()["outputs"][0]
    assert output["shape"] == [2, fixture.dim]
    np.testing.assert_allclose(np.reshape(output["data"], (2, -1)), expected[:2], atol=1e-6)

    assert deployment.undeploy().state == DeploymentState.STOPPED


def test_a_wrong_dimension_fails_the_checks(client: Client, tmp_path: Path) -> None:
    fixture = build_embedding_model(
        tmp_path / "model", model_format="ONNX", framework_type="sentence_transformers"
    )
    runtime = fixture.runtime()
    runtime["text_embedding"]["embedding_dimension"] = 384
    version = (
        client.new_model("embed-wrong-dimension")
        .new_model_version("1", artifacts=fixture.files, runtime=runtime)
        .finish()
    )

    report = version.wait_for_checks(timeout=180)

    assert report.state == CheckState.FAILED
    loads = next(r for r in report.results if r.id == "model.loads")
    assert "embedding_dimension is 384; set it to 8" in loads.message
    with pytest.raises(FailedPrecondition, match="checks"):
        version.deploy(timeout=60)
