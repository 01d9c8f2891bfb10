"""MLflow model directories: an ``MLmodel`` file and the artifacts it names.

- The ``sklearn`` flavor (and ``python_function`` with ``loader_module: mlflow.sklearn``) loads
  without mlflow: ``pickled_model`` is read in its ``serialization_format`` (``skops`` with the
  ``skops_trusted_types`` the file lists, ``cloudpickle``, or ``pickle``; code saved under
  ``code`` is importable while it loads), and ``predict_fn`` (default ``predict``) predicts.
- Any other ``python_function`` model (a custom ``PythonModel`` in ``python_model.pkl``, models
  from code, another ``loader_module``) is loaded by ``mlflow.pyfunc.load_model``, so mlflow
  (or mlflow-skinny) must be installed; pickled ones load as if
  ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true`` (the checks flag the pickle instead).

``RuntimeSpec.model_file`` is the artifact the MLmodel file names (``model.pkl``,
``model.skops``, ``python_model.pkl``), or the ``MLmodel`` file itself when it names none; the
``MLmodel`` file is the one next to it. A request's data is JSON in modelyard's shapes (a list
of rows, records, an object of named columns) or in MLflow's scoring protocol
(``{"inputs": ...}``, ``{"instances": ...}``, ``{"dataframe_split": ...}``,
``{"dataframe_records": ...}``, and the ``{"columns": ..., "data": ...}`` of MLflow's input
examples): rows become a numpy array, records and columns a pandas data frame.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import FailedPrecondition, InvalidArgument
from modelyard.runtime.bundle import bundle_code
from modelyard.runtime.data import as_array, jsonable
from modelyard.runtime.flavors.base import FlavorImpl

MLMODEL_FILE = "MLmodel"
SKLEARN_LOADER = "mlflow.sklearn"
#: MLflow's scoring protocol: a request is an object with one of these keys.
ENVELOPES = ("dataframe_split", "dataframe_records", "inputs", "instances")
_PICKLED = {"pickle", "cloudpickle"}


@dataclass(frozen=True, kw_only=True)
class MlflowModel:
    """A loaded MLflow model: a scikit-learn estimator (``method`` names its predict function)
    or an ``mlflow.pyfunc.PyFuncModel``."""

    model: Any
    method: str
    pyfunc: bool


class MlflowFlavor(FlavorImpl):
    flavor = Flavor.MLFLOW

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        found = [f for f in files if PurePosixPath(f).name == MLMODEL_FILE and f.count("/") <= 1]
        if not found:
            return None
        mlmodel = min(found, key=lambda f: (f.count("/"), f))
        base = PurePosixPath(mlmodel).parent
        try:
            flavors = read_mlmodel(bundle / mlmodel)
        except InvalidArgument:  # the checks say what is wrong with it
            return RuntimeSpec(flavor=Flavor.MLFLOW, model_file=mlmodel)
        artifact = _artifact(flavors)
        model_file = (base / artifact).as_posix() if artifact else None
        pyfunc = flavors.get("python_function") or {}
        python = pyfunc.get("python_version")
        return RuntimeSpec(
            flavor=Flavor.MLFLOW,
            model_file=model_file if model_file in files else mlmodel,
            python_version=".".join(str(python).split(".")[:2]) if python else None,
        )

    def load(self, bundle: Path, spec: RuntimeSpec) -> MlflowModel:
        mlmodel = mlmodel_path(bundle, spec)
        directory = mlmodel.parent
        flavors = read_mlmodel(mlmodel)
        sklearn = flavors.get("sklearn")
        pyfunc = flavors.get("python_function")
        if isinstance(sklearn, dict) and sklearn.get("pickled_model"):
            method = (pyfunc or {}).get("predict_fn") or "predict"
            return MlflowModel(model=_load_sklearn(directory, sklearn), method=method, pyfunc=False)
        if isinstance(pyfunc, dict) and pyfunc.get("loader_module") == SKLEARN_LOADER:
            path = pyfunc.get("model_path") or ""
            conf = {
                "pickled_model": path,
                "serialization_format": "skops" if path.endswith(".skops") else "pickle",
                "code": pyfunc.get("code"),
            }
            method = pyfunc.get("predict_fn") or "predict"
            return MlflowModel(model=_load_sklearn(directory, conf), method=method, pyfunc=False)
        if isinstance(pyfunc, dict):
            return MlflowModel(model=_load_pyfunc(directory, pyfunc), method="predict", pyfunc=True)
        raise InvalidArgument(
            f"{_relative(mlmodel, bundle)} has no flavor modelyard can load (found: "
            f"{', '.join(map(str, flavors)) or 'none'}); it reads 'sklearn' and "
            "'python_function'. Save the model with mlflow.sklearn or mlflow.pyfunc",
            field="model_file",
        )

    def predict(self, model: MlflowModel, data: Any) -> Any:
        inputs = model_input(data)
        return jsonable(getattr(model.model, model.method)(inputs))

    def unsafe_format(self, spec: RuntimeSpec) -> str | None:
        path = PurePosixPath(spec.model_file or "")
        if path.suffix.lower() != ".pkl":
            return None
        instead = (
            "save the model as code (mlflow.pyfunc.save_model(python_model='model.py'))"
            if path.name == "python_model.pkl"
            else "save it with mlflow.sklearn.save_model(..., serialization_format='skops')"
        )
        return (
            f"{spec.model_file} is a pickle (MLflow's pickle/cloudpickle serialization): loading "
            f"it runs code stored in the file. Load it only from people you trust, or {instead}"
        )


def mlmodel_path(bundle: Path, spec: RuntimeSpec) -> Path:
    """The ``MLmodel`` file ``spec`` means: ``model_file`` itself or the one next to it."""
    if spec.model_file is None:
        raise InvalidArgument(
            "runtime.model_file must name the MLmodel file (or the artifact next to it) of an "
            "mlflow bundle",
            field="model_file",
        )
    path = bundle / spec.model_file
    mlmodel = path if path.name == MLMODEL_FILE else path.parent / MLMODEL_FILE
    if not mlmodel.is_file():
        raise InvalidArgument(
            f"{_relative(mlmodel, bundle)} is missing: an mlflow bundle is a directory saved by "
            "mlflow (mlflow.sklearn.save_model / mlflow.pyfunc.save_model) with its MLmodel file",
            field="model_file",
        )
    return mlmodel


def read_mlmodel(path: Path) -> dict[str, Any]:
    """The ``flavors`` mapping of an ``MLmodel`` file (YAML, read statically)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            f"{path.name} is not valid YAML ({exc}); save the model again with mlflow",
            field="model_file",
        ) from exc
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    if not isinstance(flavors, dict):
        raise InvalidArgument(
            f"{path.name} has no 'flavors' mapping; it is not an MLflow model's MLmodel file",
            field="model_file",
        )
    return flavors


