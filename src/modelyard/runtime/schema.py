"""Input and output schemas: JSON Schema inferred from an example, checked, and applied.

A version's schema says what its requests and answers look like, so a request can be refused
with a message naming the bad element before it reaches the model. ``infer_schema`` writes a
JSON Schema 2020-12 from one JSON value: types, item types, and the sizes of inner array
dimensions (an image's ``3 x 224 x 224``) fixed with ``minItems``/``maxItems``, while the outer
(batch) dimension, and the outer dimension of each named input of an object, stays free.
``validate`` answers messages such as ``data[0][3]: expected number, got string``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jsonschema
import referencing.exceptions
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import validator_for

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_DEFAULT = jsonschema.Draft202012Validator
_NUMBERS = {"integer", "number"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_SHOWN = 80


def infer_schema(value: Any) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the JSON value ``value``; its outer array is a batch."""
    return {"$schema": DIALECT, **_infer(value, batch=True)}


def check_schema(schema: Any) -> list[str]:
    """Why ``schema`` is not valid JSON Schema (by its dialect's meta-schema); [] if it is."""
    if not isinstance(schema, dict | bool):
        return [f"a JSON Schema is an object (or true/false), not {_json_type(schema)}"]
    validator = _validator_class(schema)
    if validator is None:
        return [
            f"$schema: unknown dialect {schema['$schema']!r}; use {DIALECT!r} or leave $schema out"
        ]
    meta = validator(validator.META_SCHEMA)
    messages = []
    for error in meta.iter_errors(schema):
        error = best_match(error.context) if error.context else error
        messages.append(f"{_path('schema', error.absolute_path)}: {_describe(error)}")
    return messages


def validate(value: Any, schema: Any, *, root: str = "data", limit: int = 20) -> list[str]:
    """Why ``value`` does not match ``schema``: up to ``limit`` messages naming each path.

    An invalid schema yields the schema's own problems (see ``check_schema``) instead.
    """
    return SchemaValidator(schema).problems(value, root=root, limit=limit)


class SchemaValidator:
    """One schema, checked once, applied to many values (serving validates every request)."""

    def __init__(self, schema: Any) -> None:
        self.invalid = [f"the schema is invalid: {p}" for p in check_schema(schema)]
        validator = None if self.invalid else _validator_class(schema)
        self._validator = validator(schema) if validator is not None else None
        self._accepts = _quick_check(schema) if self._validator is not None else None

    def problems(self, value: Any, *, root: str = "data", limit: int = 20) -> list[str]:
        """Why ``value`` does not match: up to ``limit`` messages naming each path."""
        if self._validator is None:
            return list(self.invalid)
        if self._accepts is not None and self._accepts(value):
            return []
        messages: list[str] = []
        try:
            for error in self._validator.iter_errors(value):
                if len(messages) == limit:
                    messages.append(f"(more errors not shown after the first {limit})")
                    break
                messages.append(f"{_path(root, error.absolute_path)}: {_describe(error)}")
        except referencing.exceptions.Unresolvable as exc:
            messages.append(f"the schema cannot be applied: unresolvable reference {exc}")
        return messages


_QUICK_KEYS = frozenset({"$schema", "type", "items", "minItems", "maxItems"})
_NUMERIC = (int, float)


def _quick_check(schema: Any) -> Callable[[Any], bool] | None:
    """For the schemas ``infer_schema`` writes for numbers and (nested) arrays of them, a
    plain-Python test that a value matches -- some microseconds where the validator takes
    hundreds for a row of 64 floats. True means valid; False means "ask the validator" (which
    also says why). None: the schema uses more than this knows."""
    if not isinstance(schema, dict) or not schema.keys() <= _QUICK_KEYS:
        return None
    kind = schema.get("type")
    if kind == "number":
        return lambda v: type(v) in _NUMERIC  # bool is not a number here either
    if kind == "integer":
        return lambda v: type(v) is int  # 1.0 is one too: the validator decides
    if kind != "array":
        return None
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    if "items" not in schema:
        return lambda v: type(v) is list and low <= len(v) and (high is None or len(v) <= high)
    items = schema["items"]
    each = _quick_check(items)
    if each is None:
        return None
    numbers = isinstance(items, dict) and items.keys() <= {"type"} and items["type"] == "number"

    def accepts(v: Any) -> bool:
        if type(v) is not list or len(v) < low or (high is not None and len(v) > high):
            return False
        if numbers:
            return all(type(x) in _NUMERIC for x in v)
        return all(map(each, v))

    return accepts


