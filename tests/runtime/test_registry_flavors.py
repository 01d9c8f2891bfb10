"""Every flavor through the registry: a tiny real model, built here, is registered through the
SDK, the server's checks pass (or only warn, for pickles), and after downloading the version
its predictions equal the original model's."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import onnx
import sklearn
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelyard import Client
from modelyard.domain.runtime import CheckState, CheckStatus, Flavor, RuntimeSpec
from modelyard.runtime.flavors import flavor
from modelyard.runtime.flavors.sklearn import SklearnFlavor
from modelyard.runtime.predictor import load_predictor

pytestmark = pytest.mark.filterwarnings(
    # Keras 3 on torch calls np.array(variable, copy=False) when fitting and predicting.
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

RNG = np.random.default_rng(11)
X = RNG.normal(size=(32, 4)).astype("float32")
Y = (X[:, 0] - X[:, 2] > 0).astype(int)
EXAMPLE = X[:5].tolist()


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.layer(x), dim=-1)


NET_PY = dedent(
    """\
    import torch


    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 3)

        def forward(self, x):
            return torch.softmax(self.layer(x), dim=-1)
    """
)


def _example(bundle: Path) -> None:
    (bundle / "input_example.json").write_text(json.dumps(EXAMPLE))


def _sklearn(fmt: str) -> Callable[[Path], tuple[Any, RuntimeSpec | None]]:
    def build(bundle: Path) -> tuple[Any, RuntimeSpec | None]:
        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
        SklearnFlavor(format=fmt).save(model, bundle)
        return model.predict(X).tolist(), None

    return build


def _onnx(bundle: Path) -> tuple[Any, RuntimeSpec | None]:
    weights = RNG.normal(size=(4, 2)).astype("float32")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(bundle / "model.onnx"))
    return (X @ weights).tolist(), None


def _torch_expected(net: torch.nn.Module) -> Any:
    with torch.no_grad():
        return net(torch.from_numpy(X)).numpy().tolist()


def _torchscript(bundle: Path) -> tuple[Any, RuntimeSpec | None]:
    torch.manual_seed(0)
    net = Net().eval()
    flavor(Flavor.TORCHSCRIPT).save(net, bundle)
    return _torch_expected(net), None


def _pytorch(bundle: Path) -> tuple[Any, RuntimeSpec | None]:
    torch.manual_seed(1)
    net = Net().eval()
    (bundle / "net.py").write_text(NET_PY)
    torch.save(net.state_dict(), bundle / "weights.pt")
    spec = RuntimeSpec(
        flavor=Flavor.PYTORCH,
        model_file="weights.pt",
        model_class="net.py:Net",
        example="input_example.json",
    )
    return _torch_expected(net), spec


def _keras(bundle: Path) -> tuple[Any, RuntimeSpec | None]:
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    flavor(Flavor.KERAS).save(model, bundle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return model.predict(X, verbose=0).tolist(), None


def _python(bundle: Path) -> tuple[Any, RuntimeSpec | None]:
    """ADS's score.py convention around a model that is just JSON weights."""
    weights = RNG.normal(size=4).round(3).tolist()
    (bundle / "weights.json").write_text(json.dumps(weights))
    (bundle / "score.py").write_text(
        dedent(
            """\
            import json
            import os


            def load_model():
                with open(os.path.join(os.path.dirname(__file__), "weights.json")) as f:
                    return json.load(f)


            def predict(data, model=None):
                weights = load_model() if model is None else model
                return [sum(w * x for w, x in zip(weights, row)) for row in data]
            """
        )
    )
    return [sum(w * float(x) for w, x in zip(weights, row, strict=True)) for row in X], None


