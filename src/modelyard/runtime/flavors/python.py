"""Generic Python: a ``score.py`` with ``load_model()`` and ``predict(data, model=...)``.

The OCI ADS convention. ``load_model()`` is called once, with no arguments, and returns the
model however the script likes (it usually opens the model file next to it:
``os.path.dirname(os.path.realpath(__file__))``); ``predict(data, model=...)`` gets a request's
JSON data as it is and the loaded model, and its answer is turned into JSON. A ``predict``
without a ``model`` parameter is called as ``predict(data)``.

A script that defines ``init()`` and ``run(raw_data)`` instead (the Azure ML convention, which
DeepDev's inference scripts follow) is served the same way: ``init()`` once, then
``run(raw_data)`` with the request's data as JSON text, as Azure ML passes it.

The script is imported by :func:`modelyard.runtime.bundle.bundle_code`: its own modules next to
it import as usual, and never clash with another bundle's. Any flavor's bundle may have a
``score.py`` (``RuntimeSpec.entry_point``); it then serves the version through this flavor.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument
from modelyard.runtime.bundle import SCORE_FILE, bundle_code
from modelyard.runtime.data import jsonable
from modelyard.runtime.flavors.base import FlavorImpl

#: Model files a score.py may load that run code when they are read.
PICKLES = (".pkl", ".pickle", ".cloudpickle", ".joblib")


@dataclass(frozen=True, kw_only=True)
class ScoreModel:
    """A loaded entry point: its module, what ``load_model()`` returned, and its ``predict``."""

    module: ModuleType
    model: Any
    predict: Callable[..., Any]
    takes_model: bool


class PythonFlavor(FlavorImpl):
    flavor = Flavor.PYTHON
    #: A prepared generic object is a cloudpickle (see ``modelyard.runtime.prepare``).
    packages = ("cloudpickle",)

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        if SCORE_FILE not in files:
            return None
        return RuntimeSpec(flavor=Flavor.PYTHON, entry_point=SCORE_FILE)

    def load(self, bundle: Path, spec: RuntimeSpec) -> ScoreModel:
        entry = spec.entry_point or SCORE_FILE
        with bundle_code(bundle) as code:
            module = code.import_file(entry)
            if init_run(module):
                entry_function(module, entry, "init")()
                run = entry_function(module, entry, "run")
                return ScoreModel(
                    module=module, model=None, predict=_json_text(run), takes_model=False
                )
            load_model = entry_function(module, entry, "load_model")
            predict = entry_function(module, entry, "predict")
            model = load_model()
        return ScoreModel(
            module=module, model=model, predict=predict, takes_model=takes_model(predict)
        )

    def predict(self, model: ScoreModel, data: Any) -> Any:
        if model.takes_model:
            return jsonable(model.predict(data, model=model.model))
        return jsonable(model.predict(data))

    def unsafe_format(self, spec: RuntimeSpec) -> str | None:
        if spec.model_file and PurePosixPath(spec.model_file).suffix.lower() in PICKLES:
            return (
                f"{spec.model_file} is a pickle: loading it runs code stored in the file. Load "
                "it only from people you trust, or save the model in a format that stores no "
                "code (skops, ONNX, TorchScript, .keras)"
            )
        return None


def entry_function(module: ModuleType, entry: str, name: str) -> Callable[..., Any]:
    """``module.<name>``, which must be a function (a callable)."""
    function = getattr(module, name, None)
    if function is None:
        raise InvalidArgument(
            f"{entry} defines no {name}(): an entry point needs load_model() returning the "
            "model and predict(data, model=...) returning its answer (or init() and "
            "run(raw_data), the Azure ML convention)",
            field="entry_point",
        )
    if not callable(function):
        raise InvalidArgument(
            f"{entry}: {name} is a {type(function).__name__}, not a function; define "
            f"def {name}(...)",
            field="entry_point",
        )
    return function


def init_run(module: ModuleType) -> bool:
    """Whether the script follows the Azure ML convention (``init()`` and ``run()``, no
    ``load_model()``)."""
    return not hasattr(module, "load_model") and hasattr(module, "run")


def _json_text(run: Callable[[str], Any]) -> Callable[[Any], Any]:
    """``run`` called with its data as JSON text."""

    def predict(data: Any) -> Any:
        return run(json.dumps(data))

    return predict


def takes_model(predict: Callable[..., Any]) -> bool:
    """Whether ``predict`` takes the model as ``model=`` (a parameter so named, or ``**kw``)."""
    try:
        parameters = inspect.signature(predict).parameters.values()
    except (TypeError, ValueError):  # a builtin or C function without a signature
        return True
    return any(
        (p.name == "model" and p.kind != p.POSITIONAL_ONLY) or p.kind == p.VAR_KEYWORD
        for p in parameters
    )
