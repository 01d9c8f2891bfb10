"""Micro-batching without a process: joining rows, splitting answers, falling back."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.serving.batching import run_batch, split
from modelyard.serving.protocol import Outcome


class Model:
    """Counts its calls; doubles each row, answers ``shape`` around the doubled rows."""

    def __init__(self, shape: str = "list") -> None:
        self.calls: list[Any] = []
        self.shape = shape

    def __call__(self, data: Any) -> Outcome:
        self.calls.append(data)
        if not isinstance(data, list) or any(not isinstance(row, int) for row in data):
            return Outcome(error="data: rows of integers", kind="invalid")
        doubled = [2 * row for row in data]
        if self.shape == "dict":
            return Outcome(result={"doubled": doubled, "negated": [-row for row in data]})
        return Outcome(result=doubled if self.shape == "list" else sum(doubled))


def test_lists_are_answered_by_one_call_and_split_by_rows() -> None:
    model = Model()
    outcomes = run_batch(model, [[1], [2, 3], [], [4]])
    assert model.calls == [[1, 2, 3, 4]]
    assert [o.result for o in outcomes] == [[2], [4, 6], [], [8]]


def test_an_object_of_lists_is_split_key_by_key() -> None:
    outcomes = run_batch(Model("dict"), [[1], [2, 3]])
    assert [o.result for o in outcomes] == [
        {"doubled": [2], "negated": [-1]},
        {"doubled": [4, 6], "negated": [-2, -3]},
    ]


@pytest.mark.parametrize(
    ("datas", "shape", "calls"),
    [
        ([[1], "two"], "list", [[1], "two"]),  # not all lists
        ([[1], [2]], "sum", [[1, 2], [1], [2]]),  # the joined answer does not split
        ([[1], ["x"], [3]], "list", [[1, "x", 3], [1], ["x"], [3]]),  # the joined call failed
        ([[5]], "list", [[5]]),  # one request: called as it is
    ],
)
def test_otherwise_each_request_is_predicted_alone(
    datas: list[Any], shape: str, calls: list[Any]
) -> None:
    model = Model(shape)
    outcomes = run_batch(model, datas)
    assert model.calls == calls
    assert outcomes == [Model(shape)(data) for data in datas]


@pytest.mark.parametrize(
    "answer",
    [[1, 2], [1, 2, 3, 4], {"a": [1, 2, 3], "b": 4}, {"a": [1, 2, 3], "b": [1]}, {}, 3, None],
)
def test_answers_of_another_length_or_shape_do_not_split(answer: Any) -> None:
    assert split(answer, [1, 2]) is None
