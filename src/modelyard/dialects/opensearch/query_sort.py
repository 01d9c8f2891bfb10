"""The hits' shape: ``sort`` (the keys hits are ordered by and the values shown in their
``sort``) and ``_source`` filtering.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.dialects.opensearch.query_values import ILLEGAL, Doc, QueryError, _token, _values


@dataclass(frozen=True)
class _SortKey:
    field: str  # a source field, "_score" or "_doc"
    path: str
    descending: bool
    missing_first: bool
    missing: Any  # the value that stands in for a missing one, or None
    mode: str  # "min" or "max"


def _parse_sort(value: Any) -> Iterator[_SortKey]:
    entries = value if isinstance(value, list) else [value]
    for i, entry in enumerate(entries):
        path = f"sort[{i}]" if isinstance(value, list) else "sort"
        if isinstance(entry, str):
            yield _sort_key(entry, None, path)
        elif isinstance(entry, Mapping) and entry:
            for field, spec in entry.items():
                yield _sort_key(field, spec, f"{path}.{field}")
        else:
            raise QueryError(f"[sort] malformed sort entry: {entry!r}", field=path)


def _sort_key(field: str, spec: Any, path: str) -> _SortKey:
    if not field:
        raise QueryError("[sort] field name cannot be empty", field=path)
    order: Any = "desc" if field == "_score" else "asc"
    missing, mode = "_last", None
    if isinstance(spec, str):
        order = spec
    elif isinstance(spec, Mapping):
        allowed = {"order"} if field in ("_score", "_doc") else {"order", "missing", "mode"}
        for key in spec:
            if key not in allowed | {"unmapped_type"}:
                raise QueryError(
                    f"[{'field_sort' if len(allowed) > 1 else 'sort'}] unknown field [{key}]",
                    field=f"{path}.{key}",
                )
        order = spec.get("order", order)
        missing = spec.get("missing", missing)
        mode = spec.get("mode")
    elif spec is not None:
        raise QueryError(f"[sort] malformed sort for [{field}]: {spec!r}", field=path)
    if not isinstance(order, str) or order.lower() not in ("asc", "desc"):
        raise QueryError(
            f"[sort] order must be [asc] or [desc], found [{order}]",
            field=f"{path}.order",
            type=ILLEGAL,
        )
    if mode is not None and mode not in ("min", "max"):
        raise QueryError(
            f"[sort] mode [{mode}] is not supported by modelyard; use [min] or [max]",
            field=f"{path}.mode",
            type=ILLEGAL,
        )
    if isinstance(missing, Mapping | list):
        raise QueryError("[sort] missing must be a value", field=f"{path}.missing")
    descending = order.lower() == "desc"
    return _SortKey(
        field=field,
        path=path,
        descending=descending,
        missing_first=missing == "_first",
        missing=None if missing in ("_first", "_last") else missing,
        mode=mode or ("max" if descending else "min"),
    )


def _sort_value(key: _SortKey, doc: Doc, position: int, score: float) -> Any:
    if key.field == "_score":
        return score
    if key.field == "_doc":
        return position
    values = _values(doc, key.field)
    for value in values:
        if isinstance(value, Mapping):
            raise QueryError(
                f"can't sort on [{key.field}]: it holds an object in document [{doc.id}]; "
                "sort on one of its fields instead",
                field=key.path,
                type=ILLEGAL,
            )
    if not values:
        return key.missing
    return (min if key.mode == "min" else max)(values, key=_rank)


def _rank(value: Any) -> tuple[int, Any]:
    """Orders values of mixed JSON types: booleans, then numbers, then strings."""
    if isinstance(value, bool):
        return (0, value)
    return (1, value) if isinstance(value, int | float) else (2, str(value))


def _parse_source(value: Any) -> Callable[[Mapping[str, Any]], dict[str, Any]] | None:
    if isinstance(value, bool):
        return _copy if value else None
    includes: Any = value
    excludes: Any = []
    if isinstance(value, Mapping):
        includes, excludes = [], []
        for key, patterns in value.items():
            if key in ("includes", "include"):
                includes = patterns
            elif key in ("excludes", "exclude"):
                excludes = patterns
            else:
                raise QueryError(
                    f"Unknown key for a {_token(patterns)} in [{key}].", field=f"_source.{key}"
                )
    include = _patterns(includes, "_source.includes")
    exclude = _patterns(excludes, "_source.excludes")
    return lambda source: _pick(source, include, exclude, "", whole=not include)


def _copy(source: Mapping[str, Any]) -> dict[str, Any]:
    return _pick(source, [], [], "", whole=True)


def _patterns(value: Any, path: str) -> list[re.Pattern[str]]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise QueryError("[_source] expects a field name or a list of them", field=path)
    return [re.compile(".*".join(map(re.escape, name.split("*")))) for name in names]


def _pick(
    node: Mapping[str, Any],
    include: list[re.Pattern[str]],
    exclude: list[re.Pattern[str]],
    prefix: str,
    *,
    whole: bool,
) -> dict[str, Any]:
    """``node`` filtered like OpenSearch filters ``_source``: an included path brings its whole
    subtree, an excluded one drops it; ``whole`` says an ancestor is already included."""
    picked: dict[str, Any] = {}
    for key, value in node.items():
        path = prefix + key
        if any(p.fullmatch(path) for p in exclude):
            continue
        inside = whole or any(p.fullmatch(path) for p in include)
        kept = _pick_value(value, include, exclude, path, inside=inside)
        if kept is not _DROP:
            picked[key] = kept
    return picked


_DROP = object()


def _pick_value(
    value: Any,
    include: list[re.Pattern[str]],
    exclude: list[re.Pattern[str]],
    path: str,
    *,
    inside: bool,
) -> Any:
    if isinstance(value, Mapping):
        picked = _pick(value, include, exclude, f"{path}.", whole=inside)
        return picked if picked or (inside and not value) else _DROP
    if isinstance(value, list):
        items = [_pick_value(item, include, exclude, path, inside=inside) for item in value]
        kept = [item for item in items if item is not _DROP]
        return kept if kept or inside else _DROP
    return value if inside else _DROP
