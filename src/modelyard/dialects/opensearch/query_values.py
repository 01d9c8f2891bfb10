"""What every part of the query evaluator shares: :class:`Doc` and :class:`QueryError` with
its OpenSearch error types, the values a document holds at a field, and the readers of the
scalar parameters and JSON tokens of a search body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.errors import InvalidArgument

PARSING = "parsing_exception"
ILLEGAL = "illegal_argument_exception"


@dataclass(frozen=True)
class Doc:
    """One searchable document: its ``_id`` and its ``_source``."""

    id: str
    source: Mapping[str, Any]


class QueryError(InvalidArgument):
    """A search body this evaluator cannot run.

    ``field`` is the JSON path of the culprit (``query.bool.must[1].term``); ``type`` is the
    error type OpenSearch answers with (``parsing_exception`` or
    ``illegal_argument_exception``).
    """

    def __init__(self, message: str, *, field: str, type: str = PARSING) -> None:
        super().__init__(message, field=field)
        self.type = type


def _values(doc: Doc, field: str) -> list[Any]:
    """The values at dotted ``field``: lists flattened, nulls dropped; ``<x>.keyword`` falls
    back to the strings of ``<x>``, as OpenSearch's dynamic mapping indexes them."""
    if field == "_id":
        return [doc.id]
    parts = field.split(".")
    found = list(_walk(doc.source, parts))
    if not found and parts[-1] == "keyword":
        found = [v for v in _walk(doc.source, parts[:-1]) if isinstance(v, str)]
    return found


def _walk(node: Any, parts: Sequence[str]) -> Iterator[Any]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, parts)
    elif not parts:
        if node is not None:
            yield node
    elif isinstance(node, Mapping):
        # {"a": {"b": 1}} and {"a.b": 1} both hold field a.b
        for i in range(1, len(parts) + 1):
            key = ".".join(parts[:i])
            if key in node:
                yield from _walk(node[key], parts[i:])


def _integer(value: Any, path: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"[{path}] must be an integer, found [{value}]", field=path)
    return value


def _boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise QueryError(f"[{path}] must be a boolean, found [{value}]", field=path)


def _token(value: Any) -> str:
    """The name of the JSON token ``value`` starts with, as OpenSearch's parser names it."""
    if isinstance(value, Mapping):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    return "VALUE_NULL" if value is None else "VALUE_STRING"


def _sign(number: float) -> int:
    return (number > 0) - (number < 0)


def _sign_of(a: Any, b: Any) -> int:
    return (a > b) - (a < b)
