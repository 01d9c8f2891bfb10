"""Every template offered, with a tiny real model dropped in, loads and predicts as its README
says: the answer has the documented shape, matches output_schema.json, and equals what the
model itself computes (so pre- and post-processing are right)."""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml

from modelyard.domain.runtime import CheckState, CheckStatus, Flavor
from modelyard.errors import InvalidArgument
from modelyard.runtime.bundle import read_bundle
from modelyard.runtime.detect import detect
from modelyard.runtime.predictor import load_predictor
from modelyard.runtime.sandbox import check_bundle
from modelyard.runtime.templates import REQUIREMENTS, as_zip, catalog, generate, spec
from modelyard.runtime.templates.catalog import find
from modelyard.runtime.templates.contracts import CHANNELS, FEATURES, HEIGHT, TEXTS, WIDTH

# Keras runs on torch here; the backend is chosen when keras is first imported.
os.environ["KERAS_BACKEND"] = "torch"

CLASSES = 3
SEG_CLASSES = 2
DIM = 8
VOCAB = 4096  # score.py's VOCAB_SIZE

# Four detection candidates: the second overlaps the first (same class, IoU 0.77) and is
# dropped; the third scores under the threshold; the fourth is another class.
DET_BOXES = [[2.0, 2.0, 10.0, 10.0], [3.0, 3.0, 10.0, 10.0], [0.0, 0.0, 4.0, 4.0], [4, 4, 14, 14]]
DET_SCORES = [0.9, 0.8, 0.3, 0.7]
DET_LABELS = [1, 1, 0, 0]
DET_EXPECTED = [
    {"box": DET_BOXES[0], "score": 0.9, "label": 1},
    {"box": [4.0, 4.0, 14.0, 14.0], "score": 0.7, "label": 0},
]

# torch 2.13 deprecates TorchScript (script, trace, load) in favour of torch.export
TORCHSCRIPT_DEPRECATED = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"
)
# keras' torch backend converts tensors with np.array(copy=False) semantics numpy 2 deprecates
KERAS_NUMPY2 = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

Builder = Callable[[Path, Any], Callable[[Any], Any]]


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _token_mean(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """What score.py's pooling gives for token vectors taken from ``table``."""
    mask = (ids != 0)[:, :, None]
    return _unit((table[ids] * mask).sum(axis=1) / mask.sum(axis=1))


# -- expected answers, from the model's raw output --------------------------------------------


def _classes(probabilities: np.ndarray) -> dict[str, Any]:
    return {"labels": probabilities.argmax(axis=1).tolist(), "probabilities": probabilities}


def _values(values: np.ndarray) -> dict[str, Any]:
    return {"values": values.reshape(len(values), -1)[:, 0]}


def _masks(scores: np.ndarray, axis: int) -> dict[str, Any]:
    return {"masks": scores.argmax(axis=axis).tolist()}


# -- scikit-learn ------------------------------------------------------------------------------


def _skops(bundle: Path, estimator: Any) -> None:
    import skops.io

    skops.io.dump(estimator, bundle / "model.skops")


def sklearn_classification(bundle: Path, score: Any) -> Callable[[Any], Any]:
    from sklearn.linear_model import LogisticRegression

    x = _rng().normal(size=(60, FEATURES))
    model = LogisticRegression().fit(x, np.arange(60) % CLASSES)
    _skops(bundle, model)
    return lambda data: _classes(model.predict_proba(np.asarray(data)))


def sklearn_regression(bundle: Path, score: Any) -> Callable[[Any], Any]:
    from sklearn.linear_model import Ridge

    x = _rng().normal(size=(60, FEATURES))
    model = Ridge().fit(x, x @ np.arange(1.0, FEATURES + 1))
    _skops(bundle, model)
    return lambda data: {"values": model.predict(np.asarray(data))}


def sklearn_segmentation(bundle: Path, score: Any) -> Callable[[Any], Any]:
    from sklearn.linear_model import LogisticRegression

    pixels = _rng().uniform(size=(200, CHANNELS))
    model = LogisticRegression().fit(pixels, (pixels[:, 0] > 0.5).astype(int))
    _skops(bundle, model)

    def expected(data: Any) -> dict[str, Any]:
        images = np.asarray(data)
        flat = images.transpose(0, 2, 3, 1).reshape(-1, CHANNELS)
        return {"masks": model.predict(flat).reshape(images.shape[0], HEIGHT, WIDTH).tolist()}

    return expected


def sklearn_text_embedding(bundle: Path, score: Any) -> Callable[[Any], Any]:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    corpus = [*TEXTS, "every model is checked", "a version keeps its files", "deploy the model"]
    model = make_pipeline(TfidfVectorizer(), TruncatedSVD(n_components=3, random_state=0))
    model.fit(corpus)
    _skops(bundle, model)
    return lambda data: {"embeddings": _unit(model.transform(data))}


# -- ONNX (graphs built with onnx.helper) ------------------------------------------------------


def _onnx(
    bundle: Path, nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any]
) -> None:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "template-test", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, bundle / "model.onnx")