def _gesund(bundle: Path) -> tuple[Any, RuntimeSpec | None]:
    """Gesund's layout: model.py with GesundModel, pre/post-processing, a pydantic schema."""
    model = LogisticRegression().fit(X, Y)
    SklearnFlavor(format="skops").save(model, bundle)
    files = {
        "model.py": """\
            import skops.io

            from .postprocess import Postprocess
            from .preprocess import Preprocess


            class GesundModel:
                def __init__(self, model_path):
                    self.model_path = model_path
                    self.preprocess = Preprocess()
                    self.postprocess = Postprocess()

                def load(self):
                    self.model = skops.io.load(self.model_path, trusted=[])

                def predict(self, data):
                    return self.model.predict_proba(data)
            """,
        "preprocess.py": """\
            import numpy as np


            class Preprocess:
                def __call__(self, data):
                    return np.asarray(data, dtype="float32")
            """,
        "postprocess.py": """\
            class Postprocess:
                def __call__(self, probabilities):
                    return [
                        {"label": int(p.argmax()), "confidence": float(p.max())}
                        for p in probabilities
                    ]
            """,
        "schema.py": """\
            from pydantic import BaseModel


            class Response(BaseModel):
                label: int
                confidence: float
            """,
        "loss.py": "def loss(y, y_hat):\n    return float(((y - y_hat) ** 2).mean())\n",
        "reqs.txt": "scikit-learn>=1.4\nskops>=0.10\npydantic>=2\n",
    }
    for name, text in files.items():
        (bundle / name).write_text(dedent(text))
    probabilities = model.predict_proba(X)
    expected = [{"label": int(p.argmax()), "confidence": float(p.max())} for p in probabilities]
    return expected, None


def _mlflow(bundle: Path) -> tuple[Any, RuntimeSpec | None]:
    """A directory that MLflow itself wrote (mlflow.sklearn.save_model)."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    model = LogisticRegression().fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow warns about pickles, pip and its own future
        # Requirements given, not inferred: after the whole suite has run in this process,
        # MLflow's inference once listed a package the checks' environment lacks.
        mlflow_sklearn.save_model(
            model,
            str(bundle / "mlflow_model"),
            serialization_format="pickle",
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        )
    return model.predict(X).tolist(), None


BUILDERS: dict[str, Callable[[Path], tuple[Any, RuntimeSpec | None]]] = {
    "sklearn-joblib": _sklearn("joblib"),
    "sklearn-skops": _sklearn("skops"),
    "onnx": _onnx,
    "torchscript": _torchscript,
    "pytorch": _pytorch,
    "keras": _keras,
    "python": _python,
    "gesund": _gesund,
    "mlflow": _mlflow,
}
#: The flavor the server records for each (detected, or given for the state_dict).
FLAVORS = {
    "sklearn-joblib": Flavor.SKLEARN,
    "sklearn-skops": Flavor.SKLEARN,
    "onnx": Flavor.ONNX,
    "torchscript": Flavor.TORCHSCRIPT,
    "pytorch": Flavor.PYTORCH,
    "keras": Flavor.KERAS,
    "python": Flavor.PYTHON,
    "gesund": Flavor.GESUND,
    "mlflow": Flavor.MLFLOW,
}
#: Pickle-based formats pass with a WARN on model_file.safe; everything else passes clean.
PICKLED = {"sklearn-joblib", "mlflow"}


@pytest.mark.parametrize("case", list(BUILDERS))
def test_a_model_round_trips_through_the_registry(
    client: Client, tmp_path: Path, case: str
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    expected, spec = BUILDERS[case](bundle)
    _example(bundle)
    model = client.new_model(f"flavor-{case}")
    version = model.new_model_version("1", artifacts=[bundle], runtime=spec).finish()

    report = version.wait_for_checks(timeout=180)
    problems = [r for r in report.results if r.status in (CheckStatus.FAIL, CheckStatus.WARN)]
    if case in PICKLED:
        assert report.state == CheckState.WARNED, report
        assert [r.id for r in problems] == ["model_file.safe"], problems
    else:
        assert report.state == CheckState.PASSED, problems
    assert next(r for r in report.results if r.id == "predict.example").status == CheckStatus.PASS
    runtime = version.runtime
    assert runtime is not None and runtime.flavor == FLAVORS[case]

    copy = tmp_path / "copy"
    version.download_all(copy)
    predicted = load_predictor(copy, runtime).predict(X.tolist())
    if isinstance(expected[0], dict):
        assert [p["label"] for p in predicted] == [e["label"] for e in expected]
        assert np.allclose(
            [p["confidence"] for p in predicted], [e["confidence"] for e in expected], atol=1e-6
        )
    else:
        assert np.allclose(np.asarray(predicted, dtype="float64"), expected, atol=1e-5)
