"""MLflow model directories: saved by mlflow itself, and written by hand without it.

mlflow is a test dependency (the ``test`` extra). Models saved with ``mlflow.sklearn`` and
``mlflow.pyfunc`` are detected, loaded and predicted through ``load_predictor``; their answers
must equal the model's own. The sklearn flavor must load with mlflow unimportable (a hand-written
MLmodel and ``sys.modules["mlflow"] = None``); a custom pyfunc must then say it needs mlflow.
"""

from __future__ import annotations

import json
import pickle
import sys
import textwrap
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import FailedPrecondition, InvalidArgument
from modelyard.runtime.detect import detect
from modelyard.runtime.flavors import flavor
from modelyard.runtime.predictor import load_predictor

RNG = np.random.default_rng(11)
X = RNG.normal(size=(40, 3))
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
SKLEARN = f"scikit-learn=={metadata.version('scikit-learn')}"


@contextmanager
def mlflow_advice() -> Iterator[None]:
    """Swallow the UserWarnings mlflow's own code gives, and only those.

    mlflow advises through UserWarnings: on import ("Any type hint is inferred as AnyType", for
    its own pydantic types), and when a PythonModel is defined or saved ("Add type hints to the
    predict method"). It shows some of them inside ``warnings.simplefilter("once")`` of its own
    (``filter_user_warnings_once``), which overrides an "ignore" filter, so they are recorded
    here instead; any other warning fails the test as pytest's filterwarnings=error would.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    others = [w for w in caught if not (w.category is UserWarning and "mlflow" in w.filename)]
    assert not others, [str(w.message) for w in others]


@pytest.fixture(scope="module")
def mlflow() -> ModuleType:
    with mlflow_advice():
        import mlflow.pyfunc
        import mlflow.sklearn
    return mlflow


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    return LogisticRegression().fit(X, Y)


def _rows(n: int = 8) -> list[list[float]]:
    return X[:n].tolist()


# -- saved by mlflow ----------------------------------------------------------------------------


def test_mlflow_sklearn_model_detects_loads_and_predicts(
    tmp_path: Path, mlflow: ModuleType, classifier: LogisticRegression
):
    """mlflow.sklearn.save_model as shipped (skops, an input example), explicit requirements so
    the test does not wait for mlflow's requirement inference."""
    mlflow.sklearn.save_model(classifier, tmp_path, input_example=X[:2], pip_requirements=[SKLEARN])

    spec = detect(tmp_path)

    assert spec.flavor == Flavor.MLFLOW
    assert spec.model_file == "model.skops"
    assert spec.python_version == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"mlflow=={mlflow.__version__}" in spec.requirements and SKLEARN in spec.requirements
    assert spec.conda_env == "conda.yaml"
    assert spec.example == "serving_input_example.json"
    assert flavor(Flavor.MLFLOW).unsafe_format(spec) is None  # skops stores no code

    predictor = load_predictor(tmp_path, spec)

    assert predictor.predict(_rows()) == classifier.predict(X[:8]).tolist()
    example = json.loads((tmp_path / spec.example).read_text())  # {"inputs": [[...], [...]]}
    assert predictor.predict(example) == classifier.predict(X[:2]).tolist()


@pytest.mark.parametrize("serialization", ["pickle", "cloudpickle"])
def test_mlflow_sklearn_pickles_load_and_are_flagged(
    tmp_path: Path, mlflow: ModuleType, classifier: LogisticRegression, serialization: str
):
    with mlflow_advice():
        mlflow.sklearn.save_model(
            classifier, tmp_path, serialization_format=serialization, pip_requirements=[SKLEARN]
        )
    spec = detect(tmp_path)
    assert spec.model_file == "model.pkl"
    assert "serialization_format='skops'" in flavor(Flavor.MLFLOW).unsafe_format(spec)
    assert load_predictor(tmp_path, spec).predict(_rows()) == classifier.predict(X[:8]).tolist()


def test_mlflow_model_one_directory_down(
    tmp_path: Path, mlflow: ModuleType, classifier: LogisticRegression
):
    """A run's artifacts uploaded whole: README at the top, the model in model/."""
    mlflow.sklearn.save_model(classifier, tmp_path / "model", pip_requirements=[SKLEARN])
    (tmp_path / "README.md").write_text("churn model\n")

    spec = detect(tmp_path)

    assert (spec.model_file, spec.conda_env) == ("model/model.skops", "model/conda.yaml")
    assert SKLEARN in spec.requirements
    assert load_predictor(tmp_path, spec).predict(_rows(3)) == classifier.predict(X[:3]).tolist()


