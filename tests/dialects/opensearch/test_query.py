"""dialects/opensearch/query.py: the query DSL subset of ML Commons' ``_search`` endpoints,
evaluated in memory: which documents match, in which order, with which response shape, and
which bodies are refused with which field and OpenSearch error type."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelyard.dialects.opensearch.query import Doc, QueryError, search
from modelyard.errors import InvalidArgument

PARSING = "parsing_exception"
ILLEGAL = "illegal_argument_exception"
INDEX = ".plugins-ml-model"

# 1700000000000 = 2023-11-14T22:13:20Z, 1710000000000 = 2024-03-09T16:00:00Z,
# 1720000000000 = 2024-07-03T09:46:40Z
DOCS = [
    Doc(
        "m1",
        {
            "name": "all-MiniLM-L6-v2",
            "model_group_id": "g1",
            "algorithm": "TEXT_EMBEDDING",
            "model_state": "DEPLOYED",
            "model_version": "1",
            "created_time": 1700000000000,
            "last_deployed_time": "2024-01-15T08:00:00+00:00",
            "model_config": {"model_type": "bert", "embedding_dimension": 384},
            "backend_roles": ["ml", "search"],
            "is_hidden": False,
            "description": None,
        },
    ),
    Doc(
        "m2",
        {
            "name": "msmarco-distilbert-base-tas-b",
            "model_group_id": "g1",
            "algorithm": "TEXT_EMBEDDING",
            "model_state": "REGISTERED",
            "model_version": "2",
            "created_time": 1710000000000,
            "model_config": {"model_type": "distilbert", "embedding_dimension": 768},
            "backend_roles": ["ml"],
            "is_hidden": False,
            "tags": [],
        },
    ),
    Doc(
        "m3",
        {
            "name": "RCF anomaly detector",
            "model_group_id": "g2",
            "algorithm": "FIT_RCF",
            "model_state": "DEPLOYED",
            "model_version": "1",
            "created_time": 1720000000000,
            "last_deployed_time": "2024-07-04T00:00:00Z",
            "description": "Random cut forest, trained nightly",
            "is_hidden": True,
            "tags": ["nightly"],
            "connectors": [{"name": "a", "secret": "x"}, {"name": "b", "secret": "y"}],
        },
    ),
    Doc("c1", {"model_id": "m1", "name": "all-MiniLM-L6-v2", "chunk_number": 0}),
    Doc("c2", {"model_id": "m2", "chunk_number": 0, "created_time": 1710000000001}),
]
ALL = ["m1", "m2", "m3", "c1", "c2"]


def run(body: dict[str, Any] | None, docs: list[Doc] = DOCS) -> dict[str, Any]:
    return search(docs, body, index=INDEX)


def ids(body: dict[str, Any] | None, docs: list[Doc] = DOCS) -> list[str]:
    return [hit["_id"] for hit in run(body, docs)["hits"]["hits"]]


def scores(body: dict[str, Any]) -> list[float | None]:
    return [hit["_score"] for hit in run(body)["hits"]["hits"]]


# --- the response ------------------------------------------------------------------------


def test_response_has_opensearch_shape() -> None:
    answer = run({"query": {"ids": {"values": ["m2"]}}})
    assert isinstance(answer.pop("took"), int)
    assert answer == {
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": 1, "relation": "eq"},
            "max_score": 1.0,
            "hits": [
                {
                    "_index": INDEX,
                    "_id": "m2",
                    "_version": 1,
                    "_seq_no": 0,
                    "_primary_term": 1,
                    "_score": 1.0,
                    "_source": DOCS[1].source,
                }
            ],
        },
    }


@pytest.mark.parametrize("body", [None, {}, {"query": {"match_all": {}}}])
def test_missing_or_empty_body_matches_all(body: dict[str, Any] | None) -> None:
    answer = run(body)
    assert [hit["_id"] for hit in answer["hits"]["hits"]] == ALL
    assert answer["hits"]["total"] == {"value": 5, "relation": "eq"}
    assert answer["hits"]["max_score"] == 1.0


def test_no_documents_answer_no_hits() -> None:
    answer = run({"query": {"term": {"name": "x"}}}, [])
    assert answer["hits"] == {
        "total": {"value": 0, "relation": "eq"},
        "max_score": None,
        "hits": [],
    }


def test_accepts_any_iterable_of_documents() -> None:
    assert (
        search(iter(DOCS), {"query": {"term": {"model_group_id": "g2"}}}, index=INDEX)["hits"][
            "total"
        ]["value"]
        == 1
    )


def test_ignored_keys_are_accepted() -> None:
    assert ids({"version": True, "seq_no_primary_term": True, "timeout": "1s"}) == ALL


# --- queries -----------------------------------------------------------------------------

QUERIES = [
    ("match_all", {"match_all": {}}, ALL),
    ("match_all boost", {"match_all": {"boost": 2}}, ALL),
    ("term", {"term": {"algorithm": "FIT_RCF"}}, ["m3"]),
    ("term value", {"term": {"algorithm": {"value": "FIT_RCF", "boost": 1.0}}}, ["m3"]),
    ("term is exact", {"term": {"algorithm": "fit_rcf"}}, []),
    (
        "term case_insensitive",
        {"term": {"algorithm": {"value": "fit_rcf", "case_insensitive": True}}},
        ["m3"],
    ),
    ("term whole string", {"term": {"name": "all-MiniLM-L6-v2"}}, ["m1", "c1"]),
    ("term not a token", {"term": {"name": "minilm"}}, []),
    ("term .keyword", {"term": {"name.keyword": "all-MiniLM-L6-v2"}}, ["m1", "c1"]),
    ("term .keyword exact", {"term": {"name.keyword": "all-minilm-l6-v2"}}, []),
    ("term .keyword of a number", {"term": {"model_config.embedding_dimension.keyword": 384}}, []),
    ("term dotted", {"term": {"model_config.model_type": "bert"}}, ["m1"]),
    ("term string on a number", {"term": {"model_config.embedding_dimension": "768"}}, ["m2"]),
    ("term number on a keyword", {"term": {"model_version": 1}}, ["m1", "m3"]),
    ("term boolean", {"term": {"is_hidden": True}}, ["m3"]),
    ("term boolean as string", {"term": {"is_hidden": "false"}}, ["m1", "m2"]),
    ("term in a list", {"term": {"backend_roles": "search"}}, ["m1"]),
    ("term in a list of objects", {"term": {"connectors.name": "b"}}, ["m3"]),
    ("term _id", {"term": {"_id": "m2"}}, ["m2"]),
    ("term on an object", {"term": {"model_config": "bert"}}, []),
    ("term missing field", {"term": {"nope": "x"}}, []),
    ("terms", {"terms": {"model_state": ["DEPLOYED", "LOADING"]}}, ["m1", "m3"]),
    ("terms _id keeps input order", {"terms": {"_id": ["m3", "m1"]}}, ["m1", "m3"]),
    ("terms in a list", {"terms": {"backend_roles": ["search", "nope"]}}, ["m1"]),
    ("terms empty", {"terms": {"model_state": []}}, []),
    ("terms .keyword boost", {"terms": {"model_group_id.keyword": ["g2"], "boost": 2}}, ["m3"]),
    ("terms mixed types", {"terms": {"chunk_number": ["0", 7]}}, ["c1", "c2"]),
    ("ids", {"ids": {"values": ["m2", "zz", "c1"]}}, ["m2", "c1"]),
    ("ids none", {"ids": {}}, []),
    ("exists", {"exists": {"field": "chunk_number"}}, ["c1", "c2"]),
    ("exists object", {"exists": {"field": "model_config"}}, ["m1", "m2"]),
    ("exists dotted", {"exists": {"field": "model_config.embedding_dimension"}}, ["m1", "m2"]),
    ("exists skips null", {"exists": {"field": "description"}}, ["m3"]),
    ("exists skips empty list", {"exists": {"field": "tags"}}, ["m3"]),
    ("exists zero", {"exists": {"field": "chunk_number"}}, ["c1", "c2"]),
    ("exists .keyword", {"exists": {"field": "description.keyword"}}, ["m3"]),
    ("match token", {"match": {"name": "minilm"}}, ["m1", "c1"]),
    ("match or", {"match": {"name": "MiniLM distilbert"}}, ["m1", "m2", "c1"]),
    ("match no token", {"match": {"name": "bert"}}, []),
    ("match and", {"match": {"name": {"query": "all minilm", "operator": "and"}}}, ["m1", "c1"]),
    ("match and misses", {"match": {"name": {"query": "all distilbert", "operator": "AND"}}}, []),
    (
        "match minimum_should_match",
        {"match": {"name": {"query": "msmarco base bert", "minimum_should_match": 2}}},
        ["m2"],
    ),
    (
        "match minimum_should_match percent",
        {"match": {"name": {"query": "msmarco base bert", "minimum_should_match": "100%"}}},
        [],
    ),
    ("match punctuation", {"match": {"description": "FOREST!"}}, ["m3"]),
    ("match .keyword is exact", {"match": {"name.keyword": "all-MiniLM-L6-v2"}}, ["m1", "c1"]),
    ("match .keyword no token", {"match": {"name.keyword": "minilm"}}, []),
    ("match number", {"match": {"model_config.embedding_dimension": "384"}}, ["m1"]),
    ("match boolean", {"match": {"is_hidden": True}}, ["m3"]),
    ("match in a list", {"match": {"tags": "NIGHTLY"}}, ["m3"]),
    ("match empty", {"match": {"name": ""}}, []),
    (
        "match zero_terms_query all",
        {"match": {"name": {"query": "", "zero_terms_query": "all"}}},
        ALL,
    ),
    ("range gte", {"range": {"created_time": {"gte": 1710000000000}}}, ["m2", "m3", "c2"]),
    (
        "range gt lt",
        {"range": {"created_time": {"gt": 1710000000000, "lt": 1720000000000}}},
        ["c2"],
    ),
    (
        "range ISO bounds on epoch millis",
        {"range": {"created_time": {"gte": "2024-01-01", "lt": "2024-07-01T00:00:00Z"}}},
        ["m2", "c2"],
    ),
    ("range lte ISO instant", {"range": {"created_time": {"lte": "2023-11-14T22:13:20Z"}}}, ["m1"]),
    ("range ISO offset", {"range": {"created_time": {"lte": "2023-11-15T00:13:20+02:00"}}}, ["m1"]),
    ("range year", {"range": {"created_time": {"lt": "2024"}}}, ["m1"]),
    ("range ISO document", {"range": {"last_deployed_time": {"gte": "2024-02-01"}}}, ["m3"]),
    (
        "range millis on ISO document",
        {"range": {"last_deployed_time": {"gte": 1704067200000}}},
        ["m1", "m3"],
    ),
    (
        "range epoch millis string",
        {"range": {"created_time": {"gt": "1710000000000"}}},
        ["m3", "c2"],
    ),
    ("range number", {"range": {"model_config.embedding_dimension": {"gt": 400}}}, ["m2"]),
    (
        "range number as string",
        {"range": {"model_config.embedding_dimension": {"lt": "400"}}},
        ["m1"],
    ),
    ("range keyword", {"range": {"model_state": {"gte": "E", "lt": "S"}}}, ["m2"]),
    ("range in a list", {"range": {"backend_roles": {"gt": "p"}}}, ["m1"]),
    ("range null bound", {"range": {"chunk_number": {"gte": None}}}, ["c1", "c2"]),
    (
        "range anchored math",
        {"range": {"created_time": {"gte": "2024-01-01||+2M"}}},
        ["m2", "m3", "c2"],
    ),
    ("range lt rounds down", {"range": {"created_time": {"lt": "2024-03-09||/d"}}}, ["m1"]),
    (
        "range lte rounds up",
        {"range": {"created_time": {"lte": "2024-03-09||/d"}}},
        ["m1", "m2", "c2"],
    ),
    (
        "range gt rounds up",
        {"range": {"created_time": {"gt": "2024-03-08||/d"}}},
        ["m2", "m3", "c2"],
    ),
    (
        "range gte rounds down",
        {"range": {"created_time": {"gte": "2024-03||/M"}}},
        ["m2", "m3", "c2"],
    ),
    ("range before now", {"range": {"created_time": {"lt": "now"}}}, ["m1", "m2", "m3", "c2"]),
    (
        "range from to",
        {
            "range": {
                "created_time": {
                    "from": 1700000000000,
                    "to": 1710000000000,
                    "include_lower": False,
                    "include_upper": True,
                    "boost": 1.0,
                }
            }
        },
        ["m2"],
    ),
    (
        "range format",
        {
            "range": {
                "created_time": {
                    "gte": "2024-01-01",
                    "format": "strict_date_optional_time||epoch_millis",
                }
            }
        },
        ["m2", "m3", "c2"],
    ),
    ("range impossible month is a keyword", {"range": {"model_state": {"lt": "2024-13"}}}, []),
    ("range on an object", {"range": {"model_config": {"gte": 1}}}, []),
    ("range on a boolean", {"range": {"is_hidden": {"gte": 0}}}, []),
]


@pytest.mark.parametrize(
    ("query", "expected"), [q[1:] for q in QUERIES], ids=[q[0] for q in QUERIES]
)
def test_query(query: dict[str, Any], expected: list[str]) -> None:
    assert ids({"query": query}) == expected


def test_literal_dotted_keys_are_fields() -> None:
    docs = [Doc("a", {"model_config.model_type": "bert"}), Doc("b", {"model_config": {}})]
    assert ids({"query": {"term": {"model_config.model_type": "bert"}}}, docs) == ["a"]


def test_nested_lists_are_flattened() -> None:
    docs = [Doc("a", {"x": [[1, 2], [3]]}), Doc("b", {"x": [[4]]})]
    assert ids({"query": {"term": {"x": 3}}}, docs) == ["a"]


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_range_date_math_from_now() -> None:
    now = datetime.now(UTC)
    docs = [
        Doc("hour-ago", {"t": millis(now - timedelta(hours=1))}),
        Doc("two-days-ago", {"t": millis(now - timedelta(days=2))}),
        Doc("three-days-ago-iso", {"t": (now - timedelta(days=3)).isoformat()}),
    ]

    def within(bounds: dict[str, Any]) -> list[str]:
        return ids({"query": {"range": {"t": bounds}}}, docs)

    assert within({"gte": "now-1d"}) == ["hour-ago"]
    assert within({"gte": "now-1d", "lte": "now"}) == ["hour-ago"]
    assert within({"lt": "now-47h"}) == ["two-days-ago", "three-days-ago-iso"]
    assert within({"gt": "now-1w", "lt": "now-70h"}) == ["three-days-ago-iso"]
    assert within({"gte": "now-1w+4d+12h", "lte": "now-100m"}) == ["two-days-ago"]


def test_range_date_math_rounds_by_operator() -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    docs = [Doc("today", {"t": millis(today)}), Doc("yesterday", {"t": millis(today) - 1})]

    def within(bounds: dict[str, Any]) -> list[str]:
        return ids({"query": {"range": {"t": bounds}}}, docs)

    assert within({"gte": "now/d"}) == ["today"]
    assert within({"lt": "now/d"}) == ["yesterday"]
    assert within({"gt": "now-1d/d"}) == ["today"]
    assert within({"lte": "now-1d/d"}) == ["yesterday"]
    assert within({"gte": "now-1d/d", "lte": "now/d"}) == ["today", "yesterday"]


def test_range_month_math_clamps_the_day() -> None:
    docs = [Doc("feb29", {"t": "2024-02-29T00:00:00Z"}), Doc("mar1", {"t": "2024-03-01"})]
    assert ids({"query": {"range": {"t": {"lte": "2024-01-31||+1M"}}}}, docs) == ["feb29"]
    assert ids({"query": {"range": {"t": {"gte": "2023-02-28||+1y/M"}}}}, docs) == ["feb29", "mar1"]


# --- bool --------------------------------------------------------------------------------

G1 = {"term": {"model_group_id": "g1"}}
DEPLOYED = {"term": {"model_state": "DEPLOYED"}}
EMBEDDING = {"term": {"algorithm": "TEXT_EMBEDDING"}}
VERSION_1 = {"term": {"model_version": "1"}}

BOOLS = [
    ("empty", {}, ALL, [1.0] * 5),
    ("must", {"must": G1}, ["m1", "m2"], [1.0, 1.0]),
    ("must list", {"must": [G1, DEPLOYED]}, ["m1"], [2.0]),
    ("filter scores zero", {"filter": G1}, ["m1", "m2"], [0.0, 0.0]),
    (
        "must and filter",
        {"must": [{"match": {"name": "minilm"}}], "filter": [{"exists": {"field": "model_state"}}]},
        ["m1"],
        [1.0],
    ),
    (
        "must_not alone",
        {"must_not": {"exists": {"field": "chunk_number"}}},
        ["m1", "m2", "m3"],
        [0.0, 0.0, 0.0],
    ),
    (
        "should alone needs one",
        {"should": [{"term": {"algorithm": "FIT_RCF"}}, {"term": {"model_version": "2"}}]},
        ["m2", "m3"],
        [1.0, 1.0],
    ),
    ("should with must is optional", {"must": G1, "should": DEPLOYED}, ["m1", "m2"], [2.0, 1.0]),
    (
        "should with filter is optional",
        {"filter": G1, "should": DEPLOYED},
        ["m1", "m2"],
        [1.0, 0.0],
    ),
    (
        "should with must_not needs one",
        {"must_not": G1, "should": [DEPLOYED, {"exists": {"field": "chunk_number"}}]},
        ["m3", "c1", "c2"],
        [1.0, 1.0, 1.0],
    ),
    (
        "minimum_should_match",
        {"should": [EMBEDDING, DEPLOYED, VERSION_1], "minimum_should_match": 2},
        ["m1", "m3"],
        [3.0, 2.0],
    ),
    (
        "minimum_should_match negative",
        {"should": [EMBEDDING, DEPLOYED, VERSION_1], "minimum_should_match": "-1"},
        ["m1", "m3"],
        [3.0, 2.0],
    ),
    (
        "minimum_should_match percent",
        {"should": [EMBEDDING, DEPLOYED, VERSION_1], "minimum_should_match": "67%"},
        ["m1", "m3"],
        [3.0, 2.0],
    ),
    (
        "minimum_should_match conditional",
        {"should": [EMBEDDING, DEPLOYED, VERSION_1], "minimum_should_match": "2<-1"},
        ["m1", "m3"],
        [3.0, 2.0],
    ),
    (
        "minimum_should_match conditional below bound",
        {"should": [EMBEDDING, DEPLOYED, VERSION_1], "minimum_should_match": "3<1"},
        ["m1"],
        [3.0],
    ),
    (
        "minimum_should_match above the clauses",
        {"should": [EMBEDDING], "minimum_should_match": 2},
        [],
        [],
    ),
    (
        "minimum_should_match with must",
        {"must": G1, "should": [DEPLOYED], "minimum_should_match": 1},
        ["m1"],
        [2.0],
    ),
    (
        "nested",
        {"must_not": {"bool": {"should": [DEPLOYED, {"exists": {"field": "chunk_number"}}]}}},
        ["m2"],
        [0.0],
    ),
    ("boost", {"must": {"term": {"algorithm": "FIT_RCF"}}, "boost": 3}, ["m3"], [3.0]),
    (
        "boost inner",
        {"must": {"term": {"algorithm": {"value": "FIT_RCF", "boost": 2.5}}}},
        ["m3"],
        [2.5],
    ),
    ("adjust_pure_negative", {"must": G1, "adjust_pure_negative": True}, ["m1", "m2"], [1.0, 1.0]),
    (
        "adjust_pure_negative false",
        {"must_not": G1, "adjust_pure_negative": False},
        [],
        [],
    ),
    ("empty clause lists", {"must": [], "should": [], "filter": []}, ALL, [1.0] * 5),
]


@pytest.mark.parametrize(
    ("clauses", "expected", "expected_scores"),
    [b[1:] for b in BOOLS],
    ids=[b[0] for b in BOOLS],
)
def test_bool(clauses: dict[str, Any], expected: list[str], expected_scores: list[float]) -> None:
    body = {"query": {"bool": clauses}}
    assert ids(body) == expected
    assert scores(body) == expected_scores


def test_match_scores_matched_tokens_and_orders_by_score() -> None:
    body = {"query": {"match": {"name": "minilm l6 msmarco"}}}
    assert ids(body) == ["m1", "c1", "m2"]
    assert scores(body) == [2.0, 2.0, 1.0]
    assert run(body)["hits"]["max_score"] == 2.0


def test_match_boost() -> None:
    assert scores({"query": {"match": {"description": {"query": "cut forest", "boost": 2}}}}) == [
        4.0
    ]


# --- sort, paging, _source, totals ---------------------------------------------------------

SORTS = [
    ("desc, missing last", [{"created_time": {"order": "desc"}}], ["m3", "c2", "m2", "m1", "c1"]),
    ("string", "created_time", ["m1", "m2", "c2", "m3", "c1"]),
    ("single object", {"created_time": "desc"}, ["m3", "c2", "m2", "m1", "c1"]),
    (
        "missing first",
        [{"created_time": {"order": "asc", "missing": "_first"}}],
        ["c1", "m1", "m2", "c2", "m3"],
    ),
    (
        "missing value",
        [{"created_time": {"missing": 1705000000000}}],
        ["m1", "c1", "m2", "c2", "m3"],
    ),
    (
        "two keys",
        [{"model_group_id": "asc"}, {"created_time": "desc"}],
        ["m2", "m1", "m3", "c2", "c1"],
    ),
    (
        "two keys in one object",
        [{"model_group_id": "asc", "created_time": "desc"}],
        ["m2", "m1", "m3", "c2", "c1"],
    ),
    (".keyword, code point order", [{"name.keyword": "asc"}], ["m3", "m1", "c1", "m2", "c2"]),
    ("list asc uses min", [{"backend_roles": "asc"}], ["m1", "m2", "m3", "c1", "c2"]),
    ("list desc uses max", [{"backend_roles": "desc"}], ["m1", "m2", "m3", "c1", "c2"]),
    (
        "list mode max asc",
        [{"backend_roles": {"order": "asc", "mode": "max", "unmapped_type": "keyword"}}],
        ["m2", "m1", "m3", "c1", "c2"],
    ),
    ("_doc desc", [{"_doc": "desc"}], ["c2", "c1", "m3", "m2", "m1"]),
    ("_id", ["_id"], ["c1", "c2", "m1", "m2", "m3"]),
    ("boolean", [{"is_hidden": {"order": "desc"}}, "_doc"], ["m3", "m1", "m2", "c1", "c2"]),
    ("empty", [], ALL),
]


@pytest.mark.parametrize(("sort", "expected"), [s[1:] for s in SORTS], ids=[s[0] for s in SORTS])
def test_sort(sort: Any, expected: list[str]) -> None:
    assert ids({"sort": sort}) == expected


def test_sort_by_field_drops_scores_and_adds_sort_values() -> None:
    answer = run({"query": {"exists": {"field": "created_time"}}, "sort": {"created_time": "desc"}})
    assert answer["hits"]["max_score"] is None
    assert [(h["_id"], h["_score"], h["sort"]) for h in answer["hits"]["hits"]] == [
        ("m3", None, [1720000000000]),
        ("c2", None, [1710000000001]),
        ("m2", None, [1710000000000]),
        ("m1", None, [1700000000000]),
    ]


def test_sort_missing_value_is_null() -> None:
    answer = run({"query": {"ids": {"values": ["c1"]}}, "sort": ["created_time"]})
    assert answer["hits"]["hits"][0]["sort"] == [None]


def test_sort_by_score() -> None:
    body: dict[str, Any] = {"query": {"match": {"name": "minilm l6 msmarco"}}}
    assert ids({**body, "sort": ["_score"]}) == ["m1", "c1", "m2"]
    answer = run({**body, "sort": [{"_score": {"order": "asc"}}, {"_id": "desc"}]})
    assert [(h["_id"], h["_score"], h["sort"]) for h in answer["hits"]["hits"]] == [
        ("m2", 1.0, [1.0, "m2"]),
        ("m1", 2.0, [2.0, "m1"]),
        ("c1", 2.0, [2.0, "c1"]),
    ]
    assert answer["hits"]["max_score"] == 2.0


def test_track_scores_keeps_scores_when_sorting() -> None:
    answer = run({"query": {"match": {"name": "minilm"}}, "sort": "_id", "track_scores": True})
    assert [(h["_id"], h["_score"]) for h in answer["hits"]["hits"]] == [("c1", 1.0), ("m1", 1.0)]
    assert answer["hits"]["max_score"] == 1.0


PAGES = [
    ({"size": 2}, ["m1", "m2"]),
    ({"from": 1, "size": 2}, ["m2", "m3"]),
    ({"from": 3}, ["c1", "c2"]),
    ({"from": 10}, []),
    ({"size": "2", "from": "1"}, ["m2", "m3"]),
    ({"size": 0}, []),
    ({"from": 1, "size": 2, "sort": [{"created_time": "desc"}]}, ["c2", "m2"]),
]


@pytest.mark.parametrize(("paging", "expected"), PAGES)
def test_paging(paging: dict[str, Any], expected: list[str]) -> None:
    answer = run(paging)
    assert [hit["_id"] for hit in answer["hits"]["hits"]] == expected
    assert answer["hits"]["total"] == {"value": 5, "relation": "eq"}


def test_default_size_is_ten() -> None:
    docs = [Doc(str(i), {"n": i}) for i in range(12)]
    assert ids(None, docs) == [str(i) for i in range(10)]


def test_size_zero_has_no_max_score() -> None:
    assert run({"size": 0})["hits"]["max_score"] is None


SOURCES: list[tuple[str, Any, dict[str, Any] | None]] = [
    ("true", True, DOCS[0].source),
    ("false", False, None),
    (
        "one field",
        "model_config",
        {"model_config": {"model_type": "bert", "embedding_dimension": 384}},
    ),
    (
        "fields",
        ["name", "model_config.model_type"],
        {"name": "all-MiniLM-L6-v2", "model_config": {"model_type": "bert"}},
    ),
    (
        "includes and excludes",
        {"includes": ["model_*"], "excludes": ["model_config.embedding_dimension"]},
        {
            "model_group_id": "g1",
            "model_state": "DEPLOYED",
            "model_version": "1",
            "model_config": {"model_type": "bert"},
        },
    ),
    (
        "singular include and exclude",
        {"include": "model_config", "exclude": "model_config.model_type"},
        {"model_config": {"embedding_dimension": 384}},
    ),
    (
        "excludes only",
        {"excludes": ["backend_roles", "model_config", "*_time", "description"]},
        {
            "name": "all-MiniLM-L6-v2",
            "model_group_id": "g1",
            "algorithm": "TEXT_EMBEDDING",
            "model_state": "DEPLOYED",
            "model_version": "1",
            "is_hidden": False,
        },
    ),
    ("wildcard crosses dots", {"includes": ["*_type"]}, {"model_config": {"model_type": "bert"}}),
    ("nothing matches", ["nope"], {}),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [s[1:] for s in SOURCES], ids=[s[0] for s in SOURCES]
)
def test_source_filtering(spec: Any, expected: dict[str, Any] | None) -> None:
    hit = run({"query": {"ids": {"values": ["m1"]}}, "_source": spec})["hits"]["hits"][0]
    assert hit.get("_source") == expected
    assert ("_source" in hit) is (expected is not None)


def test_source_filtering_inside_lists_of_objects() -> None:
    body = {
        "query": {"ids": {"values": ["m3"]}},
        "_source": {"includes": ["connectors"], "excludes": ["connectors.secret"]},
    }
    assert run(body)["hits"]["hits"][0]["_source"] == {"connectors": [{"name": "a"}, {"name": "b"}]}


def test_source_is_a_copy() -> None:
    original = copy.deepcopy(DOCS[0].source)
    source = run({"query": {"ids": {"values": ["m1"]}}})["hits"]["hits"][0]["_source"]
    source["model_config"]["model_type"] = "changed"
    source["backend_roles"].append("changed")
    assert DOCS[0].source == original


TOTALS = [
    (True, {"value": 5, "relation": "eq"}),
    ("true", {"value": 5, "relation": "eq"}),
    (2, {"value": 2, "relation": "gte"}),
    (5, {"value": 5, "relation": "eq"}),
    (0, {"value": 0, "relation": "gte"}),
]


@pytest.mark.parametrize(("track", "expected"), TOTALS)
def test_track_total_hits(track: Any, expected: dict[str, Any]) -> None:
    answer = run({"track_total_hits": track})
    assert answer["hits"]["total"] == expected
    assert len(answer["hits"]["hits"]) == 5


@pytest.mark.parametrize("track", [False, "false", -1])
def test_track_total_hits_off_drops_the_total(track: Any) -> None:
    assert "total" not in run({"track_total_hits": track})["hits"]


# --- errors ------------------------------------------------------------------------------

ERRORS: list[tuple[Any, str, str, str]] = [
    (
        {"query": {"term": {"a": 1, "b": 2}}},
        "query.term",
        PARSING,
        "[term] query doesn't support multiple fields, found [a] and [b]",
    ),
    (
        {"query": {"bool": {"must": [{"match_all": {}}, {"term": {"a": [1]}}]}}},
        "query.bool.must[1].term.a",
        PARSING,
        "[term] query does not support array of values",
    ),
    ({"query": {"foo": {}}}, "query.foo", PARSING, "unknown query [foo]"),
    (
        {"query": {"boool": {}}},
        "query.boool",
        PARSING,
        "unknown query [boool] did you mean [bool]?",
    ),
    (
        {"query": {"match_": {}}},
        "query.match_",
        PARSING,
        "unknown query [match_] did you mean any of [match, match_all]?",
    ),
    (
        {"query": {"bool": {"filter": {"wildcard": {"name": "x*"}}}}},
        "query.bool.filter.wildcard",
        PARSING,
        "[wildcard] queries are not supported by modelyard; use one of "
        "[bool, exists, ids, match, match_all, range, term, terms]",
    ),
    ({"query": {}}, "query", ILLEGAL, "query malformed, empty clause found"),
    (
        {"query": {"term": {"a": 1}, "match": {"b": 2}}},
        "query.match",
        PARSING,
        "[term] malformed query, expected [END_OBJECT] but found [FIELD_NAME]",
    ),
    (
        {"query": {"match_all": []}},
        "query.match_all",
        PARSING,
        "[match_all] query malformed, no start_object after query name",
    ),
    (
        {"query": {"bool": {"should": ["x"]}}},
        "query.bool.should[0]",
        PARSING,
        "[_na] query malformed, must start with start_object",
    ),
    (
        {"query": {"match_all": {"foo": 1}}},
        "query.match_all.foo",
        PARSING,
        "[match_all] query does not support [foo]",
    ),
    (
        {"query": {"term": {"a": {"value": 1, "foo": 2}}}},
        "query.term.a.foo",
        PARSING,
        "[term] query does not support [foo]",
    ),
    ({"query": {"term": {"a": None}}}, "query.term.a", ILLEGAL, "value cannot be null"),
    (
        {"query": {"term": {"a": {"boost": 2}}}},
        "query.term.a.value",
        ILLEGAL,
        "value cannot be null",
    ),
    ({"query": {"term": {}}}, "query.term", ILLEGAL, "field name is null or empty"),
    (
        {"query": {"term": {"a": {"value": {"x": 1}}}}},
        "query.term.a.value",
        PARSING,
        "[term] query value must be a string, number or boolean",
    ),
    (
        {"query": {"term": {"a": {"value": "x", "boost": -1}}}},
        "query.term.a.boost",
        ILLEGAL,
        "negative [boost] are not allowed.",
    ),
    (
        {"query": {"term": {"a": {"value": "x", "boost": "high"}}}},
        "query.term.a.boost",
        PARSING,
        "[boost] must be a number",
    ),
    (
        {"query": {"term": {"a": {"value": "x", "case_insensitive": "yes"}}}},
        "query.term.a.case_insensitive",
        PARSING,
        "[query.term.a.case_insensitive] must be a boolean, found [yes]",
    ),
    (
        {"query": {"terms": {"a": "x"}}},
        "query.terms.a",
        PARSING,
        "[terms] query does not support [a]",
    ),
    (
        {"query": {"terms": {"a": ["x"], "b": ["y"]}}},
        "query.terms",
        PARSING,
        "[terms] query doesn't support multiple fields, found [a] and [b]",
    ),
    (
        {"query": {"terms": {"a": ["x", None]}}},
        "query.terms.a[1]",
        PARSING,
        "No value specified for terms query",
    ),
    (
        {"query": {"terms": {"a": {"index": "i", "id": "1", "path": "p"}}}},
        "query.terms.a",
        PARSING,
        "terms lookup is not supported by modelyard; list the values",
    ),
    (
        {"query": {"bool": {"must": "x"}}},
        "query.bool.must",
        PARSING,
        "[bool] query does not support [must]",
    ),
    (
        {"query": {"bool": {"shoud": []}}},
        "query.bool.shoud",
        PARSING,
        "[bool] query does not support [shoud]",
    ),
    (
        {"query": {"bool": {"should": [{"match_all": {}}], "minimum_should_match": "abc"}}},
        "query.bool.minimum_should_match",
        ILLEGAL,
        "[minimum_should_match] cannot read [abc]",
    ),
    (
        {"query": {"bool": {"must": {"term": {"a": 1}}, "adjust_pure_negative": 3}}},
        "query.bool.adjust_pure_negative",
        PARSING,
        "[query.bool.adjust_pure_negative] must be a boolean, found [3]",
    ),
    (
        {"query": {"exists": {}}},
        "query.exists.field",
        PARSING,
        "[exists] must be provided with a [field]",
    ),
    (
        {"query": {"ids": {"values": "m1"}}},
        "query.ids.values",
        PARSING,
        "[ids] values must be a list of ids",
    ),
    (
        {"query": {"match": {"a": {"query": "x", "fuzziness": "AUTO"}}}},
        "query.match.a.fuzziness",
        PARSING,
        "[match] query does not support [fuzziness]",
    ),
    (
        {"query": {"match": {"a": {"query": "x", "operator": "xor"}}}},
        "query.match.a.operator",
        ILLEGAL,
        "[operator] must be one of [or, and], found [xor]",
    ),
    (
        {"query": {"match": {"a": {"query": "x", "analyzer": "whitespace"}}}},
        "query.match.a.analyzer",
        ILLEGAL,
        "only the [standard] analyzer is supported by modelyard",
    ),
    (
        {"query": {"match": {"a": {"operator": "and"}}}},
        "query.match.a",
        PARSING,
        "No text specified for text query",
    ),
    (
        {"query": {"match": {"a": ["x"]}}},
        "query.match.a",
        PARSING,
        "[match] query does not support array of values",
    ),
    (
        {"query": {"match": {"a": "x", "b": "y"}}},
        "query.match",
        PARSING,
        "[match] query doesn't support multiple fields, found [a] and [b]",
    ),
    (
        {"query": {"range": {"t": {"gte": "now-1x"}}}},
        "query.range.t.gte",
        PARSING,
        "failed to parse date field [now-1x]",
    ),
    (
        {"query": {"range": {"t": {"gte": "yesterday||+1d"}}}},
        "query.range.t.gte",
        PARSING,
        "failed to parse date field [yesterday||+1d]",
    ),
    (
        {"query": {"range": {"t": {"gte": "2024-01-01", "format": "dd/MM/yyyy"}}}},
        "query.range.t.format",
        ILLEGAL,
        "[format] [dd/MM/yyyy] is not supported by modelyard; it reads ISO 8601 dates and "
        "epoch milliseconds (strict_date_optional_time||epoch_millis)",
    ),
    (
        {"query": {"range": {"t": 5}}},
        "query.range.t",
        PARSING,
        "[range] query does not support [t]",
    ),
    (
        {"query": {"range": {"t": {"gte": 1, "time_zone": "+01:00"}}}},
        "query.range.t.time_zone",
        PARSING,
        "[range] query does not support [time_zone]",
    ),
    (
        {"query": {"range": {"a": {"gte": 1}, "b": {"lt": 2}}}},
        "query.range",
        PARSING,
        "[range] query doesn't support multiple fields, found [a] and [b]",
    ),
    (
        {"query": {"range": {"a": {"gte": [1]}}}},
        "query.range.a.gte",
        PARSING,
        "[range] [gte] must be a number, a date or a string",
    ),
    (
        {"query": {"range": {"t": {"lt": "now+9999y"}}}},
        "query.range.t.lt",
        PARSING,
        "date math [now+9999y] leaves the calendar",
    ),
    (
        {"query": {"range": {"t": {"lt": float("inf")}}}},
        "query.range.t.lt",
        PARSING,
        "[range] [lt] must be a finite number",
    ),
    ({"size": -1}, "size", ILLEGAL, "[size] parameter cannot be negative, found [-1]"),
    ({"from": -5}, "from", ILLEGAL, "[from] parameter cannot be negative, found [-5]"),
    ({"size": "ten"}, "size", PARSING, "[size] must be an integer, found [ten]"),
    ({"size": 1.5}, "size", PARSING, "[size] must be an integer, found [1.5]"),
    (
        {"from": 9995, "size": 10},
        "size",
        ILLEGAL,
        "Result window is too large, from + size must be less than or equal to: [10000] but was "
        "[10005]. See the scroll api for a more efficient way to request large data sets.",
    ),
    (
        {"sort": [{"created_time": "up"}]},
        "sort[0].created_time.order",
        ILLEGAL,
        "[sort] order must be [asc] or [desc], found [up]",
    ),
    (
        {"sort": [{"created_time": {"mode": "avg"}}]},
        "sort[0].created_time.mode",
        ILLEGAL,
        "[sort] mode [avg] is not supported by modelyard; use [min] or [max]",
    ),
    (
        {"sort": [{"created_time": {"foo": 1}}]},
        "sort[0].created_time.foo",
        PARSING,
        "[field_sort] unknown field [foo]",
    ),
    (
        {"sort": [{"_score": {"missing": "_last"}}]},
        "sort[0]._score.missing",
        PARSING,
        "[sort] unknown field [missing]",
    ),
    ({"sort": [5]}, "sort[0]", PARSING, "[sort] malformed sort entry: 5"),
    (
        {"sort": [{"created_time": 5}]},
        "sort[0].created_time",
        PARSING,
        "[sort] malformed sort for [created_time]: 5",
    ),
    (
        {"sort": {"created_time": {"missing": []}}},
        "sort.created_time.missing",
        PARSING,
        "[sort] missing must be a value",
    ),
    ({"sort": [""]}, "sort[0]", PARSING, "[sort] field name cannot be empty"),
    ({"aggs": {}}, "aggs", ILLEGAL, "[aggs] is not supported by modelyard's search"),
    (
        {"search_after": [1]},
        "search_after",
        ILLEGAL,
        "[search_after] is not supported by modelyard's search",
    ),
    ({"foo": 1}, "foo", PARSING, "Unknown key for a VALUE_NUMBER in [foo]."),
    ({"foo": {}}, "foo", PARSING, "Unknown key for a START_OBJECT in [foo]."),
    ({"query": None}, "query", PARSING, "Unknown key for a VALUE_NULL in [query]."),
    ({"query": "x"}, "query", PARSING, "Unknown key for a VALUE_STRING in [query]."),
    (
        {"_source": {"inclue": ["a"]}},
        "_source.inclue",
        PARSING,
        "Unknown key for a START_ARRAY in [inclue].",
    ),
    (
        {"_source": [1]},
        "_source.includes",
        PARSING,
        "[_source] expects a field name or a list of them",
    ),
    (
        {"_source": {"excludes": {}}},
        "_source.excludes",
        PARSING,
        "[_source] expects a field name or a list of them",
    ),
    (
        {"track_total_hits": -2},
        "track_total_hits",
        ILLEGAL,
        "[track_total_hits] parameter must be positive or equals to -1, got -2",
    ),
    (
        {"track_scores": "maybe"},
        "track_scores",
        PARSING,
        "[track_scores] must be a boolean, found [maybe]",
    ),
    (["query"], "body", PARSING, "Expected [START_OBJECT] but found [START_ARRAY]"),
]


@pytest.mark.parametrize(("body", "field", "error_type", "message"), ERRORS)
def test_errors_before_looking_at_documents(
    body: Any, field: str, error_type: str, message: str
) -> None:
    with pytest.raises(QueryError) as raised:
        search([], body, index=INDEX)
    assert (raised.value.field, raised.value.type, raised.value.message) == (
        field,
        error_type,
        message,
    )


def test_sort_on_an_object_is_refused() -> None:
    with pytest.raises(QueryError) as raised:
        run({"sort": [{"model_config": "asc"}]})
    assert raised.value.field == "sort[0].model_config"
    assert raised.value.type == ILLEGAL
    assert raised.value.message == (
        "can't sort on [model_config]: it holds an object in document [m1]; "
        "sort on one of its fields instead"
    )


def test_query_error_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as raised:
        run({"size": -1})
    assert isinstance(raised.value, ValueError)
    assert [e.to_dict() for e in raised.value.errors] == [
        {"field": "size", "message": "[size] parameter cannot be negative, found [-1]"}
    ]


def test_bool_queries_nest_at_most_twenty_deep() -> None:
    def nested(depth: int) -> dict[str, Any]:
        clause: dict[str, Any] = {"match_all": {}}
        for _ in range(depth):
            clause = {"bool": {"must": [clause]}}
        return {"query": clause}

    assert search([Doc("a", {})], nested(20), index="i")["hits"]["total"]["value"] == 1
    for depth in (21, 2000):
        with pytest.raises(QueryError, match="max_nested_depth") as raised:
            search([Doc("a", {})], nested(depth), index="i")
        assert raised.value.type == "illegal_argument_exception"