def _tensor(name: str, array: np.ndarray) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(array, name)


def _value(name: str, elem: int, shape: list[Any]) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(name, elem, shape)


def onnx_classification(bundle: Path, score: Any) -> Callable[[Any], Any]:
    from onnx import TensorProto, helper

    w = _rng().normal(size=(FEATURES, CLASSES)).astype(np.float32)
    b = np.arange(CLASSES, dtype=np.float32)
    _onnx(
        bundle,
        [helper.make_node("Gemm", ["input", "w", "b"], ["logits"])],
        [_value("input", TensorProto.FLOAT, ["N", FEATURES])],
        [_value("logits", TensorProto.FLOAT, ["N", CLASSES])],
        [_tensor("w", w), _tensor("b", b)],
    )
    return lambda data: _classes(_softmax(np.asarray(data, np.float32) @ w + b))


def onnx_regression(bundle: Path, score: Any) -> Callable[[Any], Any]:
    from onnx import TensorProto, helper

    w = _rng().normal(size=(FEATURES, 1)).astype(np.float32)
    _onnx(
        bundle,
        [helper.make_node("MatMul", ["input", "w"], ["values"])],
        [_value("input", TensorProto.FLOAT, ["N", FEATURES])],
        [_value("values", TensorProto.FLOAT, ["N", 1])],
        [_tensor("w", w)],
    )
    return lambda data: _values(np.asarray(data, np.float32) @ w)


