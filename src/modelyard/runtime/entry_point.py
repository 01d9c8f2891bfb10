"""The ``score.py`` that prepare writes: the entry point that serves a bundle without modelyard.

It loads the model file with the framework's own loader (``load_model()``) and predicts on a
request's JSON (``predict(data, model=...)``): the JSON becomes what the model took when it
was prepared (``input_kind``: a numpy array of the example's dtype, a pandas DataFrame, or the
JSON as it is for a generic Python object), and the answer becomes JSON again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.runtime.data import jsonable

#: Flavors whose frameworks compute in float32: a float example in a JSON list means float32.
FLOAT32 = (Flavor.ONNX, Flavor.TORCHSCRIPT, Flavor.PYTORCH, Flavor.KERAS)


def input_kind(example: Any, flavor: Flavor) -> dict[str, Any]:
    """How ``score.py`` turns a request's JSON into what the model took: the example's kind
    (numpy-like array with its dtype, data frame, or plain JSON for the python flavor)."""
    if example is None:
        if flavor == Flavor.PYTHON:
            return {"kind": "json", "dtype": None}
        return {"kind": "ndarray", "dtype": "float32" if flavor in FLOAT32 else None}
    if hasattr(example, "columns") and hasattr(example, "to_dict"):
        return {"kind": "dataframe", "dtype": None}
    if isinstance(example, Mapping):
        if flavor == Flavor.PYTHON and not all(map(_is_array, example.values())):
            return {"kind": "json", "dtype": None}
        return {"kind": "ndarray", "dtype": {k: _dtype(v, flavor) for k, v in example.items()}}
    if flavor == Flavor.PYTHON and not _is_array(example):
        return {"kind": "json", "dtype": None}
    return {"kind": "ndarray", "dtype": _dtype(example, flavor)}


def _is_array(value: Any) -> bool:
    return hasattr(value, "dtype") and hasattr(value, "shape")


def _dtype(value: Any, flavor: Flavor) -> str | None:
    if _is_array(value):
        return str(value.dtype).removeprefix("torch.")
    import numpy as np

    kind = np.asarray(jsonable(value)).dtype.kind
    if kind == "f":
        return "float32" if flavor in FLOAT32 else "float64"
    return {"i": "int64", "u": "int64", "b": "bool"}.get(kind)


# -- score.py ------------------------------------------------------------------------------

_HEADER = '''"""Serves {what}.

Written by modelyard's prepare. load_model() loads the model; predict(data, model=...) takes a
request's JSON data and answers JSON. Needs {needs}, not modelyard.
"""

'''


@dataclass(frozen=True)
class _Loader:
    what: str  # what the model file is, in the docstring
    needs: str  # what score.py needs, in the docstring
    stdlib: tuple[str, ...]  # standard library imports besides pathlib's Path
    imports: str  # the framework's
    load: str  # the body of load_model()


_LOADERS = {
    "joblib": _Loader(
        "a scikit-learn model saved with joblib",
        "scikit-learn",
        (),
        "import joblib",
        "return joblib.load(MODEL_FILE)",
    ),
    "skops": _Loader(
        "a scikit-learn model saved with skops",
        "scikit-learn and skops",
        (),
        "import skops.io\n\n# The types this model is made of, trusted when it was prepared.\n"
        "TRUSTED = {trusted!r}",
        "return skops.io.load(MODEL_FILE, trusted=TRUSTED)",
    ),
    "onnx": _Loader(
        "an ONNX model run by onnxruntime",
        "onnxruntime",
        (),
        "import onnxruntime",
        'return onnxruntime.InferenceSession(str(MODEL_FILE), providers=["CPUExecutionProvider"])',
    ),
    "torchscript": _Loader(
        "a TorchScript module",
        "torch",
        ("import warnings",),
        "import torch",
        "with warnings.catch_warnings():\n"
        "        # torch deprecates TorchScript for torch.export; its files still load.\n"
        '        warnings.filterwarnings("ignore", r".*torch\\.jit", DeprecationWarning)\n'
        '        return torch.jit.load(MODEL_FILE, map_location="cpu").eval()',
    ),
    "pytorch": _Loader(
        "a whole torch module pickled by torch.save (its class must be importable)",
        "torch",
        (),
        "import torch",
        'return torch.load(MODEL_FILE, map_location="cpu", weights_only=False).eval()',
    ),
    "keras": _Loader(
        "a Keras 3 model, on the torch backend unless KERAS_BACKEND says otherwise",
        "keras and its backend",
        ("import os", "import warnings"),
        'os.environ.setdefault("KERAS_BACKEND", "torch")\n\nimport keras  # noqa: E402',
        "return keras.saving.load_model(MODEL_FILE)",
    ),
    "python": _Loader(
        "a Python object with .predict(), pickled with cloudpickle",
        "cloudpickle",
        ("import pickle  # cloudpickle must be installed to read what it wrote",),
        "",
        'with open(MODEL_FILE, "rb") as f:\n        return pickle.load(f)',
    ),
}

_PREDICT = {
    "call": """