def _validator_class(schema: dict[str, Any] | bool) -> type[Any] | None:
    if isinstance(schema, bool) or "$schema" not in schema:
        return _DEFAULT
    return validator_for(schema, default=None)


def _infer(value: Any, *, batch: bool) -> dict[str, Any]:
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list | tuple):
        schema: dict[str, Any] = {"type": "array"}
        items = _items(value)
        if items is not None:
            schema["items"] = items
        if not batch:
            schema["minItems"] = schema["maxItems"] = len(value)
        return schema
    if isinstance(value, dict):
        return {
            "type": "object",
            "properties": {str(k): _infer(v, batch=batch) for k, v in value.items()},
            "required": [str(k) for k in value],
        }
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _items(values: list[Any] | tuple[Any, ...]) -> dict[str, Any] | None:
    kinds = {type(v) for v in values}
    if kinds and kinds <= {int, float}:  # the common case, a row of numbers, without recursion
        return {"type": "integer" if kinds == {int} else "number"}
    items = None
    for v in values:
        schema = _infer(v, batch=False)
        items = schema if items is None else _merge(items, schema)
    return items


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One schema that both ``a`` and ``b`` satisfy (the items of a mixed or ragged array)."""
    if a == b:
        return a
    ta, tb = a.get("type"), b.get("type")
    if {ta, tb} <= _NUMBERS:
        return {"type": "number"}
    if ta == tb == "array":
        merged: dict[str, Any] = {"type": "array"}
        if "items" in a and "items" in b:
            merged["items"] = _merge(a["items"], b["items"])
        elif "items" in a or "items" in b:
            merged["items"] = a.get("items", b.get("items"))
        if a.get("minItems") == b.get("minItems") and "minItems" in a:
            merged["minItems"] = merged["maxItems"] = a["minItems"]
        return merged
    if ta == tb == "object":
        pa, pb = a["properties"], b["properties"]
        properties = {
            k: _merge(pa[k], pb[k]) if k in pa and k in pb else pa.get(k, pb.get(k))
            for k in [*pa, *(k for k in pb if k not in pa)]
        }
        required = [k for k in a["required"] if k in b["required"]]
        return {"type": "object", "properties": properties, "required": required}
    alternatives = [*a.get("anyOf", [a]), *b.get("anyOf", [b])]
    unique: list[dict[str, Any]] = []
    for alt in alternatives:
        same = next((i for i, u in enumerate(unique) if _mergeable(u, alt)), None)
        if same is None:
            unique.append(alt)
        else:
            unique[same] = _merge(unique[same], alt)
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def _mergeable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ta, tb = a.get("type"), b.get("type")
    return ta == tb or {ta, tb} <= _NUMBERS


def _path(root: str, parts: Any) -> str:
    text = root
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}"
        else:
            text += f"[{part!r}]"
    return text


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _describe(error: ValidationError) -> str:
    """The error in words, without jsonschema's habit of repeating a whole large instance."""
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        return f"expected {' or '.join(names)}, got {_json_type(instance)}"
    if kind in ("minItems", "maxItems") and isinstance(instance, list):
        bound = "at least" if kind == "minItems" else "at most"
        return f"expected {bound} {expected} items, got {len(instance)}"
    if kind == "required":
        return error.message.replace(" is a required property", " is required (missing)")
    if kind in ("enum", "const"):
        return f"{_short(instance)} is not one of {_short(expected)}"
    return _short_message(error.message)


def _short_message(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."
