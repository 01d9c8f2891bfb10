"""The KServe V2 (open inference protocol) tensors, to and from the JSON a flavor predicts on.

A request's ``inputs`` are tensors (``name``, ``shape``, ``datatype``, ``data``: flat in row-major
order, or already nested). One input becomes the nested list itself; several become an object
keyed by input name, which is what the ONNX, Keras and torch flavors take for named inputs. An
answer becomes one output tensor (``output-0``), or one per key when it is an object, each with
its shape and a datatype read from its values.
"""

from __future__ import annotations

import math
from typing import Any

from modelyard.errors import FieldError, InvalidArgument

DATATYPES = {
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
}


def _invalid(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {message}", errors=[FieldError(field=field, message=message)])


def decode_inputs(body: Any) -> Any:
    """The data to predict on from a V2 infer request body; InvalidArgument naming the field."""
    if not isinstance(body, dict):
        raise _invalid("body", "expected an object with 'inputs'")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _invalid("inputs", "expected a non-empty list of tensors")
    decoded: dict[str, Any] = {}
    for i, tensor in enumerate(inputs):
        name, value = _decode_tensor(tensor, f"inputs[{i}]")
        if name in decoded:
            raise _invalid(f"inputs[{i}].name", f"input {name!r} is given twice")
        decoded[name] = value
    return next(iter(decoded.values())) if len(decoded) == 1 else decoded


def _decode_tensor(tensor: Any, where: str) -> tuple[str, Any]:
    if not isinstance(tensor, dict):
        raise _invalid(where, "expected a tensor object (name, shape, datatype, data)")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid(f"{where}.name", "expected a non-empty string")
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise _invalid(f"{where}.shape", "expected a list of non-negative integers")
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise _invalid(f"{where}.datatype", f"expected one of {', '.join(sorted(DATATYPES))}")
    if "data" not in tensor:
        raise _invalid(f"{where}.data", "missing")
    flat = _flatten(tensor["data"])
    if len(flat) != math.prod(shape):
        raise _invalid(
            f"{where}.data",
            f"holds {len(flat)} values, but shape {shape} needs {math.prod(shape)}",
        )
    for j, value in enumerate(flat):
        if not _fits(value, datatype):
            raise _invalid(f"{where}.data[{j}]", f"{value!r} is not a {datatype} value")
    return name, _reshape(flat, shape)


def _fits(value: Any, datatype: str) -> bool:
    if datatype == "BYTES":
        return isinstance(value, str)
    if datatype == "BOOL":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if datatype.startswith("FP"):
        return isinstance(value, int | float)
    return isinstance(value, int) and (not datatype.startswith("UINT") or value >= 0)


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item))
    return out


def _reshape(flat: list[Any], shape: list[int]) -> Any:
    if len(shape) == 1:
        return list(flat)
    step = math.prod(shape[1:])
    return [_reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def encode_outputs(result: Any) -> list[dict[str, Any]]:
    """The output tensors of an answer (see the module's doc)."""
    if isinstance(result, dict):
        return [_tensor(str(name), value) for name, value in result.items()]
    return [_tensor("output-0", result)]


def _tensor(name: str, value: Any) -> dict[str, Any]:
    shape = _shape(value)
    flat = _flatten(value)
    return {"name": name, "shape": shape, "datatype": _datatype(flat), "data": flat}


def _shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape or [1]


def _datatype(flat: list[Any]) -> str:
    if flat and all(isinstance(v, bool) for v in flat):
        return "BOOL"
    if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        return "FP64"
    return "BYTES"


def tensor_metadata(schema: dict[str, Any] | None, default_name: str) -> list[dict[str, Any]]:
    """Tensor metadata (name, datatype, shape with -1 for free sizes) from a JSON Schema of
    nested arrays, as the schema inference writes it."""
    if schema is None:
        return []
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        return [
            {"name": name, **_array_metadata(sub)} for name, sub in schema["properties"].items()
        ]
    return [{"name": default_name, **_array_metadata(schema)}]


def _array_metadata(schema: Any) -> dict[str, Any]:
    shape: list[int] = []
    while isinstance(schema, dict) and schema.get("type") == "array":
        size = schema.get("maxItems")
        shape.append(size if size is not None and size == schema.get("minItems") else -1)
        schema = schema.get("items")
    kinds = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}
    kind = schema.get("type") if isinstance(schema, dict) else None
    datatype = kinds.get(kind, "BYTES") if isinstance(kind, str) else "BYTES"
    return {"datatype": datatype, "shape": shape}
