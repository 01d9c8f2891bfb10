"""Query clauses (``query`` in a search body): parsing each into a :data:`Matcher`, and
matching it against a document, including ``range`` bounds and their date math.
"""

from __future__ import annotations

import calendar
import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelyard.dialects.opensearch.query_values import (
    ILLEGAL,
    Doc,
    QueryError,
    _boolean,
    _sign,
    _sign_of,
    _values,
)

#: Query types OpenSearch knows that this evaluator does not run.
_UNSUPPORTED_QUERIES = frozenset(
    [
        "boosting",
        "constant_score",
        "dis_max",
        "function_score",
        "fuzzy",
        "match_bool_prefix",
        "match_none",
        "match_phrase",
        "match_phrase_prefix",
        "multi_match",
        "nested",
        "prefix",
        "query_string",
        "regexp",
        "script",
        "script_score",
        "simple_query_string",
        "terms_set",
        "wildcard",
    ]
)

_DATE_FORMATS = frozenset(
    [
        "date_optional_time",
        "date_time",
        "epoch_millis",
        "strict_date_optional_time",
        "strict_date_optional_time_nanos",
        "strict_date_time",
    ]
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_YEAR_MONTH = re.compile(r"(\d{4})(?:-(\d{2}))?")
_DATE_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")
#: Word tokens; dots and apostrophes between word characters stay inside one token, as the
#: standard analyzer keeps ``v1.2`` and ``don't`` whole.
_TOKEN = re.compile(r"\w+(?:['\u2019.]\w+)*")

Matcher = Callable[["Doc"], float | None]
"""A compiled query: a document's score, or None when it does not match."""


#: OpenSearch's default ``indices.query.bool.max_nested_depth``.
MAX_BOOL_DEPTH = 20


class _Parser:
    """Compiles query clauses into matchers; ``now`` anchors date math in ``range``."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.compilers: dict[str, Callable[[Mapping[str, Any], str], Matcher]] = {
            "bool": self.bool_query,
            "exists": self.exists_query,
            "ids": self.ids_query,
            "match": self.match_query,
            "match_all": self.match_all_query,
            "range": self.range_query,
            "term": self.term_query,
            "terms": self.terms_query,
        }

    def query(self, clause: Any, path: str) -> Matcher:
        if not isinstance(clause, Mapping):
            raise QueryError("[_na] query malformed, must start with start_object", field=path)
        if not clause:
            raise QueryError("query malformed, empty clause found", field=path, type=ILLEGAL)
        name, *others = clause
        if others:
            raise QueryError(
                f"[{name}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]",
                field=f"{path}.{others[0]}",
            )
        path = f"{path}.{name}"
        compiler = self.compilers.get(name)
        if compiler is None:
            raise QueryError(self._unknown(name), field=path)
        body = clause[name]
        if not isinstance(body, Mapping):
            raise QueryError(
                f"[{name}] query malformed, no start_object after query name", field=path
            )
        return compiler(body, path)

    def _unknown(self, name: str) -> str:
        supported = ", ".join(sorted(self.compilers))
        if name in _UNSUPPORTED_QUERIES:
            return f"[{name}] queries are not supported by modelyard; use one of [{supported}]"
        close = difflib.get_close_matches(name, sorted(self.compilers), n=3, cutoff=0.7)
        if len(close) == 1:
            return f"unknown query [{name}] did you mean [{close[0]}]?"
        if close:
            return f"unknown query [{name}] did you mean any of [{', '.join(close)}]?"
        return f"unknown query [{name}]"

    def match_all_query(self, body: Mapping[str, Any], path: str) -> Matcher:
        _allow("match_all", body, path, {"boost"})
        boost = _boost(body, path)
        return lambda doc: boost

    def bool_query(self, body: Mapping[str, Any], path: str) -> Matcher:
        if path.count(".bool") > MAX_BOOL_DEPTH:
            raise QueryError(
                "The nested depth of the query exceeds the maximum nested depth for bool "
                f"queries set in [indices.query.bool.max_nested_depth] ({MAX_BOOL_DEPTH})",
                field=path,
                type=ILLEGAL,
            )
        _allow(
            "bool",
            body,
            path,
            {"must", "filter", "must_not", "should"}
            | {"minimum_should_match", "boost", "adjust_pure_negative"},
        )
        clauses = {
            occur: self._clauses(body.get(occur), f"{path}.{occur}")
            for occur in ("must", "filter", "must_not", "should")
        }
        must, filters, must_not, should = clauses.values()
        boost = _boost(body, path)
        adjust = _boolean(body.get("adjust_pure_negative", True), f"{path}.adjust_pure_negative")
        if must_not and not (must or filters or should) and not adjust:
            return lambda doc: None  # Lucene's pure negative query: it matches nothing
        if "minimum_should_match" in body:
            wanted = _minimum_should_match(
                len(should), body["minimum_should_match"], f"{path}.minimum_should_match"
            )
        else:
            wanted = 0
        if should and not must and not filters:
            wanted = max(wanted, 1)
        if not any(clauses.values()):
            return lambda doc: boost

        def score(doc: Doc) -> float | None:
            total = 0.0
            for clause in must:
                found = clause(doc)
                if found is None:
                    return None
                total += found
            if any(clause(doc) is None for clause in filters):
                return None
            if any(clause(doc) is not None for clause in must_not):
                return None
            matched = [found for clause in should if (found := clause(doc)) is not None]
            if len(matched) < wanted:
                return None
            return (total + sum(matched)) * boost

        return score

    def _clauses(self, value: Any, path: str) -> list[Matcher]:
        if value is None:
            return []
        if isinstance(value, Mapping):
            return [self.query(value, path)]
        if isinstance(value, list):
            return [self.query(clause, f"{path}[{i}]") for i, clause in enumerate(value)]
        occur = path.rsplit(".", 1)[-1]
        raise QueryError(f"[bool] query does not support [{occur}]", field=path)

    def term_query(self, body: Mapping[str, Any], path: str) -> Matcher:
        field, spec = _single_field("term", body, path)
        path = f"{path}.{field}"
        boost, fold = 1.0, False
        if isinstance(spec, Mapping):
            _allow("term", spec, path, {"value", "boost", "case_insensitive"})
            if "value" not in spec:
                raise QueryError("value cannot be null", field=f"{path}.value", type=ILLEGAL)
            value = _term_value("term", spec["value"], f"{path}.value")
            boost = _boost(spec, path)
            if "case_insensitive" in spec:
                fold = _boolean(spec["case_insensitive"], f"{path}.case_insensitive")
        else:
            value = _term_value("term", spec, path)

        def score(doc: Doc) -> float | None:
            found = any(_same(v, value, fold=fold) for v in _values(doc, field))
            return boost if found else None

        return score

    def terms_query(self, body: Mapping[str, Any], path: str) -> Matcher:
        boost = _boost(body, path)
        field, values = _single_field(
            "terms", {k: v for k, v in body.items() if k != "boost"}, path
        )
        path = f"{path}.{field}"
        if isinstance(values, Mapping):
            raise QueryError(
                "terms lookup is not supported by modelyard; list the values", field=path
            )
        if not isinstance(values, list):
            raise QueryError(f"[terms] query does not support [{field}]", field=path)
        wanted = []
        for i, value in enumerate(values):
            if value is None:
                raise QueryError("No value specified for terms query", field=f"{path}[{i}]")
            wanted.append(_term_value("terms", value, f"{path}[{i}]"))

        def score(doc: Doc) -> float | None:
            found = any(_same(v, w) for v in _values(doc, field) for w in wanted)
            return boost if found else None

        return score

    def ids_query(self, body: Mapping[str, Any], path: str) -> Matcher:
        _allow("ids", body, path, {"values", "boost"})
        boost = _boost(body, path)
        values = body.get("values", [])
        if not isinstance(values, list) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in values
        ):
            raise QueryError("[ids] values must be a list of ids", field=f"{path}.values")
        wanted = {str(v) for v in values}
        return lambda doc: boost if doc.id in wanted else None

    def exists_query(self, body: Mapping[str, Any], path: str) -> Matcher:
        _allow("exists", body, path, {"field", "boost"})
        field = body.get("field")
        if not isinstance(field, str) or not field:
            raise QueryError("[exists] must be provided with a [field]", field=f"{path}.field")
        boost = _boost(body, path)
        return lambda doc: boost if any(map(_present, _values(doc, field))) else None

    def match_query(self, body: Mapping[str, Any], path: str) -> Matcher:
        field, spec = _single_field("match", body, path)
        path = f"{path}.{field}"
        boost, every, wanted_spec, zero_terms_all = 1.0, False, None, False
        if isinstance(spec, Mapping):
            _allow(
                "match",
                spec,
                path,
                {"query", "operator", "minimum_should_match", "boost", "zero_terms_query"}
                | {"analyzer", "lenient", "auto_generate_synonyms_phrase_query"}
                | {"prefix_length", "max_expansions", "fuzzy_transpositions"},
            )
            if "query" not in spec:
                raise QueryError("No text specified for text query", field=path)
            text = _term_value("match", spec["query"], f"{path}.query")
            boost = _boost(spec, path)
            every = _choice(spec, "operator", ("or", "and"), path) == "and"
            zero_terms_all = _choice(spec, "zero_terms_query", ("none", "all"), path) == "all"
            wanted_spec = spec.get("minimum_should_match")
            if spec.get("analyzer", "standard") != "standard":
                raise QueryError(
                    "only the [standard] analyzer is supported by modelyard",
                    field=f"{path}.analyzer",
                    type=ILLEGAL,
                )
        else:
            text = _term_value("match", spec, path)
        tokens = _analyse(_as_text(text))
        if every or len(tokens) < 2:
            wanted = len(tokens)
        elif wanted_spec is None:
            wanted = 1
        else:
            wanted = _minimum_should_match(len(tokens), wanted_spec, f"{path}.minimum_should_match")
        keyword = field.endswith(".keyword")

        def score(doc: Doc) -> float | None:
            values = _values(doc, field)
            if any((keyword or not isinstance(v, str)) and _same(v, text) for v in values):
                return boost
            if not tokens:
                return boost if zero_terms_all else None
            if keyword:
                return None
            seen = {t for v in values if isinstance(v, str) for t in _analyse(v)}
            matched = sum(token in seen for token in tokens)
            return matched * boost if matched and matched >= wanted else None

        return score

    def range_query(self, body: Mapping[str, Any], path: str) -> Matcher:
        field, spec = _single_field("range", body, path)
        path = f"{path}.{field}"
        if not isinstance(spec, Mapping):
            raise QueryError(f"[range] query does not support [{field}]", field=path)
        _allow(
            "range",
            spec,
            path,
            {"gt", "gte", "lt", "lte", "boost", "format"}
            | {"from", "to", "include_lower", "include_upper"},
        )
        boost = _boost(spec, path)
        if "format" in spec:
            _date_format(spec["format"], f"{path}.format")
        operators = {key: spec[key] for key in ("gt", "gte", "lt", "lte") if key in spec}
        lower = _boolean(spec.get("include_lower", True), f"{path}.include_lower")
        upper = _boolean(spec.get("include_upper", True), f"{path}.include_upper")
        if "from" in spec:
            operators["gte" if lower else "gt"] = spec["from"]
        if "to" in spec:
            operators["lte" if upper else "lt"] = spec["to"]
        bounds = [
            _Bound.parse(op, value, self.now, f"{path}.{op}")
            for op, value in operators.items()
            if value is not None
        ]

        def score(doc: Doc) -> float | None:
            found = any(all(b.admits(v) for b in bounds) for v in _values(doc, field))
            return boost if found else None

        return score


def _match_all(doc: Doc) -> float:
    return 1.0


# --- range bounds and dates ---------------------------------------------------------------


@dataclass(frozen=True)
class _Bound:
    op: str  # gt, gte, lt, lte
    number: float | None  # the bound as a number, for numeric values
    millis: int | None  # the bound as a date, for dates
    text: str  # the bound as a keyword

    @classmethod
    def parse(cls, op: str, value: Any, now: datetime, path: str) -> _Bound:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise QueryError(f"[range] [{op}] must be a number, a date or a string", field=path)
        if isinstance(value, float) and not math.isfinite(value):
            raise QueryError(f"[range] [{op}] must be a finite number", field=path)
        round_up = op in ("gt", "lte")
        # "2024" is the year 2024, as in a date field, not the number 2024
        year = isinstance(value, str) and _YEAR_MONTH.fullmatch(value)
        number = None if year else _as_number(value)
        return cls(op, number, _millis(value, now, round_up, path), _as_text(value))

    def admits(self, value: Any) -> bool:
        if isinstance(value, bool | Mapping):
            return False
        if isinstance(value, int | float):
            bound = self.number if self.number is not None else self.millis
            if bound is None:
                return False
            order = _sign(value - bound)
        else:
            date = _iso_millis(value)
            if date is not None and self.millis is not None:
                order = _sign(date - self.millis)
            else:
                order = _sign_of(value, self.text)
        return {"gt": order > 0, "gte": order >= 0, "lt": order < 0, "lte": order <= 0}[self.op]


def _millis(value: str | float, now: datetime, round_up: bool, path: str) -> int | None:
    """Epoch milliseconds of a range bound: a number, an ISO date, or date math (``now-1d/d``,
    ``2024-01-01||+1M``); None when the bound is no date."""
    if isinstance(value, int | float):
        return int(value)
    if re.fullmatch(r"-?\d+", value) and not _YEAR_MONTH.fullmatch(value):
        return int(value)
    if value.startswith("now"):
        anchor, steps = now, value[3:]
    elif "||" in value:
        head, _, steps = value.partition("||")
        parsed = _iso(head)
        if parsed is None:
            raise QueryError(f"failed to parse date field [{value}]", field=path)
        anchor = parsed
    else:
        return _iso_millis(value)
    position = 0
    while position < len(steps):
        step = _DATE_MATH.match(steps, position)
        if step is None:
            raise QueryError(f"failed to parse date field [{value}]", field=path)
        sign, amount, unit, rounding = step.groups()
        try:
            if rounding:
                anchor = _round_date(anchor, rounding, up=round_up)
            else:
                anchor = _shift(anchor, int(amount) * (1 if sign == "+" else -1), unit)
        except (ValueError, OverflowError):
            raise QueryError(f"date math [{value}] leaves the calendar", field=path) from None
        position = step.end()
    return _to_millis(anchor)


def _iso(text: str) -> datetime | None:
    """An ISO 8601 date (``2024``, ``2024-05``, ``2024-05-01``, ``2024-05-01T10:00:00Z``),
    UTC when it names no zone; None when ``text`` is none."""
    partial = _YEAR_MONTH.fullmatch(text)
    try:
        if partial:
            return datetime(int(partial[1]), int(partial[2] or 1), 1, tzinfo=UTC)
        if not re.match(r"\d{4}-\d{2}-\d{2}", text):
            return None
        date = datetime.fromisoformat(text)
    except ValueError:
        return None
    return date if date.tzinfo else date.replace(tzinfo=UTC)


def _iso_millis(text: str) -> int | None:
    date = _iso(text)
    return None if date is None else _to_millis(date)


def _to_millis(date: datetime) -> int:
    return (date - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _shift(date: datetime, amount: int, unit: str) -> datetime:
    if unit in ("y", "M"):
        months = date.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = date.year + months // 12, months % 12 + 1
        day = min(date.day, calendar.monthrange(year, month)[1])
        return date.replace(year=year, month=month, day=day)
    units = {"w": "weeks", "d": "days", "h": "hours", "H": "hours", "m": "minutes"}
    return date + timedelta(**{units.get(unit, "seconds"): amount})


def _round_date(date: datetime, unit: str, *, up: bool) -> datetime:
    """``date`` rounded down to the start of ``unit``, or up to its last millisecond."""
    kept = "yMdhms".index({"w": "d", "H": "h"}.get(unit, unit))
    fields = (date.year, date.month, date.day, date.hour, date.minute, date.second)
    floors = (1, 1, 1, 0, 0, 0)
    start = datetime(
        *(f if i <= kept else floors[i] for i, f in enumerate(fields)), tzinfo=date.tzinfo
    )
    if unit == "w":
        start -= timedelta(days=start.weekday())
    if not up:
        return start
    return _shift(start, 1, unit) - timedelta(milliseconds=1)


def _date_format(value: Any, path: str) -> None:
    formats = value.split("||") if isinstance(value, str) else [None]
    if not all(f in _DATE_FORMATS for f in formats):
        raise QueryError(
            f"[format] [{value}] is not supported by modelyard; it reads ISO 8601 dates and "
            "epoch milliseconds (strict_date_optional_time||epoch_millis)",
            field=path,
            type=ILLEGAL,
        )


# --- values ------------------------------------------------------------------------------


def _present(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(map(_present, value.values()))
    if isinstance(value, list):
        return any(map(_present, value))
    return value is not None


def _same(value: Any, wanted: Any, *, fold: bool = False) -> bool:
    """Whether the document's ``value`` equals the query's ``wanted``, compared as OpenSearch
    compares them in a field of ``value``'s JSON type (``"2"`` equals ``2`` in a number)."""
    if isinstance(value, bool):
        return _as_text(wanted) == _as_text(value) if isinstance(wanted, bool | str) else False
    if isinstance(value, int | float):
        return _as_number(wanted) == value
    if isinstance(value, str):
        text = _as_text(wanted)
        return text.casefold() == value.casefold() if fold else text == value
    return False


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def _as_text(value: str | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _analyse(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


# --- parameters --------------------------------------------------------------------------


def _single_field(name: str, body: Mapping[str, Any], path: str) -> tuple[str, Any]:
    fields = list(body)
    if not fields or not fields[0]:
        raise QueryError("field name is null or empty", field=path, type=ILLEGAL)
    if len(fields) > 1:
        raise QueryError(
            f"[{name}] query doesn't support multiple fields, found [{fields[0]}] and "
            f"[{fields[1]}]",
            field=path,
        )
    return fields[0], body[fields[0]]


def _allow(name: str, body: Mapping[str, Any], path: str, known: set[str]) -> None:
    for key in body:
        if key not in known:
            raise QueryError(f"[{name}] query does not support [{key}]", field=f"{path}.{key}")


def _term_value(name: str, value: Any, path: str) -> str | float:
    if value is None:
        raise QueryError("value cannot be null", field=path, type=ILLEGAL)
    if isinstance(value, list):
        raise QueryError(f"[{name}] query does not support array of values", field=path)
    if not isinstance(value, str | int | float):
        raise QueryError(f"[{name}] query value must be a string, number or boolean", field=path)
    return value


def _boost(body: Mapping[str, Any], path: str) -> float:
    value = body.get("boost", 1.0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError("[boost] must be a number", field=f"{path}.boost")
    if value < 0:
        raise QueryError("negative [boost] are not allowed.", field=f"{path}.boost", type=ILLEGAL)
    return float(value)


def _choice(body: Mapping[str, Any], key: str, options: tuple[str, ...], path: str) -> str:
    value = body.get(key, options[0])
    if not isinstance(value, str) or value.lower() not in options:
        raise QueryError(
            f"[{key}] must be one of [{', '.join(options)}], found [{value}]",
            field=f"{path}.{key}",
            type=ILLEGAL,
        )
    return value.lower()


def _minimum_should_match(optional: int, spec: Any, path: str) -> int:
    """OpenSearch's ``minimum_should_match`` of ``optional`` clauses: ``2``, ``-1``, ``75%``,
    ``-25%`` or conditional ``3<90%`` forms."""
    if isinstance(spec, bool) or not isinstance(spec, str | int):
        raise QueryError("[minimum_should_match] must be an integer or a string", field=path)
    text = str(spec).strip()
    try:
        if "<" in text:
            result = optional
            for part in re.sub(r"\s*<\s*", "<", text).split():
                bound, _, rest = part.partition("<")
                if optional <= int(bound):
                    return result
                result = _minimum_should_match(optional, rest, path)
            return result
        if text.endswith("%"):
            share = optional * int(text[:-1]) / 100
            result = optional + int(share) if share < 0 else int(share)
        else:
            number = int(text)
            result = optional + number if number < 0 else number
    except ValueError:
        raise QueryError(
            f"[minimum_should_match] cannot read [{spec}]", field=path, type=ILLEGAL
        ) from None
    return max(result, 0)