def onnx_object_detection(bundle: Path, score: Any) -> Callable[[Any], Any]:
    """Fixed candidates per image: the batch size comes from the input's shape."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Shape", ["input"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "one"], ["n"]),
        helper.make_node("Concat", ["n", "d4"], ["boxes_shape"], axis=0),
        helper.make_node("Concat", ["n", "d"], ["scores_shape"], axis=0),
        helper.make_node("Expand", ["cboxes", "boxes_shape"], ["boxes"]),
        helper.make_node("Expand", ["cscores", "scores_shape"], ["scores"]),
        helper.make_node("Expand", ["clabels", "scores_shape"], ["labels"]),
    ]
    inits = [
        _tensor("zero", np.array([0], np.int64)),
        _tensor("one", np.array([1], np.int64)),
        _tensor("d4", np.array([4, 4], np.int64)),
        _tensor("d", np.array([4], np.int64)),
        _tensor("cboxes", np.array([DET_BOXES], np.float32)),
        _tensor("cscores", np.array([DET_SCORES], np.float32)),
        _tensor("clabels", np.array([DET_LABELS], np.int64)),
    ]
    _onnx(
        bundle,
        nodes,
        [_value("input", TensorProto.FLOAT, ["N", CHANNELS, "H", "W"])],
        [
            _value("boxes", TensorProto.FLOAT, ["N", 4, 4]),
            _value("scores", TensorProto.FLOAT, ["N", 4]),
            _value("labels", TensorProto.INT64, ["N", 4]),
        ],
        inits,
    )
    return lambda data: {"detections": [DET_EXPECTED] * len(data)}


def onnx_segmentation(bundle: Path, score: Any) -> Callable[[Any], Any]:
    from onnx import TensorProto, helper

    w = _rng().normal(size=(SEG_CLASSES, CHANNELS, 1, 1)).astype(np.float32)
    _onnx(
        bundle,
        [helper.make_node("Conv", ["input", "w"], ["scores"])],
        [_value("input", TensorProto.FLOAT, ["N", CHANNELS, "H", "W"])],
        [_value("scores", TensorProto.FLOAT, ["N", SEG_CLASSES, "H", "W"])],
        [_tensor("w", w)],
    )
    return lambda data: _masks(np.einsum("nchw,kc->nkhw", np.asarray(data), w[:, :, 0, 0]), 1)


def onnx_text_embedding(bundle: Path, score: Any) -> Callable[[Any], Any]:
    """Token vectors (N, L, D): score.py pools them over the real tokens."""
    from onnx import TensorProto, helper

    table = _rng().normal(size=(VOCAB, DIM)).astype(np.float32)
    _onnx(
        bundle,
        [helper.make_node("Gather", ["table", "input"], ["vectors"])],
        [_value("input", TensorProto.INT64, ["N", "L"])],
        [_value("vectors", TensorProto.FLOAT, ["N", "L", DIM])],
        [_tensor("table", table)],
    )
    return lambda data: {"embeddings": _token_mean(table, score.tokenize(data))}


# -- PyTorch: TorchScript (default) and state_dicts of model.py's networks ---------------------


def _script(bundle: Path, module: Any) -> Any:
    import torch

    torch.manual_seed(0)
    scripted = torch.jit.script(module.eval())
    scripted.save(str(bundle / "model.pt"))
    return scripted


def _run(module: Any, array: np.ndarray) -> Any:
    import torch

    with torch.inference_mode():
        out = module(torch.from_numpy(array))
    return [o.numpy() for o in out] if isinstance(out, tuple) else out.numpy()


def pytorch_classification(bundle: Path, score: Any) -> Callable[[Any], Any]:
    import torch

    torch.manual_seed(0)
    module = _script(bundle, torch.nn.Linear(FEATURES, CLASSES))
    return lambda data: _classes(_softmax(_run(module, np.asarray(data, np.float32))))


def pytorch_regression(bundle: Path, score: Any) -> Callable[[Any], Any]:
    import torch

    torch.manual_seed(0)
    module = _script(bundle, torch.nn.Linear(FEATURES, 1))
    return lambda data: _values(_run(module, np.asarray(data, np.float32)))


def pytorch_object_detection(bundle: Path, score: Any) -> Callable[[Any], Any]:
    import torch

    class Fixed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("boxes", torch.tensor([DET_BOXES], dtype=torch.float32))
            self.register_buffer("scores", torch.tensor([DET_SCORES]))
            self.register_buffer("labels", torch.tensor([DET_LABELS]))

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            n = images.shape[0]
            return (
                self.boxes.expand(n, -1, -1),
                self.scores.expand(n, -1),
                self.labels.expand(n, -1),
            )

    _script(bundle, Fixed())
    return lambda data: {"detections": [DET_EXPECTED] * len(data)}


def pytorch_segmentation(bundle: Path, score: Any) -> Callable[[Any], Any]:
    import torch

    torch.manual_seed(0)
    module = _script(bundle, torch.nn.Conv2d(CHANNELS, SEG_CLASSES, 1))
    return lambda data: _masks(_run(module, np.asarray(data, np.float32)), 1)


def pytorch_text_embedding(bundle: Path, score: Any) -> Callable[[Any], Any]:
    import torch

    torch.manual_seed(0)
    module = _script(bundle, torch.nn.EmbeddingBag(VOCAB, DIM, mode="mean", padding_idx=0))
    table = module.weight.detach().numpy()
    return lambda data: {"embeddings": _token_mean(table, score.tokenize(data))}


def _state_dict(bundle: Path, arch: str, tweak: Callable[[Any], None] | None = None) -> Any:
    """model.py's network, seeded, its state_dict saved as model.pth."""
    import torch

    module_spec = importlib.util.spec_from_file_location(
        f"model_{uuid.uuid4().hex}", bundle / "model.py"
    )
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    torch.manual_seed(0)
    network = getattr(module, arch)()
    if tweak is not None:
        with torch.no_grad():
            tweak(network)
    torch.save(network.state_dict(), bundle / "model.pth")
    return network.eval()


