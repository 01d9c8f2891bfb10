"""ONNX graphs, run by onnxruntime on the CPU.

``data`` is a nested list for a model with one input, or an object keyed by input names; each
is cast to the dtype the graph declares and its shape checked against the declared one (named
dimensions such as ``N`` take any size). One output answers as a list, several as an object
keyed by output name.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument
from modelyard.runtime.data import jsonable
from modelyard.runtime.flavors.base import FlavorImpl
from modelyard.runtime.formats import sniff

#: onnxruntime's tensor type names -> numpy dtypes.
_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint64)": "uint64",
    "tensor(uint32)": "uint32",
    "tensor(uint16)": "uint16",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxFlavor(FlavorImpl):
    flavor = Flavor.ONNX
    suffixes: ClassVar[tuple[str, ...]] = (".onnx",)
    packages: ClassVar[tuple[str, ...]] = ("onnxruntime", "numpy")

    def accepts(self, model: Any) -> bool:
        if "onnx" not in sys.modules:
            return False
        return isinstance(model, sys.modules["onnx"].ModelProto)

    def save(self, model: Any, bundle: Path, *, name: str = "model") -> RuntimeSpec:
        """Write ``<name>.onnx`` from an ``onnx.ModelProto`` or its serialized bytes."""
        import onnx

        if isinstance(model, bytes | bytearray):
            try:
                model = onnx.load_model_from_string(bytes(model))
            except Exception as exc:  # protobuf's DecodeError, or onnx's own
                raise InvalidArgument(
                    f"model: the bytes are not a serialized ONNX model ({exc})", field="model"
                ) from None
        if not isinstance(model, onnx.ModelProto):
            raise InvalidArgument(
                "model: the onnx flavor saves an onnx.ModelProto or its bytes, got a "
                f"{type(model).__module__}.{type(model).__qualname__}",
                field="model",
            )
        bundle.mkdir(parents=True, exist_ok=True)
        path = bundle / f"{name}.onnx"
        onnx.save_model(model, str(path))
        return self.saved(path)

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        for path in files:
            if PurePosixPath(path).suffix.lower() not in self.suffixes:
                continue
            if (bundle / path).is_file() and sniff(bundle / path).name == "onnx":
                return RuntimeSpec(flavor=self.flavor, model_file=path)
        return None

    def load(self, bundle: Path, spec: RuntimeSpec) -> Any:
        path = self.model_path(bundle, spec)
        found = sniff(path)
        if found.name != "onnx":
            raise InvalidArgument(
                f"runtime.model_file: {spec.model_file} is {found.describe()}, not an ONNX "
                "model; export the model to ONNX (torch.onnx.export, skl2onnx, tf2onnx)",
                field="runtime.model_file",
            )
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no warnings on stderr per session
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict(self, model: Any, data: Any) -> Any:
        inputs = model.get_inputs()
        names = [i.name for i in inputs]
        if isinstance(data, Mapping):
            missing = [n for n in names if n not in data]
            unknown = sorted(str(k) for k in data if k not in names)
            if missing or unknown:
                raise InvalidArgument(
                    f"data: expected an object with the inputs {', '.join(names)}; missing "
                    f"{missing}, unknown {unknown}",
                    field="data",
                )
            feed = {i.name: _tensor(data[i.name], i, f"data.{i.name}") for i in inputs}
        elif len(inputs) == 1:
            feed = {inputs[0].name: _tensor(data, inputs[0], "data")}
        else:
            raise InvalidArgument(
                f"data: the model has {len(inputs)} inputs; send an object keyed by their "
                f"names: {', '.join(names)}",
                field="data",
            )
        outputs = model.run(None, feed)
        if len(outputs) == 1:
            return jsonable(outputs[0])
        return {o.name: jsonable(v) for o, v in zip(model.get_outputs(), outputs, strict=True)}


def _tensor(value: Any, spec: Any, field: str) -> Any:
    """``value`` as the array input ``spec`` declares (dtype and shape), or an error that says
    what the input expects."""
    import numpy as np

    dtype = _DTYPES.get(spec.type)
    expected = f"{_shape(spec.shape)} of {spec.type}"
    if dtype is None:
        raise InvalidArgument(
            f"{field}: input {spec.name!r} is a {spec.type}, which JSON data cannot express; "
            "serve the model with a score.py that builds it",
            field=field,
        )
    try:
        array = np.asarray(value, dtype=object if dtype == "object" else None)
    except ValueError:
        raise InvalidArgument(
            f"{field}: input {spec.name!r} expects a tensor {expected}; the nested lists "
            "differ in length",
            field=field,
        ) from None
    kind = array.dtype.kind
    if dtype == "object":
        if not all(isinstance(v, str) for v in array.flat):
            raise InvalidArgument(
                f"{field}: input {spec.name!r} expects strings ({expected})", field=field
            )
    elif kind not in "biuf":
        raise InvalidArgument(
            f"{field}: input {spec.name!r} expects numbers ({expected}), got values of type "
            f"{array.dtype}",
            field=field,
        )
    elif np.dtype(dtype).kind in "iu" and kind == "f" and not np.all(np.mod(array, 1) == 0):
        raise InvalidArgument(
            f"{field}: input {spec.name!r} expects whole numbers ({expected})", field=field
        )
    shape = spec.shape
    if len(shape) != array.ndim or any(
        isinstance(want, int) and want != got for want, got in zip(shape, array.shape, strict=True)
    ):
        raise InvalidArgument(
            f"{field}: input {spec.name!r} expects a tensor {expected}, got shape "
            f"{list(array.shape)}",
            field=field,
        )
    return array.astype(dtype, copy=False)


def _shape(shape: list[Any]) -> str:
    """``[N, 4]``: fixed dimensions as numbers, named ones by name, unknown ones as ``?``."""
    return (
        "["
        + ", ".join(str(d) if isinstance(d, int | str) and d != "" else "?" for d in shape)
        + "]"
    )
