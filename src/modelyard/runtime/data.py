"""JSON in, JSON out: the shapes every flavor predicts on.

A request's ``data`` is JSON: a list of rows (``[[5.1, 3.5, 1.4, 0.2], ...]``), a nested list
for tensors, or an object of named inputs (``{"input_ids": [[...]], ...}``). Answers are JSON
too: arrays become nested lists, numpy and torch scalars plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def as_array(data: Any, dtype: Any = None) -> Any:
    """``data`` as a numpy array (the flavors that take arrays call this)."""
    import numpy as np

    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    return np.asarray(data, dtype=dtype)


def jsonable(value: Any) -> Any:
    """Turn a prediction into JSON values: arrays, tensors, data frames, scalars, tuples."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return jsonable(value.detach().cpu().numpy())
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a pandas DataFrame
        return jsonable(value.to_dict(orient="records"))
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    if hasattr(value, "model_dump"):  # a pydantic model (Gesund's output schema)
        return jsonable(value.model_dump(mode="json"))
    raise TypeError(f"cannot turn a {type(value).__name__} into JSON")