def pytorch_classification_mlp(bundle: Path, score: Any) -> Callable[[Any], Any]:
    network = _state_dict(bundle, "MLP")
    return lambda data: _classes(_softmax(_run(network, np.asarray(data, np.float32))))


def pytorch_classification_cnn(bundle: Path, score: Any) -> Callable[[Any], Any]:
    network = _state_dict(bundle, "CNN")
    return lambda data: _classes(_softmax(_run(network, np.asarray(data, np.float32))))


def pytorch_regression_mlp(bundle: Path, score: Any) -> Callable[[Any], Any]:
    network = _state_dict(bundle, "MLP")
    return lambda data: _values(_run(network, np.asarray(data, np.float32)))


def pytorch_object_detection_grid(bundle: Path, score: Any) -> Callable[[Any], Any]:
    def confident(network: Any) -> None:
        network.head.bias[0] = 20.0  # objectness ~1: every cell scores its best class, >= 0.5

    network = _state_dict(bundle, "GridDetector", confident)

    def expected(data: Any) -> dict[str, Any]:
        boxes, scores, labels = _run(network, np.asarray(data, np.float32))
        return {"detections": score.postprocess([boxes, scores, labels], data)["detections"]}

    return expected


def pytorch_segmentation_unet(bundle: Path, score: Any) -> Callable[[Any], Any]:
    network = _state_dict(bundle, "UNet")
    return lambda data: _masks(_run(network, np.asarray(data, np.float32)), 1)


def pytorch_text_embedding_embedding_bag(bundle: Path, score: Any) -> Callable[[Any], Any]:
    network = _state_dict(bundle, "BagEmbedder")
    table = network.embedding.weight.detach().numpy()
    return lambda data: {"embeddings": _token_mean(table, score.tokenize(data))}


def pytorch_text_embedding_transformer(bundle: Path, score: Any) -> Callable[[Any], Any]:
    network = _state_dict(bundle, "TransformerEmbedder")

    def expected(data: Any) -> dict[str, Any]:
        ids = score.tokenize(data)
        vectors = _run(network, ids)
        mask = (ids != 0)[:, :, None]
        return {"embeddings": _unit((vectors * mask).sum(axis=1) / mask.sum(axis=1))}

    return expected


# -- Keras 3 (torch backend) -------------------------------------------------------------------


def _keras(bundle: Path, inputs: Any, outputs: Any) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Model(inputs, outputs)
    model.save(bundle / "model.keras")
    return model


def keras_classification(bundle: Path, score: Any) -> Callable[[Any], Any]:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((FEATURES,))
    model = _keras(bundle, inputs, keras.layers.Dense(CLASSES, activation="softmax")(inputs))
    return lambda data: _classes(model.predict(np.asarray(data, np.float32), verbose=0))


def keras_regression(bundle: Path, score: Any) -> Callable[[Any], Any]:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((FEATURES,))
    model = _keras(bundle, inputs, keras.layers.Dense(1)(inputs))
    return lambda data: _values(model.predict(np.asarray(data, np.float32), verbose=0))


