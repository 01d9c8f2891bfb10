"""Micro-batching: answer several requests with one call of the model.

When every request's data is a JSON list, its items are taken as rows along the first axis:
the lists are joined into one, the model predicts once, and the answer is split back by each
request's row count. An answer splits when it is a list of the joined length, or an object
whose every value is such a list (``{"labels": [...], "probabilities": [...]}``: each request
gets the same keys with its own slices). Otherwise -- data that are not all lists, an answer
that does not split, or a joined call that failed -- each request is predicted on its own, so
a request with a bad shape fails alone, with its own error.

Batching assumes the rows are independent; a deployment turns it on (``max_batch_size > 1``)
for models where they are.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate
from typing import Any

from modelyard.serving.protocol import Outcome


def run_batch(call: Callable[[Any], Outcome], datas: list[Any]) -> list[Outcome]:
    """Each data's outcome; ``call`` predicts one data (one model call) and never raises."""
    counts = _row_counts(datas)
    if counts is not None and len(datas) > 1:
        joined = call([row for data in datas for row in data])
        parts = split(joined.result, counts) if joined.ok else None
        if parts is not None:
            return [Outcome(result=part) for part in parts]
    return [call(data) for data in datas]


def split(answer: Any, counts: list[int]) -> list[Any] | None:
    """``answer`` cut into consecutive parts of ``counts`` rows, or None when it does not cut:
    neither a list of ``sum(counts)`` items nor an object of such lists."""
    total = sum(counts)
    if isinstance(answer, list) and len(answer) == total:
        return _slices(answer, counts)
    if (
        isinstance(answer, dict)
        and answer
        and all(isinstance(v, list) and len(v) == total for v in answer.values())
    ):
        columns = {key: _slices(value, counts) for key, value in answer.items()}
        return [{key: parts[i] for key, parts in columns.items()} for i in range(len(counts))]
    return None


def _row_counts(datas: list[Any]) -> list[int] | None:
    if all(isinstance(data, list) for data in datas):
        return [len(data) for data in datas]
    return None


def _slices(items: list[Any], counts: list[int]) -> list[list[Any]]:
    ends = list(accumulate(counts))
    return [items[end - count : end] for end, count in zip(ends, counts, strict=True)]
