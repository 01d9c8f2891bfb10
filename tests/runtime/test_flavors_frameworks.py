"""The framework flavors (sklearn, onnx, torchscript, pytorch, keras).

Each test trains or builds a tiny real model here, saves it, detects it from the files alone,
loads it and checks that it predicts what the original predicts; bad input gets an error that
says what was expected; only pickle-based formats are flagged unsafe.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import joblib
import keras
import onnx
import skops.io
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import FailedPrecondition, FileNotFound, InvalidArgument
from modelyard.runtime.bundle import bundle_files
from modelyard.runtime.flavors import all_flavors, flavor
from modelyard.runtime.flavors.keras import KerasFlavor
from modelyard.runtime.flavors.sklearn import SklearnFlavor

# Keras 3 on torch calls np.array(variable, copy=False) when fitting; numpy 2 warns about it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

RNG = np.random.default_rng(7)
X = RNG.normal(size=(60, 4)).astype("float32")
SPECIES = np.array(["setosa", "versicolor", "virginica"])
LABELS = SPECIES[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)]


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(4, 8)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


class Unscriptable(torch.nn.Module):
    """TorchScript cannot compile a lambda attribute; tracing can run it."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)
        self.activation = lambda t: torch.tanh(t) * 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.layer(x))


class Doubler(TransformerMixin, BaseEstimator):
    """A transformer of the user's own: a type skops does not know."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x) * 2


NET_SOURCE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.hidden = nn.Linear(4, hidden)
        self.out = nn.Linear(hidden, 3)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))
"""


def _trained_net(seed: int = 0) -> Net:
    torch.manual_seed(seed)
    net = Net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    target = torch.from_numpy((X[:, 0] > 0).astype("int64"))
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(X)), target).backward()
        optimizer.step()
    return net.eval()


def _torch_predict(net: torch.nn.Module) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(X)).numpy()


def _pipeline() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, LABELS)


def _onnx_linear() -> tuple[onnx.ModelProto, np.ndarray]:
    """y = x @ W + b, with a batch dimension named N; returns the model and y on X."""
    weights = RNG.normal(size=(4, 2)).astype("float32")
    bias = RNG.normal(size=(2,)).astype("float32")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, X @ weights + bias


def _keras_model() -> Any:
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5), keras.layers.Dense(3)])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    model.fit(X, (X[:, 0] > 0).astype("int64"), epochs=1, verbose=0)
    return model


def _round_trip(impl: Any, model: Any, bundle: Path, **options: Any) -> tuple[RuntimeSpec, Any]:
    """Save, detect from the files alone (a fresh flavor object), load what was detected."""
    spec = impl.save(model, bundle, **options)
    detected = flavor(spec.flavor).detect(bundle, bundle_files(bundle))
    assert detected is not None
    assert (detected.flavor, detected.model_file, detected.model_class) == (
        spec.flavor,
        spec.model_file,
        spec.model_class,
    )
    assert spec.requirements and all("==" in r for r in spec.requirements)
    return spec, flavor(spec.flavor).load(bundle, detected)


# -- scikit-learn ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_sklearn_pipeline_round_trip(tmp_path: Path, fmt: str) -> None:
    model = _pipeline()
    impl = flavor(Flavor.SKLEARN)
    assert impl.accepts(model) and not impl.accepts(Net())

    spec, loaded = _round_trip(impl, model, tmp_path, format=fmt)

    assert spec.model_file == f"model.{fmt}"
    assert any(r.startswith(f"{fmt}==") for r in spec.requirements)
    assert any(r.startswith("scikit-learn==") for r in spec.requirements)
    assert impl.predict(loaded, X.tolist()) == model.predict(X).tolist()
    assert impl.predict(loaded, X[0].tolist()) == model.predict(X[:1]).tolist()  # one row
    unsafe = impl.unsafe_format(spec)
    if fmt == "joblib":
        assert unsafe is not None and "skops" in unsafe and "pickle" in unsafe
    else:
        assert unsafe is None
        assert any(r.startswith("skops==") for r in SklearnFlavor("skops").requirements())


