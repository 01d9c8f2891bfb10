"""The text_embedding flavor: OpenSearch ML Commons' TorchScript and ONNX sentence-embedding
models (a model file and a tokenizer.json), built here (embedding_models.py), answer the
embeddings the model itself computes, for every pooling mode, normalized or not."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from embedding_models import (
    FRAMEWORK_TYPES,
    MODEL_FORMATS,
    POOLING_MODES,
    TEXTS,
    EmbeddingFixture,
    build_embedding_model,
)
from modelyard.domain.runtime import CheckState, CheckStatus, Flavor, RuntimeSpec
from modelyard.domain.service import validated
from modelyard.errors import FileNotFound, InvalidArgument, ModelError
from modelyard.runtime.bundle import write_bundle
from modelyard.runtime.detect import detect
from modelyard.runtime.flavors import flavor
from modelyard.runtime.predictor import Predictor, load_predictor
from modelyard.runtime.sandbox import check_bundle

KINDS = [(f, t) for f in MODEL_FORMATS for t in FRAMEWORK_TYPES]
#: Long enough that a batch of it and TEXTS is padded.
LONG = "the quick brown fox jumps over the lazy dog and a model registry stores versions"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], EmbeddingFixture]:
    root = tmp_path_factory.mktemp("embedding-models")
    return {
        (fmt, kind): build_embedding_model(
            root / f"{fmt}-{kind}", model_format=fmt, framework_type=kind
        )
        for fmt, kind in KINDS
    }


def _predictor(fixture: EmbeddingFixture, **options: object) -> Predictor:
    spec = RuntimeSpec.model_validate(fixture.runtime(**options))  # type: ignore[arg-type]
    return load_predictor(fixture.directory, spec)


@pytest.mark.parametrize(("model_format", "framework_type"), KINDS)
def test_predictions_are_the_models_embeddings(
    models: dict[tuple[str, str], EmbeddingFixture], model_format: str, framework_type: str
) -> None:
    fixture = models[model_format, framework_type]
    for pooling_mode in POOLING_MODES:
        for normalize_result in (False, True):
            predictor = _predictor(
                fixture, pooling_mode=pooling_mode, normalize_result=normalize_result
            )

            answer = predictor.predict({"text_docs": list(TEXTS)})

            expected = fixture.expected(
                TEXTS, pooling_mode=pooling_mode, normalize_result=normalize_result
            )
            assert np.array(answer).shape == (len(TEXTS), fixture.dim)
            assert np.allclose(answer, expected, atol=1e-6), (pooling_mode, normalize_result)
            if normalize_result:
                assert np.allclose(np.linalg.norm(answer, axis=1), 1.0)
            json.dumps(answer, allow_nan=False)


def test_pooling_modes_differ_where_they_apply(
    models: dict[tuple[str, str], EmbeddingFixture],
) -> None:
    """ONNX and TorchScript huggingface_transformers models answer token embeddings, which
    each pooling mode pools its own way; a TorchScript sentence_transformers model answers its
    sentence_embedding, which no pooling mode changes (ML Commons does not pool it)."""
    for kind, fixture in models.items():
        answers = {
            mode: np.array(_predictor(fixture, pooling_mode=mode).predict(list(TEXTS)))
            for mode in POOLING_MODES
        }
        distinct = {tuple(np.round(a[1], 5)) for a in answers.values()}
        pooled = kind != ("TORCH_SCRIPT", "sentence_transformers")
        assert len(distinct) == (len(POOLING_MODES) if pooled else 1), kind


@pytest.mark.parametrize(("model_format", "framework_type"), KINDS)
def test_a_batch_answers_as_each_text_alone(
    models: dict[tuple[str, str], EmbeddingFixture], model_format: str, framework_type: str
) -> None:
    """Padding a batch to its longest text does not change the others' embeddings, across
    several model calls (more texts than one batch holds) too."""
    predictor = _predictor(models[model_format, framework_type], pooling_mode="max")
    texts = [LONG, *TEXTS] * 9  # 45 texts: two batches of up to 32

    batch = predictor.predict(texts)

    alone = [predictor.predict(text)[0] for text in [LONG, *TEXTS]]
    assert np.allclose(batch, alone * 9, atol=1e-6)


def test_each_input_form_answers_alike(models: dict[tuple[str, str], EmbeddingFixture]) -> None:
    predictor = _predictor(models["ONNX", "sentence_transformers"])

    as_object = predictor.predict({"text_docs": ["the lazy dog", "search"]})
    as_list = predictor.predict(["the lazy dog", "search"])
    as_text = predictor.predict("the lazy dog")

    assert as_object == as_list
    assert as_text == as_list[:1]


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"text_docs": ["a", "b", 3]}, "text_docs[2]", "expected a text (a string), got a number"),
        ({"text_docs": ["a", None]}, "text_docs[1]", "got null"),
        ({"text_docs": []}, "text_docs", "at least one text"),
        ({"text_docs": "a"}, "text_docs", "expected a list of texts"),
        ({"text_docs": {"a": 1}}, "text_docs", "got an object"),
        ({}, "text_docs", "missing"),
        ({"text_docs": ["a"], "return_number": True}, "return_number", "unknown field"),
        (["a", ["b"]], "data[1]", "got a list"),
        ([], "data", "at least one text"),
        (7, "data", "expected a list of texts (strings), got a number"),
        (None, "data", "got null"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    models: dict[tuple[str, str], EmbeddingFixture], data: object, field: str, says: str
) -> None:
    predictor = _predictor(models["ONNX", "huggingface_transformers"])

    with pytest.raises(InvalidArgument, match=re.escape(says)) as caught:
        predictor.predict(data)

    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


def test_max_sequence_length_truncates(models: dict[tuple[str, str], EmbeddingFixture]) -> None:
    fixture = models["TORCH_SCRIPT", "huggingface_transformers"]

    truncated = _predictor(fixture, max_sequence_length=4).predict([LONG, "search"])

    expected = fixture.expected([LONG, "search"], max_sequence_length=4)
    assert np.allclose(truncated, expected, atol=1e-6)
    assert not np.allclose(truncated[0], fixture.expected([LONG])[0], atol=1e-3)
    assert np.allclose(truncated[1], fixture.expected(["search"])[0], atol=1e-6)


@pytest.mark.parametrize("model_format", MODEL_FORMATS)
def test_a_model_without_token_type_ids(tmp_path: Path, model_format: str) -> None:
    fixture = build_embedding_model(
        tmp_path, model_format=model_format, framework_type="huggingface_transformers",
        token_type_ids=False,
    )  # fmt: skip

    answer = _predictor(fixture, pooling_mode="cls").predict(list(TEXTS))

    assert np.allclose(answer, fixture.expected(TEXTS, pooling_mode="cls"), atol=1e-6)


def test_another_dimension_than_declared_fails_to_load(
    models: dict[tuple[str, str], EmbeddingFixture],
) -> None:
    fixture = models["ONNX", "sentence_transformers"]
    runtime = fixture.runtime()
    runtime["text_embedding"]["embedding_dimension"] = 384

    with pytest.raises(ModelError, match=r"vectors of 8 values, but runtime\.text_embedding\."
                       r"embedding_dimension is 384; set it to 8"):  # fmt: skip
        load_predictor(fixture.directory, RuntimeSpec.model_validate(runtime))


def test_loading_says_what_to_fix(
    models: dict[tuple[str, str], EmbeddingFixture], tmp_path: Path
) -> None:
    fixture = models["TORCH_SCRIPT", "sentence_transformers"]
    shutil.copytree(fixture.directory, tmp_path, dirs_exist_ok=True)
    runtime = fixture.runtime()

    wrong_format = dict(
        runtime, text_embedding={**runtime["text_embedding"], "model_format": "ONNX"}
    )
    with pytest.raises(InvalidArgument, match="model_format is ONNX") as caught:
        load_predictor(tmp_path, RuntimeSpec.model_validate(wrong_format))
    assert caught.value.field == "runtime.model_file"

    outside = dict(
        runtime, text_embedding={**runtime["text_embedding"], "tokenizer_file": "../t.json"}
    )
    with pytest.raises(InvalidArgument, match="outside the bundle") as caught:
        load_predictor(tmp_path, RuntimeSpec.model_validate(outside))
    assert caught.value.field == "runtime.text_embedding.tokenizer_file"

    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(InvalidArgument, match="not a Hugging Face tokenizers file") as caught:
        load_predictor(tmp_path, RuntimeSpec.model_validate(runtime))
    assert caught.value.field == "runtime.text_embedding.tokenizer_file"

    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(FileNotFound, match=r"tokenizer\.json \(runtime\.text_embedding\."):
        load_predictor(tmp_path, RuntimeSpec.model_validate(runtime))


@pytest.mark.parametrize(
    ("runtime", "field"),
    [
        ({"flavor": "text_embedding", "model_file": "model.pt"}, "runtime.text_embedding"),
        (
            {
                "flavor": "onnx",
                "text_embedding": {"model_format": "ONNX", "embedding_dimension": 8},
            },
            "runtime.text_embedding",
        ),
        (
            {"flavor": "text_embedding", "text_embedding": {"embedding_dimension": 8}},
            "runtime.text_embedding.model_format",
        ),
        (
            {"flavor": "text_embedding", "text_embedding": {"model_format": "TORCH_SCRIPT"}},
            "runtime.text_embedding.embedding_dimension",
        ),
        (
            {
                "flavor": "text_embedding",
                "text_embedding": {
                    "model_format": "ONNX", "embedding_dimension": 8, "pooling_mode": "sum",
                },
            },
            "runtime.text_embedding.pooling_mode",
        ),
        (
            {
                "flavor": "text_embedding",
                "text_embedding": {
                    "model_format": "ONNX", "embedding_dimension": 8,
                    "framework_type": "keras",
                },
            },
            "runtime.text_embedding.framework_type",
        ),
        (
            {
                "flavor": "text_embedding",
                "text_embedding": {"model_format": "ONNX", "embedding_dimension": 0},
            },
            "runtime.text_embedding.embedding_dimension",
        ),
        (
            {
                "flavor": "text_embedding",
                "text_embedding": {
                    "model_format": "ONNX", "embedding_dimension": 8, "max_sequence_length": 0,
                },
            },
            "runtime.text_embedding.max_sequence_length",
        ),
        (
            {
                "flavor": "text_embedding",
                "text_embedding": {"model_format": "ONNX", "embedding_dimension": 8, "x": 1},
            },
            "runtime.text_embedding.x",
        ),
    ],
)  # fmt: skip
def test_runtime_errors_name_the_field(runtime: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validated(RuntimeSpec, runtime, "runtime")

    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


def test_the_runtime_is_plain_json_with_defaults(
    models: dict[tuple[str, str], EmbeddingFixture],
) -> None:
    spec = RuntimeSpec.model_validate(models["ONNX", "sentence_transformers"].runtime())

    stored = spec.model_dump(mode="json", exclude_none=True)

    assert stored["text_embedding"] == {
        "model_format": "ONNX",
        "framework_type": "sentence_transformers",
        "pooling_mode": "mean",
        "normalize_result": False,
        "embedding_dimension": 8,
        "tokenizer_file": "tokenizer.json",
    }
    assert RuntimeSpec.model_validate(json.loads(json.dumps(stored))) == spec


def test_never_detected_from_the_files(models: dict[tuple[str, str], EmbeddingFixture]) -> None:
    """A model file next to a tokenizer.json may be any model, and its dimension is not in the
    files: the bundle is detected as its model file's flavor, unless modelyard.yaml says."""
    for (model_format, _), fixture in models.items():
        files = [fixture.model_file, fixture.tokenizer_file]
        assert flavor(Flavor.TEXT_EMBEDDING).detect(fixture.directory, files) is None
        found = detect(fixture.directory)
        assert found.flavor == (Flavor.ONNX if model_format == "ONNX" else Flavor.TORCHSCRIPT)


