"""OpenSearch's query DSL: the subset scripts send to ML Commons' ``_search`` endpoints.

:func:`search` parses a whole search body first, so a malformed one fails even over no
documents, then evaluates it in memory over documents the caller has already filtered by
permission, and answers in OpenSearch's search-response shape (ML Commons' flavour: every
hit carries ``_version``, ``_seq_no`` and ``_primary_term``).

Without a mapping, a value's JSON type stands in for its field's type:

- a string is both ``text`` (``match`` analyses it into lowercase word tokens, roughly like
  the standard analyzer) and ``keyword`` (``term``, ``terms``, ``range`` and ``sort`` take it
  whole, under ``<field>`` and under OpenSearch's dynamic subfield ``<field>.keyword``);
- a number is a number, or epoch milliseconds when a ``range`` bound is a date;
- an ISO 8601 string is also a date for ``range``.

Scores are simple and deterministic: 1.0 for ``match_all``, ``term``, ``terms``, ``ids``,
``exists`` and ``range``; the number of matched query tokens for ``match``; the sum of the
scoring clauses (``must`` and matched ``should``) for ``bool``; each times its ``boost``.

The evaluator's parts live beside this module: ``query_clauses`` (query clauses and date
math), ``query_sort`` (``sort`` and ``_source`` filtering) and ``query_values`` (what they
share: :class:`Doc`, :class:`QueryError`, reading fields and parameters).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import Any

from modelyard.dialects.opensearch.query_clauses import Matcher, _match_all, _Parser
from modelyard.dialects.opensearch.query_sort import (
    _copy,
    _parse_sort,
    _parse_source,
    _rank,
    _sort_value,
    _SortKey,
)
from modelyard.dialects.opensearch.query_values import (
    ILLEGAL,
    PARSING,
    Doc,
    QueryError,
    _boolean,
    _integer,
    _sign,
    _sign_of,
    _token,
)

__all__ = [
    "DEFAULT_TRACK_TOTAL_HITS",
    "ILLEGAL",
    "MAX_RESULT_WINDOW",
    "PARSING",
    "Doc",
    "QueryError",
    "search",
]

#: OpenSearch's ``index.max_result_window`` default: ``from + size`` may not pass it.
MAX_RESULT_WINDOW = 10_000
#: OpenSearch counts hits exactly up to this many unless ``track_total_hits`` says otherwise.
DEFAULT_TRACK_TOTAL_HITS = 10_000
_TRACK_ACCURATE = 2**31 - 1  # track_total_hits: true
_TRACK_DISABLED = -1  # track_total_hits: false; the answer has no total

#: Search-body keys OpenSearch knows that this evaluator does not run.
_UNSUPPORTED_KEYS = frozenset(
    [
        "aggregations",
        "aggs",
        "collapse",
        "docvalue_fields",
        "explain",
        "ext",
        "fields",
        "highlight",
        "indices_boost",
        "min_score",
        "pit",
        "post_filter",
        "profile",
        "rescore",
        "script_fields",
        "search_after",
        "slice",
        "stored_fields",
        "suggest",
        "terminate_after",
    ]
)
#: Search-body keys accepted and ignored: ML Commons always returns versions and sequence
#: numbers, and an in-memory search never times out.
_IGNORED_KEYS = frozenset({"seq_no_primary_term", "timeout", "version"})


def search(docs: Iterable[Doc], body: Mapping[str, Any] | None, *, index: str) -> dict[str, Any]:
    """OpenSearch's search response for ``body`` over ``docs``.

    ``docs`` are read once, in order: that order breaks ties. Raises :class:`QueryError` for
    a body OpenSearch would refuse or this evaluator does not run.
    """
    started = time.perf_counter()
    request = _Request.parse({} if body is None else body, now=datetime.now(UTC))
    hits = []
    for position, doc in enumerate(docs):
        score = request.query(doc)
        if score is not None:
            hits.append(_Hit(doc, position, score, request.sort_values(doc, position, score)))
    ordered = sorted(hits, key=cmp_to_key(request.compare))
    page = ordered[request.start : request.start + request.size]
    scored = request.scores_tracked
    hits_section: dict[str, Any] = {}
    if request.track_total_hits != _TRACK_DISABLED:
        hits_section["total"] = {
            "value": min(len(hits), request.track_total_hits),
            "relation": "gte" if len(hits) > request.track_total_hits else "eq",
        }
    hits_section["max_score"] = (
        max((hit.score for hit in hits), default=None) if scored and request.size else None
    )
    hits_section["hits"] = [request.render(hit, index, scored) for hit in page]
    return {
        "took": int((time.perf_counter() - started) * 1000),
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": hits_section,
    }


@dataclass(frozen=True)
class _Hit:
    doc: Doc
    position: int
    score: float
    sort: tuple[Any, ...]


@dataclass(frozen=True)
class _Request:
    query: Matcher
    start: int
    size: int
    sort: tuple[_SortKey, ...]
    track_scores: bool
    track_total_hits: int  # count hits up to this many; _TRACK_DISABLED: do not count
    source: Callable[[Mapping[str, Any]], dict[str, Any]] | None  # None: no _source

    @classmethod
    def parse(cls, body: Any, *, now: datetime) -> _Request:
        if not isinstance(body, Mapping):
            raise QueryError(f"Expected [START_OBJECT] but found [{_token(body)}]", field="body")
        query: Matcher = _match_all
        start, size, track_scores, track_total_hits = 0, 10, False, DEFAULT_TRACK_TOTAL_HITS
        sort: tuple[_SortKey, ...] = ()
        source: Callable[[Mapping[str, Any]], dict[str, Any]] | None = _copy
        for key, value in body.items():
            if key == "query":
                if not isinstance(value, Mapping):
                    raise QueryError(f"Unknown key for a {_token(value)} in [query].", field=key)
                query = _Parser(now).query(value, key)
            elif key in ("from", "size"):
                number = _integer(value, key)
                if number < 0:
                    raise QueryError(
                        f"[{key}] parameter cannot be negative, found [{number}]",
                        field=key,
                        type=ILLEGAL,
                    )
                if key == "from":
                    start = number
                else:
                    size = number
            elif key == "sort":
                sort = tuple(_parse_sort(value))
            elif key == "_source":
                source = _parse_source(value)
            elif key == "track_scores":
                track_scores = _boolean(value, key)
            elif key == "track_total_hits":
                track_total_hits = _parse_track_total_hits(value)
            elif key in _UNSUPPORTED_KEYS:
                raise QueryError(
                    f"[{key}] is not supported by modelyard's search", field=key, type=ILLEGAL
                )
            elif key not in _IGNORED_KEYS:
                raise QueryError(f"Unknown key for a {_token(value)} in [{key}].", field=key)
        if start + size > MAX_RESULT_WINDOW:
            raise QueryError(
                "Result window is too large, from + size must be less than or equal to: "
                f"[{MAX_RESULT_WINDOW}] but was [{start + size}]. See the scroll api for a more "
                "efficient way to request large data sets.",
                field="size",
                type=ILLEGAL,
            )
        return cls(query, start, size, sort, track_scores, track_total_hits, source)

    @property
    def scores_tracked(self) -> bool:
        return not self.sort or self.track_scores or any(k.field == "_score" for k in self.sort)

    def sort_values(self, doc: Doc, position: int, score: float) -> tuple[Any, ...]:
        return tuple(_sort_value(key, doc, position, score) for key in self.sort)

    def compare(self, a: _Hit, b: _Hit) -> int:
        if not self.sort:
            return _sign(b.score - a.score) or a.position - b.position
        for key, x, y in zip(self.sort, a.sort, b.sort, strict=True):
            if x is None or y is None:
                if x is None and y is None:
                    continue
                return (1 if x is None else -1) * (-1 if key.missing_first else 1)
            order = _sign_of(_rank(x), _rank(y))
            if order:
                return -order if key.descending else order
        return a.position - b.position

    def render(self, hit: _Hit, index: str, scored: bool) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "_index": index,
            "_id": hit.doc.id,
            "_version": 1,
            "_seq_no": 0,
            "_primary_term": 1,
            "_score": hit.score if scored else None,
        }
        if self.source is not None:
            rendered["_source"] = self.source(hit.doc.source)
        if self.sort:
            rendered["sort"] = list(hit.sort)
        return rendered


def _parse_track_total_hits(value: Any) -> int:
    if isinstance(value, bool) or value in ("true", "false"):
        return _TRACK_ACCURATE if value in (True, "true") else _TRACK_DISABLED
    number = _integer(value, "track_total_hits")
    if number < _TRACK_DISABLED:
        raise QueryError(
            f"[track_total_hits] parameter must be positive or equals to -1, got {number}",
            field="track_total_hits",
            type=ILLEGAL,
        )
    return number