def keras_object_detection(bundle: Path, score: Any) -> Callable[[Any], Any]:
    """Dense layers with zero kernels: their biases are the fixed candidates."""
    import keras

    def constant(values: list[Any]) -> Any:
        flat = np.asarray(values, np.float32).ravel()
        return keras.layers.Dense(
            len(flat),
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(flat),
        )

    inputs = keras.Input((HEIGHT, WIDTH, CHANNELS))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    boxes = keras.layers.Reshape((4, 4))(constant(DET_BOXES)(pooled))
    _keras(bundle, inputs, [boxes, constant(DET_SCORES)(pooled), constant(DET_LABELS)(pooled)])
    return lambda data: {"detections": [DET_EXPECTED] * len(data)}


def keras_segmentation(bundle: Path, score: Any) -> Callable[[Any], Any]:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, CHANNELS))
    layer = keras.layers.Conv2D(SEG_CLASSES, 1, activation="softmax")
    model = _keras(bundle, inputs, layer(inputs))
    return lambda data: _masks(model.predict(np.asarray(data, np.float32), verbose=0), -1)


def keras_text_embedding(bundle: Path, score: Any) -> Callable[[Any], Any]:
    """Embedding(mask_zero) + GlobalAveragePooling1D: the mean over the real tokens."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int64")
    embedding = keras.layers.Embedding(VOCAB, DIM, mask_zero=True)
    _keras(bundle, inputs, keras.layers.GlobalAveragePooling1D()(embedding(inputs)))
    table = keras.ops.convert_to_numpy(embedding.embeddings)
    return lambda data: {"embeddings": _token_mean(table, score.tokenize(data))}


# -- python: numpy arrays in model.npz ---------------------------------------------------------


def python_classification(bundle: Path, score: Any) -> Callable[[Any], Any]:
    w, b = _rng().normal(size=(FEATURES, CLASSES)), np.arange(float(CLASSES))
    np.savez(bundle / "model.npz", weights=w, bias=b)
    return lambda data: _classes(_softmax(np.asarray(data) @ w + b))


def python_regression(bundle: Path, score: Any) -> Callable[[Any], Any]:
    w, b = _rng().normal(size=FEATURES), np.float64(0.5)
    np.savez(bundle / "model.npz", weights=w, bias=b)
    return lambda data: {"values": np.asarray(data) @ w + b}


def python_segmentation(bundle: Path, score: Any) -> Callable[[Any], Any]:
    w, b = _rng().normal(size=(CHANNELS, SEG_CLASSES)), np.zeros(SEG_CLASSES)
    np.savez(bundle / "model.npz", weights=w, bias=b)
    return lambda data: _masks(np.einsum("nchw,ck->nkhw", np.asarray(data), w), 1)


def python_text_embedding(bundle: Path, score: Any) -> Callable[[Any], Any]:
    table = _rng().normal(size=(VOCAB, DIM))
    np.savez(bundle / "model.npz", embeddings=table)
    return lambda data: {"embeddings": _token_mean(table, score.tokenize(data))}


# -- the table: every offered template has a builder -------------------------------------------

OFFERED = [
    (t.task.value, t.framework.value, a.name) for t in catalog().templates for a in t.architectures
]
_BY_FRAMEWORK = ["sklearn", "python", "onnx", "pytorch", "keras"]  # torch, then keras, once each
ORDERED = sorted(OFFERED, key=lambda c: (_BY_FRAMEWORK.index(c[1]), c[0], c[2]))


def _builder(task: str, framework: str, arch: str) -> Builder:
    name = f"{framework}_{task}" + ("" if arch == "default" else f"_{arch}")
    return globals()[name.replace("-", "_")]


def _marks(framework: str, arch: str) -> list[Any]:
    if framework == "keras":
        return [KERAS_NUMPY2]
    if framework == "pytorch" and arch == "default":
        return [TORCHSCRIPT_DEPRECATED]
    return []


def _import_score(bundle: Path) -> Any:
    module_spec = importlib.util.spec_from_file_location(
        f"score_{uuid.uuid4().hex}", bundle / "score.py"
    )
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _write(bundle: Path, files: dict[str, bytes]) -> None:
    bundle.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        (bundle / path).write_bytes(data)


def _assert_close(got: Any, want: Any, where: str = "answer") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (where, got)
        for key in want:
            _assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, np.ndarray) or (isinstance(want, list) and _numeric(want)):
        np.testing.assert_allclose(
            np.asarray(got, dtype=float), np.asarray(want), rtol=1e-4, atol=1e-5, err_msg=where
        )
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (where, got)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_close(g, w, f"{where}[{i}]")
    else:
        assert got == pytest.approx(want), where


def _numeric(value: Any) -> bool:
    try:
        return np.asarray(value).dtype.kind in "iuf"
    except ValueError:  # ragged
        return False


def _documented_shape(task: str, answer: dict[str, Any], example: Any) -> None:
    """The shape the README documents, for the example's batch size."""
    n = len(example)
    if task == "classification":
        probabilities = np.asarray(answer["probabilities"])
        assert len(answer["labels"]) == n and probabilities.shape[0] == n
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    elif task == "regression":
        assert np.asarray(answer["values"]).shape == (n,)
    elif task == "object-detection":
        assert len(answer["detections"]) == n
        assert all(d["score"] >= 0.5 for image in answer["detections"] for d in image)
    elif task == "segmentation":
        assert np.asarray(answer["masks"]).shape == (n, HEIGHT, WIDTH)
    else:
        vectors = np.asarray(answer["embeddings"])
        assert vectors.shape[0] == n and vectors.ndim == 2
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("task", "framework", "arch"),
    [pytest.param(*c, id="-".join(c), marks=_marks(c[1], c[2])) for c in ORDERED],
)
def test_template_with_a_tiny_model_predicts_as_documented(
    tmp_path: Path, task: str, framework: str, arch: str
) -> None:
    bundle = tmp_path / "bundle"
    _write(bundle, generate(task, framework, arch))
    score = _import_score(bundle)
    expected = _builder(task, framework, arch)(bundle, score)

    example = json.loads((bundle / "input_example.json").read_text())
    jsonschema.validate(example, json.loads((bundle / "input_schema.json").read_text()))
    answer = score.predict(example, model=score.load_model())
    jsonschema.validate(answer, json.loads((bundle / "output_schema.json").read_text()))
    _documented_shape(task, answer, example)
    _assert_close(answer, expected(example))
    assert score.predict(example) == answer  # load_model() is the default model

    # every check passes in the sandbox, with the spec the bundle declares
    report = check_bundle(bundle)
    assert not report.failures(), [(r.id, r.message) for r in report.failures()]
    assert report.state == CheckState.PASSED, [(r.id, r.status, r.message) for r in report.results]
    assert report.runtime == detect(bundle)
    passed = {r.id for r in report.results if r.status == CheckStatus.PASS}
    assert {"model.loads", "predict.example", "predict.output_schema"} <= passed