class Scaled:
    """A custom pyfunc's predict: row sums times a factor, for data frames and arrays alike."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, model_input: Any) -> Any:
        return np.asarray(model_input, dtype=float).sum(axis=1) * self.factor


def test_mlflow_custom_pyfunc_loads_through_mlflow(tmp_path: Path, mlflow: ModuleType):
    with mlflow_advice():

        class RowSums(mlflow.pyfunc.PythonModel):
            def __init__(self) -> None:
                self.scaled = Scaled(2.0)

            def predict(self, context, model_input, params=None):
                return self.scaled(model_input)

        mlflow.pyfunc.save_model(tmp_path, python_model=RowSums(), pip_requirements=["numpy"])

    spec = detect(tmp_path)
    assert spec.model_file == "python_model.pkl"
    assert "save the model as code" in flavor(Flavor.MLFLOW).unsafe_format(spec)

    predictor = load_predictor(tmp_path, spec)

    expected = (X[:4].sum(axis=1) * 2.0).tolist()
    assert predictor.predict(_rows(4)) == pytest.approx(expected)
    split = {"dataframe_split": {"columns": ["a", "b", "c"], "data": _rows(4)}}
    assert predictor.predict(split) == pytest.approx(expected)
    records = [dict(zip("abc", row, strict=True)) for row in _rows(4)]
    assert predictor.predict({"dataframe_records": records}) == pytest.approx(expected)


# -- written by hand, loaded without mlflow ---------------------------------------------------


def _hand_written(directory: Path, model: Any, flavors: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "model.pkl").open("wb") as f:
        pickle.dump(model, f)
    (directory / "MLmodel").write_text(textwrap.dedent(flavors).lstrip())
    (directory / "requirements.txt").write_text(f"mlflow\n{SKLEARN}\n")
    (directory / "python_env.yaml").write_text(
        "python: 3.11.7\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
    )
    return directory


SKLEARN_MLMODEL = """
    flavors:
      python_function:
        env:
          virtualenv: python_env.yaml
        loader_module: mlflow.sklearn
        model_path: model.pkl
        predict_fn: predict
        python_version: 3.11.7
      sklearn:
        code: null
        pickled_model: model.pkl
        serialization_format: pickle
        sklearn_version: 1.9.1
    mlflow_version: 2.9.2
"""


@pytest.fixture
def without_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import mlflow`` fails, as where it is not installed."""
    for name in [n for n in sys.modules if n == "mlflow" or n.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)


@pytest.mark.usefixtures("without_mlflow")
def test_hand_written_sklearn_mlmodel_loads_without_mlflow(
    tmp_path: Path, classifier: LogisticRegression
):
    _hand_written(tmp_path, classifier, SKLEARN_MLMODEL)

    spec = detect(tmp_path)

    assert spec == RuntimeSpec(
        flavor=Flavor.MLFLOW,
        model_file="model.pkl",
        python_version="3.11",
        requirements=["mlflow", SKLEARN],
    )
    predictor = load_predictor(tmp_path, spec)
    assert predictor.predict(_rows()) == classifier.predict(X[:8]).tolist()
    with pytest.raises(ImportError):  # the fixture works: mlflow really is not importable
        import mlflow  # noqa: F401


@pytest.mark.usefixtures("without_mlflow")
def test_pyfunc_with_the_sklearn_loader_and_its_predict_fn(
    tmp_path: Path, classifier: LogisticRegression
):
    """Only a python_function flavor whose loader is mlflow.sklearn, predicting probabilities."""
    _hand_written(
        tmp_path,
        classifier,
        """
        flavors:
          python_function:
            loader_module: mlflow.sklearn
            model_path: model.pkl
            predict_fn: predict_proba
        """,
    )
    predictor = load_predictor(tmp_path, detect(tmp_path))
    assert predictor.predict(_rows(5)) == classifier.predict_proba(X[:5]).tolist()


@pytest.mark.usefixtures("without_mlflow")
def test_custom_pyfunc_without_mlflow_says_to_install_it(tmp_path: Path):
    _hand_written(
        tmp_path,
        Scaled(1.0),
        """
        flavors:
          python_function:
            loader_module: mlflow.pyfunc.model
            python_model: model.pkl
        """,
    )
    with pytest.raises(FailedPrecondition, match="mlflow is not installed: add mlflow") as raised:
        load_predictor(tmp_path, detect(tmp_path))
    assert raised.value.field == "requirements"


def test_mlmodel_with_no_flavor_modelyard_reads(tmp_path: Path):
    (tmp_path / "MLmodel").write_text("flavors:\n  keras:\n    data: data\n")
    spec = detect(tmp_path)
    assert spec == RuntimeSpec(flavor=Flavor.MLFLOW, model_file="MLmodel")
    with pytest.raises(InvalidArgument, match=r"no flavor modelyard can load .*found: keras"):
        load_predictor(tmp_path, spec)


def test_mlmodel_that_is_not_yaml_is_detected_and_fails_to_load(tmp_path: Path):
    (tmp_path / "MLmodel").write_text("flavors: [unclosed\n")
    spec = detect(tmp_path)
    assert spec.model_file == "MLmodel"
    with pytest.raises(InvalidArgument, match="MLmodel is not valid YAML"):
        load_predictor(tmp_path, spec)


def test_mlmodel_naming_a_missing_model_file(tmp_path: Path, classifier: LogisticRegression):
    _hand_written(tmp_path, classifier, SKLEARN_MLMODEL)
    spec = detect(tmp_path)
    (tmp_path / "model.pkl").unlink()
    with pytest.raises(InvalidArgument, match=r"model.pkl, the model file MLmodel names"):
        load_predictor(tmp_path, spec)