def predict(data, model=None):
    model = load_model() if model is None else model
    return _json(model.predict(_inputs(data)))
""",
    "keras": """

def predict(data, model=None):
    model = load_model() if model is None else model
    with warnings.catch_warnings():
        # Keras 3 on torch calls np.array(variable, copy=False), which numpy 2 warns about.
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        return _json(model.predict(_inputs(data), verbose=0))
""",
    "torch": """

def predict(data, model=None):
    model = load_model() if model is None else model
    inputs = _inputs(data)
    with torch.no_grad():
        if isinstance(inputs, dict):
            output = model(**{key: torch.as_tensor(value) for key, value in inputs.items()})
        else:
            output = model(torch.as_tensor(inputs))
    return _json(output)
""",
    "onnx": """

def predict(data, model=None):
    session = load_model() if model is None else model
    inputs = _inputs(data)
    if not isinstance(inputs, dict):
        inputs = {session.get_inputs()[0].name: inputs}
    outputs = session.run(None, inputs)
    if len(outputs) == 1:
        return _json(outputs[0])
    return _json({out.name: value for out, value in zip(session.get_outputs(), outputs)})
""",
}

_HELPERS = '''

def _inputs(data):
    """The request's JSON as the model took it when it was prepared."""
    kind, dtype = INPUTS["kind"], INPUTS["dtype"]
    if kind == "json":
        return data
    if kind == "dataframe":
        import pandas

        return pandas.DataFrame(data)
    import numpy

    if isinstance(data, dict):
        dtypes = dtype if isinstance(dtype, dict) else {}
        return {key: numpy.asarray(value, dtype=dtypes.get(key)) for key, value in data.items()}
    return numpy.asarray(data, dtype=None if isinstance(dtype, dict) else dtype)


def _json(value):
    """A prediction as JSON values: arrays and tensors become nested lists."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if hasattr(value, "columns") and hasattr(value, "to_dict"):
        return _json(value.to_dict(orient="records"))
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    return value
'''


def source(spec: RuntimeSpec, bundle: Path, inputs: Mapping[str, Any]) -> str:
    """``score.py`` for the model file ``spec`` names: the framework's own loader, then
    ``predict`` turning JSON into the example's kind and the answer back into JSON."""
    assert spec.model_file is not None
    fmt = spec.flavor.value
    if spec.flavor == Flavor.SKLEARN:
        fmt = "skops" if spec.model_file.endswith(".skops") else "joblib"
    loader = _LOADERS[fmt]
    framework = loader.imports
    if fmt == "skops":
        import skops.io

        trusted = sorted(skops.io.get_untrusted_types(file=bundle / spec.model_file))
        framework = framework.format(trusted=trusted)
    predict = {"onnx": "onnx", "keras": "keras", "torchscript": "torch", "pytorch": "torch"}
    imports = "\n".join([*loader.stdlib, "from pathlib import Path"])
    if framework:
        imports += f"\n\n{framework}"
    return (
        _HEADER.format(what=f"{spec.model_file}: {loader.what}", needs=loader.needs)
        + f"{imports}\n\nMODEL_FILE = Path(__file__).resolve().parent / {spec.model_file!r}\n"
        + f"INPUTS = {dict(inputs)!r}\n"
        + f"\n\ndef load_model():\n    {loader.load}\n"
        + _PREDICT[predict.get(fmt, "call")]
        + _HELPERS
    )
