"""A good bundle of every flavor passes the checks in a worker process: the model is trained or
built in the test, saved the way its framework saves it, and predicted on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest
from checks_support import EXAMPLE, trained

from modelyard.domain.runtime import CheckState, CheckStatus, Flavor, RuntimeSpec
from modelyard.runtime.bundle import write_bundle
from modelyard.runtime.flavors import flavor
from modelyard.runtime.sandbox import check_bundle


def _saved(name: Flavor, model: object, bundle: Path, **options: str) -> None:
    impl = flavor(name) if not options else type(flavor(name))(**options)  # type: ignore[call-arg]
    write_bundle(bundle, impl.save(model, bundle).model_copy(update={"example": None}))


def sklearn_joblib(bundle: Path) -> None:
    _saved(Flavor.SKLEARN, trained(), bundle)


def sklearn_skops(bundle: Path) -> None:
    _saved(Flavor.SKLEARN, trained(), bundle, format="skops")


def onnx_linear(bundle: Path) -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.eye(4, 2, dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    _saved(Flavor.ONNX, model, bundle)


def torchscript_linear(bundle: Path) -> None:
    import torch

    torch.manual_seed(0)
    _saved(Flavor.TORCHSCRIPT, torch.nn.Sequential(torch.nn.Linear(4, 2)), bundle)


NET = dedent(
    """\
    import torch


    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.linear(x)
    """
)


def pytorch_state_dict(bundle: Path) -> None:
    (bundle / "net.py").write_text(NET)
    script = f"""\
import sys, torch
sys.path.insert(0, {str(bundle)!r})
from net import Net
torch.manual_seed(0)
torch.save(Net().state_dict(), {str(bundle / "model.pt")!r})
"""
    subprocess.run([sys.executable, "-c", script], check=True)
    spec = RuntimeSpec(flavor=Flavor.PYTORCH, model_file="model.pt", model_class="net.py:Net")
    write_bundle(bundle, spec)


def keras_dense(bundle: Path) -> None:
    """Made in a process of its own: Keras picks its backend once per process."""
    script = f"""\
import os
os.environ["KERAS_BACKEND"] = "torch"
import keras
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
model.save({str(bundle / "model.keras")!r})
"""
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)


def python_score(bundle: Path) -> None:
    (bundle / "score.py").write_text(
        dedent(
            """\
            def load_model():
                return {"weights": [0.5, -0.25, 1.0, 0.0]}


            def predict(data, model=None):
                return [sum(w * x for w, x in zip(model["weights"], row)) for row in data]
            """
        )
    )


def gesund_bundle(bundle: Path) -> None:
    import skops.io

    skops.io.dump(trained(), bundle / "model.skops")
    (bundle / "model.py").write_text(
        dedent(
            """\
            import skops.io


            class GesundModel:
                def __init__(self, model_path):
                    self.model = skops.io.load(model_path, trusted=[])

                def predict(self, data):
                    return self.model.predict(data)
            """
        )
    )
    (bundle / "postprocess.py").write_text(
        "def postprocess(labels):\n    return [{'label': int(x)} for x in labels]\n"
    )
    (bundle / "reqs.txt").write_text("scikit-learn>=1.4\nskops>=0.10\n")


def mlflow_sklearn(bundle: Path) -> None:
    """A real MLflow artifact, saved by mlflow in a process of its own (its import advises
    through warnings this suite would turn into errors)."""
    import skops.io

    skops.io.dump(trained(), bundle.parent / "estimator.skops")
    script = f"""\
import skops.io, mlflow.sklearn
model = skops.io.load({str(bundle.parent / "estimator.skops")!r}, trusted=[])
mlflow.sklearn.save_model(model, {str(bundle)!r}, pip_requirements=["scikit-learn"])
"""
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)


BUNDLES: dict[str, tuple[Callable[[Path], None], Flavor, set[str]]] = {
    # name: (how to build it, the flavor the checks find, the checks that may WARN)
    "sklearn-joblib": (sklearn_joblib, Flavor.SKLEARN, {"model_file.safe"}),
    "sklearn-skops": (sklearn_skops, Flavor.SKLEARN, set()),
    "onnx": (onnx_linear, Flavor.ONNX, set()),
    "torchscript": (torchscript_linear, Flavor.TORCHSCRIPT, set()),
    "pytorch-state-dict": (pytorch_state_dict, Flavor.PYTORCH, set()),
    "keras": (keras_dense, Flavor.KERAS, set()),
    "python": (python_score, Flavor.PYTHON, set()),
    "gesund": (gesund_bundle, Flavor.GESUND, set()),
    # mlflow pins itself in requirements.txt; where only mlflow-skinny is installed, WARN
    "mlflow": (mlflow_sklearn, Flavor.MLFLOW, {"requirements.satisfied"}),
}


@pytest.mark.parametrize("name", list(BUNDLES))
def test_every_flavor_passes_its_checks(tmp_path: Path, name: str) -> None:
    build, expected_flavor, may_warn = BUNDLES[name]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    build(bundle)
    (bundle / "input_example.json").write_text(json.dumps(EXAMPLE))
    start = time.monotonic()

    report = check_bundle(bundle, timeout=120)

    took = time.monotonic() - start
    results = {r.id: r for r in report.results}
    assert report.runtime is not None and report.runtime.flavor == expected_flavor
    assert report.state != CheckState.FAILED, [r for r in report.results if r.status == "FAIL"]
    warned = {r.id for r in report.results if r.status == CheckStatus.WARN}
    assert warned <= may_warn, [results[w] for w in warned]
    assert results["model.loads"].status == CheckStatus.PASS
    assert results["predict.example"].status == CheckStatus.PASS
    assert report.output_schema is not None
    slowest = max(report.results, key=lambda r: r.duration_ms)
    print(f"\n{name}: {took:.1f} s; slowest {slowest.id} {slowest.duration_ms} ms")
