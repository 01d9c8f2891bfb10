"""prepare → verify → save: real tiny models, the real sandbox, a real server.

Each framework test trains a model here, prepares a bundle, verifies it in the sandbox
process, runs its ``score.py`` in a Python where modelyard cannot be imported, saves it to a
``modelyard server`` on 127.0.0.1, downloads the version again and predicts with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modelyard import Client, InvalidArgument, ModelNotFound
from modelyard.domain.runtime import CheckState, CheckStatus, Flavor
from modelyard.runtime.bundle import read_bundle
from modelyard.runtime.data import jsonable
from modelyard.runtime.predictor import load_predictor
from modelyard.runtime.prepare import PreparedBundle, prepare
from server_support import running_server

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported, as the flavor does

RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)

# -- a real server for save() ----------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    token: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``modelyard server`` in a process of its own (checks run in its worker processes)."""
    with running_server(tmp_path_factory.mktemp("prepare-server")) as running:
        yield Server(url=running.url, token=running.admin_token)


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url, server.token) as c:
        yield c


# -- models ----------------------------------------------------------------------------------


def sklearn_pipeline() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)


def torch_module() -> Any:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return net.eval()


def keras_model() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Softmax()])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


W = RNG.normal(size=(4, 2)).astype(np.float32)
B = np.array([0.5, -0.5], dtype=np.float32)


def onnx_graph() -> Any:
    """``x @ W + B`` as an ONNX graph, built node by node."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "B"], ["y"]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")],
    )
    # IR version 10: what the installed onnxruntime reads (onnx's default may be newer)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


class Threshold:
    """A plain Python model: pickled by value, since this test module is not installed."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, rows: list[list[float]]) -> list[str]:
        return ["high" if sum(row) > self.cut else "low" for row in rows]


def original_predictions(model: Any, data: Any) -> Any:
    """What the model answers in the training process, as JSON."""
    if type(model).__name__ == "ModelProto":
        return jsonable(np.asarray(data, dtype=np.float32) @ W + B)
    if isinstance(model, torch.nn.Module) and not hasattr(model, "layers"):
        with torch.no_grad():
            return jsonable(model(torch.as_tensor(np.asarray(data, dtype=np.float32))))
    if hasattr(model, "layers"):
        with warnings.catch_warnings():
            # Keras 3 on torch calls np.array(variable, copy=False), which numpy 2 warns about.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            return jsonable(model.predict(np.asarray(data, dtype=np.float32), verbose=0))
    return jsonable(model.predict(data))


def assert_same(got: Any, expected: Any) -> None:
    if isinstance(expected, list) and expected and isinstance(expected[0], str):
        assert got == expected
    else:
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)


