"""Schemas inferred from examples, and the messages that say where a value is wrong."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from modelyard.runtime.schema import (
    DIALECT,
    SchemaValidator,
    check_schema,
    infer_schema,
    validate,
)


def test_rows_fix_the_inner_dimension_and_leave_the_batch_free() -> None:
    schema = infer_schema([[5.1, 3.5, 1.4, 0.2], [6, 3, 4.8, 1.8]])

    assert schema == {
        "$schema": DIALECT,
        "type": "array",
        "items": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
    }
    jsonschema.Draft202012Validator.check_schema(schema)
    assert validate([[1, 2, 3, 4]] * 10, schema) == []  # any batch size
    assert validate([[1, 2, 3]], schema) == ["data[0]: expected at least 4 items, got 3"]


def test_images_keep_every_inner_dimension() -> None:
    image = [[[0.5] * 3 for _ in range(4)] for _ in range(2)]  # 2 x 4 x 3

    schema = infer_schema([image])

    assert validate([image, image], schema) == []
    wrong = [[[0.5] * 3 for _ in range(5)] for _ in range(2)]
    assert validate([wrong], schema) == [
        "data[0][0]: expected at most 4 items, got 5",
        "data[0][1]: expected at most 4 items, got 5",
    ]


def test_named_inputs_each_have_a_free_batch_dimension() -> None:
    schema = infer_schema({"input_ids": [[101, 7592, 102]], "attention_mask": [[1, 1, 1]]})

    assert schema["required"] == ["input_ids", "attention_mask"]
    ids = schema["properties"]["input_ids"]
    assert "minItems" not in ids and ids["items"]["minItems"] == 3
    assert ids["items"]["items"] == {"type": "integer"}
    assert validate({"input_ids": [[1, 2, 3]] * 4, "attention_mask": [[1, 1, 0]] * 4}, schema) == []
    assert validate({"input_ids": [[1.5, 2, 3]], "attention_mask": [[1, 1, 0]]}, schema) == [
        "data.input_ids[0][0]: expected integer, got number"
    ]


def test_records_and_mixed_items_merge() -> None:
    schema = infer_schema(
        [{"label": "cat", "score": 1}, {"label": "dog", "score": 0.25, "box": None}]
    )

    item = schema["items"]
    assert item["properties"]["score"] == {"type": "number"}  # integer and number merge
    assert item["required"] == ["label", "score"]  # "box" is in one record only
    assert validate([{"label": "x", "score": 0.5}], schema) == []
    assert sorted(validate([{"score": "high"}], schema)) == [
        "data[0].score: expected number, got string",
        "data[0]: 'label' is required (missing)",
    ]

    mixed = infer_schema([1, None, "a"])["items"]
    assert mixed == {"anyOf": [{"type": "integer"}, {"type": "null"}, {"type": "string"}]}


def test_ragged_inner_arrays_lose_their_fixed_size() -> None:
    schema = infer_schema([[1, 2], [1, 2, 3]])

    assert schema["items"] == {"type": "array", "items": {"type": "integer"}}


def test_messages_name_the_path_and_do_not_repeat_large_values() -> None:
    schema = {"type": "object", "properties": {"pixel values": {"type": "array"}}}

    messages = validate({"pixel values": "x" * 10_000}, schema)

    assert messages == ["data['pixel values']: expected array, got string"]


def test_validation_stops_after_the_limit() -> None:
    schema = infer_schema([[1.0, 2.0]])

    messages = validate([["a", "b"]] * 50, schema, limit=5)

    assert len(messages) == 6
    assert messages[-1] == "(more errors not shown after the first 5)"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "numbr"},
            "schema.type: 'numbr' is not one of ['array', 'boolean', 'integer', 'null', "
            "'number', 'object', 'string']",
        ),
        ({"properties": {"x": {"minItems": -1}}}, "schema.properties.x.minItems: -1 is less"),
        ({"$schema": "https://example.com/mine"}, "$schema: unknown dialect"),
        ([1, 2], "a JSON Schema is an object (or true/false), not array"),
    ],
)
def test_invalid_schemas_are_explained(schema: object, expected: str) -> None:
    problems = check_schema(schema)

    assert len(problems) == 1
    assert problems[0].startswith(expected)
    assert validate([1], schema)[0].startswith("the schema is invalid: ")


def test_older_dialects_are_checked_by_their_own_meta_schema() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}

    assert check_schema(draft7) == []  # tuple "items" is valid in draft 7, not in 2020-12
    assert check_schema({**draft7, "$schema": DIALECT}) != []
    assert validate([1], draft7) == ["data[0]: expected string, got integer"]


def test_an_unresolvable_reference_is_a_message_not_a_crash() -> None:
    messages = validate([1], {"$ref": "https://example.com/no-such-schema.json"})

    assert len(messages) == 1
    assert messages[0].startswith("the schema cannot be applied: unresolvable reference")


QUICK_CASES = [
    [[1.0, 2, 3.5, 4]],
    [[1.0, 2, 3.5]],  # a row too short
    [[1.0, 2, 3.5, 4, 5]],  # too long
    [[1.0, True, 3.5, 4]],  # a bool is no number
    [[1.0, "2", 3.5, 4]],
    [[None, 2, 3, 4]],
    [],
    [[]],
    "rows",
    {"rows": [[1, 2, 3, 4]]},
    [[1, 2, 3, 4], [5, 6, 7, 8.5]],
    [[[1, 2], [3, 4]]],
]


@pytest.mark.parametrize(
    "example",
    [[[5.1, 3.5, 1.4, 0.2]], [[1, 2, 3, 4]], [[[0.5, 1.5], [2.5, 3.5]]], [1.5, 2.5], [[1.0] * 64]],
)
def test_the_quick_path_for_numeric_rows_agrees_with_the_validator(example: Any) -> None:
    schema = infer_schema(example)
    quick = SchemaValidator(schema)
    assert quick._accepts is not None  # the schemas inferred from numbers take the quick path
    full = jsonschema.Draft202012Validator(schema)
    for value in [example, *QUICK_CASES]:
        assert (quick.problems(value) == []) == full.is_valid(value), value
    assert quick.problems([["x"] * len(example[0])] if isinstance(example[0], list) else ["x"])


def test_schemas_beyond_numbers_and_arrays_take_the_validator() -> None:
    schema = infer_schema([{"text": "a", "n": 1}])
    validator = SchemaValidator(schema)
    assert validator._accepts is None
    assert validator.problems([{"text": "b", "n": 2}]) == []
    assert validator.problems([{"text": 1, "n": 2}]) == [
        "data[0].text: expected string, got integer"
    ]