@pytest.mark.parametrize("model_format", MODEL_FORMATS)
def test_checks_pass_predicting_on_the_flavors_example(
    models: dict[tuple[str, str], EmbeddingFixture], tmp_path: Path, model_format: str
) -> None:
    fixture = models[model_format, "huggingface_transformers"]
    shutil.copytree(fixture.directory, tmp_path, dirs_exist_ok=True)
    write_bundle(tmp_path, RuntimeSpec.model_validate(fixture.runtime(normalize_result=True)))

    report = check_bundle(tmp_path, timeout=120)

    results = {r.id: r for r in report.results}
    assert report.state == CheckState.PASSED, [r for r in report.results if r.status != "PASS"]
    assert report.runtime is not None and report.runtime.flavor == Flavor.TEXT_EMBEDDING
    assert results["model_file.format"].status == CheckStatus.PASS
    assert results["model_file.safe"].status == CheckStatus.PASS
    assert "the text_embedding flavor's example" in results["example.valid"].message
    assert results["predict.example"].status == CheckStatus.PASS
    assert report.output_schema is not None and report.output_schema["type"] == "array"
    assert report.input_schema is None  # serving would refuse the other input forms


def test_checks_of_a_wrong_dimension_fail_at_loading(
    models: dict[tuple[str, str], EmbeddingFixture], tmp_path: Path
) -> None:
    fixture = models["TORCH_SCRIPT", "sentence_transformers"]
    shutil.copytree(fixture.directory, tmp_path, dirs_exist_ok=True)
    runtime = fixture.runtime()
    runtime["text_embedding"]["embedding_dimension"] = 16

    report = check_bundle(tmp_path, RuntimeSpec.model_validate(runtime), timeout=120)

    results = {r.id: r for r in report.results}
    assert report.state == CheckState.FAILED
    assert results["model.loads"].status == CheckStatus.FAIL
    assert "embedding_dimension is 16; set it to 8" in results["model.loads"].message