def test_sklearn_predict_says_what_rows_it_expects(tmp_path: Path, monkeypatch) -> None:
    impl = flavor(Flavor.SKLEARN)
    _, loaded = _round_trip(impl, _pipeline(), tmp_path)

    with pytest.raises(InvalidArgument, match=r"rows of 4 features each, got .* \[2, 3\]"):
        impl.predict(loaded, [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(InvalidArgument, match="differ in length"):
        impl.predict(loaded, [[1, 2, 3, 4], [5, 6]])
    with pytest.raises(InvalidArgument, match="rejected the rows"):
        impl.predict(loaded, [["a", "b", "c", "d"]])
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(InvalidArgument, match=r"needs pandas.*list of rows") as raised:
        impl.predict(loaded, {"a": [1.0], "b": [2.0], "c": [3.0], "d": [4.0]})
    assert raised.value.field == "data"


def test_sklearn_takes_an_object_of_columns_with_pandas(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, LABELS)
    impl = flavor(Flavor.SKLEARN)
    _, loaded = _round_trip(impl, model, tmp_path)
    columns = {name: frame[name].tolist() for name in ["pw", "pl", "sw", "sl"]}  # any order
    assert impl.predict(loaded, columns) == model.predict(frame).tolist()
    assert impl.predict(loaded, X.tolist()) == model.predict(frame).tolist()
    with pytest.raises(InvalidArgument, match="missing the columns pw"):
        impl.predict(loaded, {k: v for k, v in columns.items() if k != "pw"})


def test_sklearn_save_refuses_what_it_cannot_load(tmp_path: Path) -> None:
    impl = flavor(Flavor.SKLEARN)
    with pytest.raises(InvalidArgument, match="not fitted; call fit"):
        impl.save(LogisticRegression(), tmp_path)
    with pytest.raises(InvalidArgument, match="saves scikit-learn estimators"):
        impl.save(Net(), tmp_path)
    with pytest.raises(InvalidArgument, match="format: expected one of joblib, skops"):
        impl.save(_pipeline(), tmp_path, format="pickle")
    assert list(tmp_path.iterdir()) == []


def test_skops_loads_only_types_it_may_trust(tmp_path: Path) -> None:
    spec = RuntimeSpec(flavor=Flavor.SKLEARN, model_file="model.skops")
    impl = flavor(Flavor.SKLEARN)

    # numpy ufuncs and scikit-learn's own types (a forest's trees) load without being named
    forest = make_pipeline(
        FunctionTransformer(np.abs), RandomForestClassifier(n_estimators=3, random_state=0)
    ).fit(X, LABELS)
    skops.io.dump(forest, tmp_path / "model.skops")
    assert impl.predict(impl.load(tmp_path, spec), X.tolist()) == forest.predict(X).tolist()

    # a function that could run the request as code: refused
    skops.io.dump(make_pipeline(FunctionTransformer(eval)), tmp_path / "model.skops")
    with pytest.raises(
        InvalidArgument, match=r"neither scikit-learn's nor numpy's: builtins\.eval"
    ):
        impl.load(tmp_path, spec)

    # the user's own type: refused unless the flavor is told to trust it by name
    custom = make_pipeline(Doubler(), LogisticRegression()).fit(X, LABELS)
    skops.io.dump(custom, tmp_path / "model.skops")
    name = f"{Doubler.__module__}.Doubler"
    with pytest.raises(InvalidArgument, match=rf"{name}.*SklearnFlavor\(trusted="):
        impl.load(tmp_path, spec)
    trusting = SklearnFlavor(trusted=[name])
    loaded = trusting.load(tmp_path, spec)
    assert trusting.predict(loaded, X.tolist()) == custom.predict(X).tolist()


# -- ONNX -------------------------------------------------------------------------------------


def test_onnx_round_trip(tmp_path: Path) -> None:
    model, expected = _onnx_linear()
    impl = flavor(Flavor.ONNX)
    assert impl.accepts(model) and not impl.accepts(_pipeline())

    spec, session = _round_trip(impl, model, tmp_path)

    assert spec.model_file == "model.onnx" and impl.unsafe_format(spec) is None
    assert any(r.startswith("onnxruntime==") for r in spec.requirements)
    predicted = impl.predict(session, X.tolist())
    assert np.allclose(predicted, expected, atol=1e-5)
    assert np.allclose(impl.predict(session, {"x": X[:2].tolist()}), expected[:2], atol=1e-5)
    # the serialized bytes save the same model
    spec = impl.save(model.SerializeToString(), tmp_path / "bytes")
    assert impl.predict(impl.load(tmp_path / "bytes", spec), X.tolist()) == predicted
    with pytest.raises(InvalidArgument, match="not a serialized ONNX model"):
        impl.save(b"not onnx at all", tmp_path / "junk")


def test_onnx_inputs_are_checked_against_the_graph(tmp_path: Path) -> None:
    impl = flavor(Flavor.ONNX)
    _, session = _round_trip(impl, _onnx_linear()[0], tmp_path)
    with pytest.raises(
        InvalidArgument,
        match=r"'x' expects a tensor \[N, 4\] of tensor\(float\), got shape \[1, 3\]",
    ):
        impl.predict(session, [[1.0, 2.0, 3.0]])
    with pytest.raises(InvalidArgument, match=r"'x' expects numbers \(\[N, 4\] of tensor"):
        impl.predict(session, [["a", "b", "c", "d"]])
    with pytest.raises(InvalidArgument, match="differ in length"):
        impl.predict(session, [[1.0, 2.0, 3.0, 4.0], [1.0]])
    with pytest.raises(InvalidArgument, match=r"inputs x; missing \['x'\], unknown \['z'\]"):
        impl.predict(session, {"z": X.tolist()})


def test_onnx_named_inputs_and_outputs(tmp_path: Path) -> None:
    """Two inputs (int64 counts and float scores), two outputs: an object in, an object out."""
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["counts"], ["as_float"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["as_float", "scores"], ["total"]),
            helper.make_node("ReduceMax", ["total"], ["best"], keepdims=0, axes=[1]),
        ],
        "two",
        [
            helper.make_tensor_value_info("counts", TensorProto.INT64, [None, 2]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 2]),
        ],
        [
            helper.make_tensor_value_info("total", TensorProto.FLOAT, [None, 2]),
            helper.make_tensor_value_info("best", TensorProto.FLOAT, [None]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    impl = flavor(Flavor.ONNX)
    _, session = _round_trip(impl, model, tmp_path)

    answer = impl.predict(session, {"counts": [[1, 2], [3, 4]], "scores": [[0.5, 0.25], [1, 0]]})

    assert answer == {"total": [[1.5, 2.25], [4.0, 4.0]], "best": [2.25, 4.0]}
    with pytest.raises(InvalidArgument, match=r"2 inputs; send an object keyed by.*counts, scores"):
        impl.predict(session, [[1, 2]])
    with pytest.raises(InvalidArgument, match=r"'counts' expects whole numbers \(\[\?, 2\] of"):
        impl.predict(session, {"counts": [[1.5, 2]], "scores": [[0, 0]]})


# torch 2.13 deprecates its TorchScript-based ONNX exporter (several warnings); it still works.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_exported_by_torch(tmp_path: Path) -> None:
    """A real artifact from another tool: torch's (TorchScript-based) ONNX exporter, which
    needs no onnxscript."""
    net = _trained_net(seed=4)
    torch.onnx.export(
        net,
        (torch.zeros(1, 4),),
        str(tmp_path / "net.onnx"),
        dynamo=False,
        input_names=["features"],
        output_names=["logits"],
        dynamic_axes={"features": {0: "batch"}},
    )
    impl = flavor(Flavor.ONNX)
    spec = impl.detect(tmp_path, bundle_files(tmp_path))
    assert spec == RuntimeSpec(flavor=Flavor.ONNX, model_file="net.onnx")
    session = impl.load(tmp_path, spec)
    assert np.allclose(impl.predict(session, X.tolist()), _torch_predict(net), atol=1e-5)


# -- TorchScript and PyTorch --------------------------------------------------------------------


def test_torchscript_scripted_round_trip(tmp_path: Path) -> None:
    net = _trained_net().train()  # saving scripts it in eval mode and leaves it as it was
    impl = flavor(Flavor.TORCHSCRIPT)
    assert impl.accepts(net) and not impl.accepts(_pipeline())

    spec, loaded = _round_trip(impl, net, tmp_path)

    assert net.training and not loaded.training
    assert spec.model_file == "model.pt" and impl.unsafe_format(spec) is None
    assert any(r.startswith("torch==") and "+" not in r for r in spec.requirements)
    assert np.allclose(impl.predict(loaded, X.tolist()), _torch_predict(net.eval()), atol=1e-6)


def test_torchscript_traces_what_it_cannot_script(tmp_path: Path) -> None:
    torch.manual_seed(5)
    module = Unscriptable().eval()
    impl = flavor(Flavor.TORCHSCRIPT)
    with pytest.raises(InvalidArgument, match=r"cannot be scripted.*pass example="):
        impl.save(module, tmp_path)

    _, loaded = _round_trip(impl, module, tmp_path, example=X[:2].tolist())

    assert np.allclose(impl.predict(loaded, X.tolist()), _torch_predict(module), atol=1e-6)


def test_torch_predict_says_what_the_model_takes(tmp_path: Path) -> None:
    impl = flavor(Flavor.TORCHSCRIPT)
    _, loaded = _round_trip(impl, _trained_net(), tmp_path)
    for model in (loaded, _trained_net()):  # TorchScript and eager modules alike
        with pytest.raises(
            InvalidArgument,
            match=r"tensor of shape \[2, 3\] \(float32\).*first layer \(hidden: Linear\) takes "
            r"4 features",
        ):
            impl.predict(model, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        with pytest.raises(InvalidArgument, match="expected numbers"):
            impl.predict(model, [["a", "b", "c", "d"]])
        with pytest.raises(InvalidArgument, match="differ in length"):
            impl.predict(model, [[1.0, 2.0, 3.0, 4.0], [1.0]])


def test_pytorch_state_dict_with_its_network_class(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "net.py").write_text(NET_SOURCE)
    module_spec = importlib.util.spec_from_file_location("flavor_test_net", bundle / "net.py")
    assert module_spec is not None and module_spec.loader is not None
    source = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(source)
    torch.manual_seed(6)
    net = source.Net().eval()
    impl = flavor(Flavor.PYTORCH)

    # detect finds net.py:Net by reading the files, never importing them
    spec, loaded = _round_trip(impl, net, bundle, model_class="net.py:Net")

    assert spec.model_class == "net.py:Net" and impl.unsafe_format(spec) is None
    assert np.allclose(impl.predict(loaded, X.tolist()), _torch_predict(net), atol=1e-6)
    with pytest.raises(
        InvalidArgument, match=r"net\.py defines no torch\.nn\.Module class Missing"
    ):
        impl.load(bundle, spec.model_copy(update={"model_class": "net.py:Missing"}))
    with pytest.raises(InvalidArgument, match=r"expected 'module\.py:ClassName'"):
        impl.load(bundle, spec.model_copy(update={"model_class": "Net"}))
    with pytest.raises(InvalidArgument, match=r"weights in model\.pt do not fit Net"):
        (bundle / "net.py").write_text(NET_SOURCE.replace("hidden=8", "hidden=5"))
        impl.load(bundle, spec)
    with pytest.raises(InvalidArgument, match=r"other\.py in the bundle must define class Net"):
        impl.save(net, bundle, model_class="other.py:Net")

    # without the network's file, the state_dict cannot become a model: say what to set
    (bundle / "net.py").unlink()
    alone = impl.detect(bundle, bundle_files(bundle))
    assert alone == RuntimeSpec(flavor=Flavor.PYTORCH, model_file="model.pt")
    with pytest.raises(InvalidArgument, match=r"holds a state_dict.*set runtime\.model_class"):
        impl.load(bundle, alone)


def test_pytorch_whole_pickled_module_is_flagged_unsafe(tmp_path: Path) -> None:
    net = _trained_net(seed=7)
    impl = flavor(Flavor.PYTORCH)
    spec, loaded = _round_trip(impl, net, tmp_path)
    assert spec.model_class is None
    warning = impl.unsafe_format(spec)
    assert warning is not None and "TorchScript" in warning and "state_dict" in warning
    assert np.allclose(impl.predict(loaded, X.tolist()), _torch_predict(net), atol=1e-6)
    # the other torch flavor refuses the file, naming what it is
    with pytest.raises(InvalidArgument, match=r"is a torch\.save archive.*pytorch flavor"):
        flavor(Flavor.TORCHSCRIPT).load(tmp_path, spec)


# -- Keras ------------------------------------------------------------------------------------


def test_keras_round_trip(tmp_path: Path) -> None:
    model = _keras_model()
    impl = flavor(Flavor.KERAS)
    assert impl.accepts(model) and not impl.accepts(Net())
    # a Keras model on torch is a torch module too; the torch flavors leave it alone
    assert not flavor(Flavor.TORCHSCRIPT).accepts(model)
    assert not flavor(Flavor.PYTORCH).accepts(model)

    spec, loaded = _round_trip(impl, model, tmp_path)

    assert spec.model_file == "model.keras" and impl.unsafe_format(spec) is None
    assert any(r.startswith("keras==") for r in spec.requirements)
    expected = model.predict(X, verbose=0)
    assert np.allclose(impl.predict(loaded, X.tolist()), expected, atol=1e-5)
    with pytest.raises(InvalidArgument, match=r"shape \[\?, 4\] \(float32\), got shape \[1, 3\]"):
        impl.predict(loaded, [[1.0, 2.0, 3.0]])
    with pytest.raises(InvalidArgument, match="expected numbers"):
        impl.predict(loaded, [["a", "b", "c", "d"]])

    # the legacy HDF5 format loads too
    (tmp_path / "legacy").mkdir()
    model.save(tmp_path / "legacy" / "model.h5")
    legacy = impl.detect(tmp_path / "legacy", ["model.h5"])
    assert legacy == RuntimeSpec(flavor=Flavor.KERAS, model_file="model.h5")
    from_h5 = impl.load(tmp_path / "legacy", legacy)
    assert np.allclose(impl.predict(from_h5, X.tolist()), expected, atol=1e-5)


def test_keras_named_inputs(tmp_path: Path) -> None:
    left, right = keras.Input((2,), name="left"), keras.Input((3,), name="right")
    joined = keras.layers.Concatenate()([left, right])
    model = keras.Model({"left": left, "right": right}, keras.layers.Dense(1)(joined))
    impl = flavor(Flavor.KERAS)
    _, loaded = _round_trip(impl, model, tmp_path)
    data = {"left": X[:5, :2].tolist(), "right": X[:5, 1:].tolist()}
    expected = model.predict({k: np.asarray(v) for k, v in data.items()}, verbose=0)
    assert np.allclose(impl.predict(loaded, data), expected, atol=1e-5)
    with pytest.raises(InvalidArgument, match=r"inputs left, right; missing \['right'\]"):
        impl.predict(loaded, {"left": data["left"]})
    with pytest.raises(InvalidArgument, match="2 inputs; send an object keyed by"):
        impl.predict(loaded, X[:5].tolist())


def test_keras_on_another_backend_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"")
    spec = RuntimeSpec(flavor=Flavor.KERAS, model_file="model.keras")

    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    with pytest.raises(FailedPrecondition, match="imported with the 'tensorflow' backend"):
        KerasFlavor().load(tmp_path, spec)

    # not imported yet, and KERAS_BACKEND asks for another: refused before importing keras
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(FailedPrecondition, match=r"KERAS_BACKEND is 'jax'.*KERAS_BACKEND=torch"):
        KerasFlavor().load(tmp_path, spec)
    assert "keras" not in sys.modules


# -- all of them ------------------------------------------------------------------------------


def test_each_file_is_claimed_by_its_own_flavor_only(tmp_path: Path) -> None:
    """Every flavor's detect, offered every file (and files that only look like model files)."""
    owners: dict[str, Flavor | None] = {}

    def save(owner: Flavor | None, impl: Any, model: Any, name: str, **options: Any) -> None:
        owners[impl.save(model, tmp_path, name=name, **options).model_file or ""] = owner

    save(Flavor.SKLEARN, SklearnFlavor(), _pipeline(), "joblib")
    save(Flavor.SKLEARN, SklearnFlavor(), _pipeline(), "skops", format="skops")
    save(Flavor.ONNX, flavor(Flavor.ONNX), _onnx_linear()[0], "graph")
    save(Flavor.TORCHSCRIPT, flavor(Flavor.TORCHSCRIPT), _trained_net(), "scripted")
    save(Flavor.PYTORCH, flavor(Flavor.PYTORCH), _trained_net(), "pickled")
    save(Flavor.KERAS, flavor(Flavor.KERAS), _keras_model(), "keras")
    torch.save(_trained_net().state_dict(), tmp_path / "weights.pth")
    owners["weights.pth"] = Flavor.PYTORCH
    joblib.dump(_pipeline(), tmp_path / "estimator.pkl")
    owners["estimator.pkl"] = Flavor.SKLEARN
    # look-alikes: right names, wrong contents
    (tmp_path / "todo.onnx").write_text("TODO: export the model\n")
    joblib.dump(_pipeline(), tmp_path / "sklearn.pt")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("notes.txt", "not a model")
    with zipfile.ZipFile(tmp_path / "other.skops", "w") as archive:
        archive.writestr("notes.txt", "not a model")
    owners.update(dict.fromkeys(["todo.onnx", "sklearn.pt", "other.keras", "other.skops"]))

    flavors = all_flavors()
    assert {impl.flavor for impl in flavors} == set(Flavor)
    for file, owner in owners.items():
        claimed = {impl.flavor for impl in flavors if impl.detect(tmp_path, [file]) is not None}
        assert claimed == ({owner} if owner else set()), file


def test_loading_a_missing_or_misnamed_file_says_what_to_fix(tmp_path: Path) -> None:
    for name in (Flavor.SKLEARN, Flavor.ONNX, Flavor.TORCHSCRIPT, Flavor.PYTORCH, Flavor.KERAS):
        impl = flavor(name)
        with pytest.raises(FileNotFound, match=r"model\.bin \(runtime\.model_file\) is not in"):
            impl.load(tmp_path, RuntimeSpec(flavor=name, model_file="model.bin"))
        with pytest.raises(InvalidArgument, match="outside the bundle"):
            impl.load(tmp_path, RuntimeSpec(flavor=name, model_file="../model.bin"))
    (tmp_path / "model.onnx").write_text("TODO: export the model\n")
    with pytest.raises(InvalidArgument, match=r"model\.onnx is a text file.*not an ONNX model"):
        flavor(Flavor.ONNX).load(tmp_path, RuntimeSpec(flavor=Flavor.ONNX, model_file="model.onnx"))


def test_importing_a_flavor_module_imports_no_framework() -> None:
    modules = ("sklearn", "onnx", "torch", "keras", "embedding")
    code = (
        "import sys\n"
        + "".join(f"import modelyard.runtime.flavors.{m}\n" for m in modules)
        + "heavy = ('torch', 'keras', 'onnx', 'onnxruntime', 'sklearn', 'skops', 'joblib', "
        "'numpy', 'tokenizers')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