def _artifact(flavors: Mapping[str, Any]) -> str | None:
    """The file the MLmodel's flavors name as the model's bytes."""
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, dict) and sklearn.get("pickled_model"):
        return str(sklearn["pickled_model"])
    pyfunc = flavors.get("python_function")
    if isinstance(pyfunc, dict):
        for key in ("python_model", "model_path"):
            if pyfunc.get(key):
                return str(pyfunc[key])
    return None


def _load_sklearn(directory: Path, conf: Mapping[str, Any]) -> Any:
    path = directory / str(conf["pickled_model"])
    if not path.is_file():
        raise InvalidArgument(
            f"{path.name}, the model file MLmodel names, is missing from {directory.name or '.'}",
            field="model_file",
        )
    fmt = conf.get("serialization_format") or "pickle"
    code = conf.get("code")
    with bundle_code(directory / str(code)) if code else nullcontext():
        if fmt == "skops":
            import skops.io

            return skops.io.load(path, trusted=conf.get("skops_trusted_types"))
        if fmt in _PICKLED:
            loads = pickle.load
            if fmt == "cloudpickle":
                try:
                    import cloudpickle
                except ImportError as exc:
                    raise FailedPrecondition(
                        f"{path.name} was saved with cloudpickle, which is not installed; add "
                        "cloudpickle to the requirements",
                        field="requirements",
                    ) from exc
                loads = cloudpickle.load
            with path.open("rb") as f:
                return loads(f)
    raise InvalidArgument(
        f"MLmodel's sklearn serialization_format {fmt!r} is not one of skops, cloudpickle, "
        "pickle; save the model again with mlflow.sklearn",
        field="model_file",
    )


def _load_pyfunc(directory: Path, conf: Mapping[str, Any]) -> Any:
    loader = conf.get("loader_module") or "mlflow.pyfunc.model"
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        raise FailedPrecondition(
            f"this MLflow model is a python_function model (loader_module {loader}), which "
            "only mlflow can load, and mlflow is not installed: add mlflow (or mlflow-skinny) "
            "to the bundle's requirements and install it. modelyard loads sklearn-flavored "
            "MLflow models without mlflow",
            field="requirements",
        ) from exc
    with _pickles_allowed():
        return mlflow.pyfunc.load_model(str(directory))


@contextmanager
def _pickles_allowed() -> Iterator[None]:
    """MLflow refuses pickled models unless told; modelyard runs model code only in worker
    processes and flags pickles in the checks, so it tells it while loading."""
    name = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    before = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def model_input(data: Any) -> Any:
    """A request's JSON as MLflow models take it (see the module's doc)."""
    if isinstance(data, Mapping):
        keys = set(data) - {"params"}
        if len(keys) == 1 and (key := keys.pop()) in ENVELOPES:
            value = data[key]
            if key == "dataframe_split":
                return _frame(value, split=True)
            if key == "dataframe_records":
                return _frame(value)
            return model_input(value)
        if {"columns", "data"} <= set(data) <= {"columns", "data", "index"}:
            return _frame(data, split=True)
        return _frame(data)
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        return _frame(data)
    return as_array(data)


def _frame(value: Any, *, split: bool = False) -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise FailedPrecondition(
            "named columns and records become a pandas DataFrame, and pandas is not installed; "
            "add pandas to the requirements or send a list of rows",
            field="requirements",
        ) from exc
    if split:
        if not isinstance(value, Mapping):
            raise InvalidArgument(
                "dataframe_split must be an object with 'columns' and 'data'", field="data"
            )
        return pandas.DataFrame(**{k: value[k] for k in ("columns", "data", "index") if k in value})
    if isinstance(value, Mapping) and not any(isinstance(v, list) for v in value.values()):
        return pandas.DataFrame([value])  # one record of scalars
    return pandas.DataFrame(value)


def _relative(path: Path, bundle: Path) -> str:
    try:
        return path.relative_to(bundle).as_posix()
    except ValueError:
        return str(path)