def standalone_predict(bundle: Path, data: Any) -> Any:
    """``score.py`` run by a Python in which ``import modelyard`` fails and the tests are
    not importable: the bundle serves on its framework alone."""
    code = (
        "import json, sys\n"
        "sys.modules['modelyard'] = None\n"
        "import score\n"
        "print(json.dumps(score.predict(json.loads(sys.stdin.read()))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=bundle,
        input=json.dumps(data),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": "", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


CASES: dict[str, tuple[Callable[[], Any], Any, Flavor]] = {
    "sklearn": (sklearn_pipeline, X[:5], Flavor.SKLEARN),
    "torch": (torch_module, X[:5], Flavor.TORCHSCRIPT),
    "keras": (keras_model, X[:5], Flavor.KERAS),
    "onnx": (onnx_graph, X[:5], Flavor.ONNX),
    "python": (lambda: Threshold(0.5), X[:5].tolist(), Flavor.PYTHON),
}


@pytest.mark.parametrize("case", list(CASES))
def test_prepare_verify_save_round_trip(case: str, tmp_path: Path, client: Client) -> None:
    make, example, flavor = CASES[case]
    model = make()
    rows = X[10:17].tolist()
    expected = original_predictions(model, rows if case == "python" else np.asarray(rows))

    bundle = prepare(model, tmp_path / "bundle", example=example)
    assert bundle.runtime.flavor == flavor
    assert bundle.runtime.entry_point == "score.py"
    assert bundle.runtime.example == "input_example.json"
    assert bundle.input_schema is not None and bundle.output_schema is not None
    assert json.loads((bundle.directory / "input_example.json").read_text()) == jsonable(example)
    declared = read_bundle(bundle.directory)
    assert declared.runtime == bundle.runtime
    assert set(declared.sha256) == set(bundle.files()) - {"modelyard.yaml"}
    assert_same(standalone_predict(bundle.directory, rows), expected)

    report = bundle.verify(timeout=120)
    assert report.failures() == [], report
    assert report.state in (CheckState.PASSED, CheckState.WARNED)
    if flavor == Flavor.PYTHON:
        assert bundle.unsafe is not None
        assert any(r.status == CheckStatus.WARN and "pickle" in r.message for r in report.results)

    version = bundle.save(client, f"prepare/{case}", "1.0", description="prepared", tags=["a"])
    assert version.state == "READY"
    assert version.framework == flavor.value
    assert version.runtime == bundle.runtime
    assert version.input_schema == bundle.input_schema
    assert version.output_schema == bundle.output_schema
    assert version.info.provenance == bundle.provenance
    assert version.checks is not None and version.checks.failures() == [], version.checks
    assert version.checks.state in (CheckState.PASSED, CheckState.WARNED)
    assert sorted(a.path for a in version.artifacts()) == bundle.files()

    copy = tmp_path / "downloaded"
    version.download_all(copy)
    predictor = load_predictor(copy, version.runtime)
    assert_same(predictor.predict(rows), expected)


# -- what prepare writes ---------------------------------------------------------------------


def test_requirements_pin_what_is_installed_and_take_the_callers(tmp_path: Path) -> None:
    from importlib.metadata import version

    bundle = prepare(
        sklearn_pipeline(),
        tmp_path / "b",
        example=X[:2],
        requirements=["numpy>=1.26", "requests", "# a comment", ""],
    )
    lines = (bundle.directory / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={version('scikit-learn')}" in lines
    assert "numpy>=1.26" in lines and f"numpy=={version('numpy')}" not in lines
    assert "requests" in lines
    assert bundle.runtime.requirements == lines
    assert bundle.runtime.python_version == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_python_model_requires_what_its_pickle_imports(tmp_path: Path) -> None:
    """A plain object holding a scikit-learn estimator needs scikit-learn and cloudpickle."""
    from importlib.metadata import version

    class Wrapper:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def predict(self, rows: Any) -> Any:
            return self.inner.predict(rows)

    bundle = prepare(Wrapper(sklearn_pipeline()), tmp_path / "b", example=X[:3])
    assert bundle.runtime.flavor == Flavor.PYTHON
    assert f"scikit-learn=={version('scikit-learn')}" in bundle.runtime.requirements
    assert f"cloudpickle=={version('cloudpickle')}" in bundle.runtime.requirements
    expected = sklearn_pipeline().predict(X[:3])
    assert standalone_predict(bundle.directory, X[:3].tolist()) == expected.tolist()


def test_invalid_requirement_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="requirements: 'numpy=>1' is not a requirement"):
        prepare(Threshold(0), tmp_path / "b", requirements=["numpy=>1"])


def test_without_an_example_there_are_no_schemas(tmp_path: Path) -> None:
    bundle = prepare(sklearn_pipeline(), tmp_path / "b")
    assert (bundle.input_schema, bundle.output_schema, bundle.runtime.example) == (None, None, None)
    assert {"input_example.json", "input_schema.json"}.isdisjoint(bundle.files())
    assert_same(
        standalone_predict(bundle.directory, X[:3].tolist()), sklearn_pipeline().predict(X[:3])
    )


def test_an_example_the_model_cannot_take_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="example: the model could not predict on it") as e:
        prepare(sklearn_pipeline(), tmp_path / "b", example=[[1.0, 2.0]])
    assert e.value.field == "example"


# -- refusals --------------------------------------------------------------------------------


def test_non_empty_directory_is_refused_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "b"
    target.mkdir()
    (target / "old.txt").write_text("from before")
    with pytest.raises(InvalidArgument, match=r"is not empty.*overwrite=True") as e:
        prepare(Threshold(0), target)
    assert e.value.field == "directory"
    assert (target / "old.txt").read_text() == "from before"

    bundle = prepare(Threshold(0), target, overwrite=True)
    assert "old.txt" not in bundle.files()


def test_overwrite_never_deletes_a_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    with pytest.raises(InvalidArgument, match="git repository"):
        prepare(Threshold(0), tmp_path, overwrite=True)
    assert (tmp_path / ".git").is_dir()


def test_a_model_without_flavor_or_predict_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"no flavor can save a builtins\.dict.*predict") as e:
        prepare({"weights": [1, 2]}, tmp_path / "b")
    assert e.value.field == "model"
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_a_forced_flavor_must_fit(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="the keras flavor cannot save") as e:
        prepare(Threshold(0), tmp_path / "b", flavor="keras")
    assert e.value.field == "flavor"
    with pytest.raises(InvalidArgument, match="'tensorflow' is not a flavor"):
        prepare(Threshold(0), tmp_path / "c", flavor="tensorflow")


# -- after prepare ---------------------------------------------------------------------------


def test_verify_checks_the_edited_bundle(tmp_path: Path) -> None:
    """ADS: edit score.py, then verify. The edit is what gets checked (and hashed)."""
    bundle = prepare(Threshold(0.5), tmp_path / "b", example=[[1.0, 2.0]])
    score = bundle.directory / "score.py"
    score.write_text(
        score.read_text().replace(
            "def predict(data, model=None):\n",
            "def predict(data, model=None):\n    raise RuntimeError('edited to fail')\n",
        )
    )
    report = bundle.verify(timeout=60)
    failed = report.failures()
    assert failed and any("edited to fail" in r.message for r in failed), report
    assert read_bundle(bundle.directory).sha256["score.py"] == sha256_of(score)


def sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_provenance_from_the_training_scripts_repository(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "train.py").write_text("# trains\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "x"], check=True)
    subprocess.run(
        [*git, "remote", "add", "origin", "https://bob:hunter2@git.example.com/ml/churn.git"],
        check=True,
    )
    bundle = prepare(
        Threshold(0),
        repo / "bundle",
        training_script=repo / "train.py",
        provenance={"parent_run": "run-42"},
    )
    found = bundle.provenance
    assert found.repo == "https://git.example.com/ml/churn.git"
    assert found.script == "train.py" and found.dirty is False and found.parent_run == "run-42"
    assert found.commit and len(found.commit) == 40


def test_save_to_a_missing_model_without_create_model(tmp_path: Path, client: Client) -> None:
    bundle = prepare(Threshold(0), tmp_path / "b")
    with pytest.raises(ModelNotFound, match="create_model=True"):
        bundle.save(client, "prepare/never-created", create_model=False)


def test_prepared_bundle_is_what_the_flow_returns(tmp_path: Path) -> None:
    bundle = prepare(Threshold(0), tmp_path / "b")
    assert isinstance(bundle, PreparedBundle)
    assert repr(bundle) == f"<PreparedBundle {tmp_path / 'b'} flavor=python>"


class TwoHeads(torch.nn.Module):
    """Not scriptable (``*extra``): prepare traces it on the example instead."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.heads = torch.nn.ModuleList([torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)])

    def forward(self, x: Any, *extra: Any) -> Any:
        return sum(head(x) for head in self.heads)


def test_a_module_that_cannot_be_scripted_is_traced_on_the_example(tmp_path: Path) -> None:
    model = TwoHeads().eval()
    with pytest.raises(InvalidArgument, match=r"cannot be scripted.*example=") as e:
        prepare(model, tmp_path / "no-example")
    assert e.value.field == "model"
    assert not (tmp_path / "no-example").exists()

    bundle = prepare(model, tmp_path / "b", example=torch.as_tensor(X[:3]))
    assert bundle.runtime.flavor == Flavor.TORCHSCRIPT and bundle.unsafe is None
    expected = original_predictions(model, X[5:9])
    assert_same(standalone_predict(bundle.directory, X[5:9].tolist()), expected)


def test_forced_pytorch_pickles_the_whole_module(tmp_path: Path) -> None:
    model = torch_module()
    bundle = prepare(model, tmp_path / "b", example=X[:2], flavor="pytorch")
    assert (bundle.runtime.flavor, bundle.runtime.model_file) == (Flavor.PYTORCH, "model.pt")
    assert bundle.unsafe is not None and "pickle" in bundle.unsafe
    expected = original_predictions(model, X[5:9])
    assert_same(standalone_predict(bundle.directory, X[5:9].tolist()), expected)


def test_a_data_frame_example_is_served_as_records(tmp_path: Path) -> None:
    """A pipeline that selects columns by name: score.py rebuilds the DataFrame."""
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.DataFrame(
        {
            "age": X[:, 0] * 10 + 40,
            "plan": np.where(X[:, 1] > 0, "pro", "free"),
            "usage": X[:, 2],
        }
    )
    columns = make_column_transformer(
        (StandardScaler(), ["age", "usage"]), (OneHotEncoder(), ["plan"])
    )
    model = make_pipeline(columns, LogisticRegression()).fit(frame, Y)
    bundle = prepare(model, tmp_path / "b", example=frame.head(3))
    records = json.loads((bundle.directory / "input_example.json").read_text())
    assert records[0] == {"age": frame.age[0], "plan": frame.plan[0], "usage": frame.usage[0]}
    assert any(line.startswith("pandas==") for line in bundle.runtime.requirements)
    rows = frame.iloc[10:20].to_dict(orient="records")
    assert standalone_predict(bundle.directory, rows) == model.predict(frame.iloc[10:20]).tolist()
    report = bundle.verify(timeout=120)
    assert report.failures() == [], report


def test_skops_format_is_safe(tmp_path: Path) -> None:
    from modelyard.runtime.flavors.sklearn import SklearnFlavor

    model = sklearn_pipeline()
    bundle = prepare(model, tmp_path / "b", example=X[:2], flavor=SklearnFlavor(format="skops"))
    assert bundle.runtime.model_file == "model.skops" and bundle.unsafe is None
    assert any(line.startswith("skops==") for line in bundle.runtime.requirements)
    assert standalone_predict(bundle.directory, X[5:9].tolist()) == model.predict(X[5:9]).tolist()


def test_a_failed_upload_leaves_a_failed_version(tmp_path: Path, client: Client) -> None:
    bundle = prepare(Threshold(0), tmp_path / "b")
    (bundle.directory / "notes\\draft.txt").write_text("a name the registry refuses")
    with pytest.raises(InvalidArgument):
        bundle.save(client, "prepare/refused", "1.0")
    version = client.get_model("prepare/refused").get_version("1.0")
    assert version.state == "FAILED"
    assert "stopped before the version was finished" in (version.info.status_message or "")