def test_every_offered_template_has_a_test_model() -> None:
    assert len(OFFERED) == len(set(OFFERED)) == 30
    for combination in OFFERED:
        assert callable(_builder(*combination)), combination


@pytest.mark.parametrize(("task", "framework", "arch"), OFFERED)
def test_modelyard_yaml_declares_the_spec_detection_reads(
    tmp_path: Path, task: str, framework: str, arch: str
) -> None:
    files = generate(task, framework, arch)
    _write(tmp_path, files)
    template, architecture = find(task, framework, arch)
    declared = read_bundle(tmp_path).runtime
    assert declared == spec(template, architecture)
    assert declared.entry_point == "score.py" and declared.example == "input_example.json"
    assert declared.model_file == architecture.model_file
    assert (declared.model_class is not None) == (arch != "default")
    # the requirements come from requirements.txt: one list to edit
    assert detect(tmp_path).requirements == REQUIREMENTS[template.framework]
    readme = files["README.md"].decode()
    assert f"**`{architecture.model_file}`**" in readme
    if declared.model_class:
        cls = declared.model_class.partition(":")[2]
        assert f"class {cls}(nn.Module)" in files["model.py"].decode()
        assert f'NETWORK = "{cls}"' in files["score.py"].decode()


def test_score_py_imports_only_numpy_and_the_framework() -> None:
    allowed = {
        "sklearn": {"skops"},
        "onnx": {"onnxruntime"},
        "pytorch": {"torch"},
        "keras": {"keras"},
        "python": set(),
    }
    stdlib = {"__future__", "os", "re", "zlib", "typing", "importlib"}
    for task, framework, arch in OFFERED:
        text = generate(task, framework, arch)["score.py"].decode()
        imported = {
            line.split()[1].split(".")[0]
            for line in text.splitlines()
            if line.startswith(("import ", "from "))
        }
        assert imported <= stdlib | {"numpy"} | allowed[framework], (task, framework, arch)
        assert "modelyard" not in imported


def test_each_framework_declares_its_flavor() -> None:
    for task, framework, arch in OFFERED:
        _, architecture = find(task, framework, arch)
        want = {
            "sklearn": Flavor.SKLEARN,
            "onnx": Flavor.ONNX,
            "keras": Flavor.KERAS,
            "python": Flavor.PYTHON,
        }.get(framework, Flavor.TORCHSCRIPT if arch == "default" else Flavor.PYTORCH)
        assert architecture.flavor == want, (task, framework, arch)


def test_catalog_lists_the_offered_combinations() -> None:
    listed = catalog()
    assert [t.value for t in listed.tasks] == [
        "classification",
        "object-detection",
        "segmentation",
        "regression",
        "text-embedding",
    ]
    pairs = {(t.task.value, t.framework.value) for t in listed.templates}
    assert len(pairs) == 23
    assert ("object-detection", "sklearn") not in pairs
    assert ("object-detection", "python") not in pairs
    pytorch_classification = next(
        t for t in listed.templates if (t.task, t.framework) == ("classification", "pytorch")
    )
    assert [a.name for a in pytorch_classification.architectures] == ["default", "mlp", "cnn"]
    assert json.loads(listed.model_dump_json())["templates"][0]["architectures"][0]["name"]


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (("clustering", "sklearn", None), "task", ["classification", "text-embedding"]),
        (("classification", "tensorflow", None), "framework", ["sklearn", "keras", "python"]),
        (
            ("object-detection", "sklearn", None),
            "framework",
            ["no object detectors", "onnx, pytorch, keras"],
        ),
        (("classification", "pytorch", "resnet"), "architecture", ["default, mlp, cnn"]),
        (("regression", "onnx", "mlp"), "architecture", ["offer default"]),
    ],
)
def test_what_is_not_offered_is_refused_with_the_choices(
    args: tuple[str, str, str | None], field: str, words: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        generate(*args)
    assert caught.value.field == field
    for word in words:
        assert word in caught.value.message, caught.value.message


def test_zip_holds_the_files_and_is_reproducible(tmp_path: Path) -> None:
    import zipfile

    files = generate("segmentation", "pytorch", "unet")
    data = as_zip(files)
    assert as_zip(generate("segmentation", "pytorch", "unet")) == data
    path = tmp_path / "t.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(files)
        assert archive.read("score.py") == files["score.py"]
    assert yaml.safe_load(files["modelyard.yaml"])["runtime"]["flavor"] == "pytorch"


# -- modelyard template ------------------------------------------------------------------------


def test_cli_writes_the_bundle_and_names_the_model_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    out = tmp_path / "bundle"
    args = ["template", "--task", "segmentation", "--framework", "pytorch"]
    result = CliRunner().invoke(main, [*args, "--architecture", "unet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    files = generate("segmentation", "pytorch", "unet")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
    assert f"save your model as {out / 'model.pth'}" in result.output

    again = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert again.exit_code == 1
    assert "already holds" in again.output and "--force" in again.output
    assert (out / "model.py").exists()  # nothing was overwritten

    forced = CliRunner().invoke(main, [*args, "-o", str(out), "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["model_file"] == "model.pt"
    assert (out / "score.py").read_bytes() == generate("segmentation", "pytorch")["score.py"]


def test_cli_refuses_what_is_not_offered_and_lists_the_choices(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    args = ["template", "--task", "classification", "--framework", "keras", "-o", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--architecture", "cnn"])
    assert result.exit_code == 2
    assert "--architecture" in result.output and "offer default" in result.output
    result = CliRunner().invoke(main, ["template", "--task", "ranking", "--framework", "onnx"])
    assert result.exit_code == 2 and "classification" in result.output
    result = CliRunner().invoke(main, ["template", "--task", "regression"])
    assert result.exit_code == 2 and "--list" in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_lists_the_catalog() -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    result = CliRunner().invoke(main, ["template", "--list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "TASK",
        "FRAMEWORK",
        "ARCHITECTURE",
        "MODEL_FILE",
        "FLAVOR",
        "STYLES",
        "DESCRIPTION",
    ]
    assert len(lines) == 1 + len(OFFERED)
    assert any(
        line.split()[:4] == ["object-detection", "pytorch", "grid", "model.pth"] for line in lines
    )
    listed = json.loads(CliRunner().invoke(main, ["template", "--list", "--json"]).output)
    assert len(listed["templates"]) == 23


# -- Gesund's layout ----------------------------------------------------------------------------


@TORCHSCRIPT_DEPRECATED
@KERAS_NUMPY2
@pytest.mark.parametrize("framework", ["pytorch", "keras"])
@pytest.mark.parametrize("task", ["classification", "object-detection", "segmentation"])
def test_gesund_style_answers_what_score_py_answers(
    tmp_path: Path, task: str, framework: str
) -> None:
    """The same code in Gesund's files (tests/serving/test_deploy_gesund.py deploys the onnx
    ones), validated by its schema.py."""
    plain, gesund = tmp_path / "score", tmp_path / "gesund"
    files = generate(task, framework)
    _write(plain, files)
    expected = _builder(task, framework, "default")(plain, _import_score(plain))
    _write(gesund, generate(task, framework, style="gesund"))
    for made in plain.iterdir():  # the model files the builder saved
        if made.is_file() and made.name not in files and made.name != "__pycache__":
            (gesund / made.name).write_bytes(made.read_bytes())
    example = json.loads((gesund / "input_example.json").read_text())

    declared = read_bundle(gesund).runtime
    assert declared == detect(gesund).model_copy(update={"requirements": []})
    assert declared.flavor == Flavor.GESUND and declared.model_file is not None
    assert (gesund / declared.model_file).is_file()
    answer = load_predictor(gesund, detect(gesund)).predict(example)

    _assert_close(answer, expected(example))
    jsonschema.validate(answer, json.loads((plain / "output_schema.json").read_text()))


def test_cli_writes_the_gesund_style(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    args = ["template", "--task", "segmentation", "--framework", "onnx", "--style", "gesund"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = generate("segmentation", "onnx", style="gesund")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files
    other = tmp_path / "other"
    refused = CliRunner().invoke(main, [*args[:4], "python", *args[5:], "-o", str(other)])
    assert refused.exit_code == 2 and "Gesund templates exist for onnx" in refused.output
    assert not other.exists()
