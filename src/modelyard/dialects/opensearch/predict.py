"""``_predict/{algorithm}/{model_id}``: the algorithm-first form of a prediction (what
opensearch-py-ml's ``generate_embedding`` calls); ``text_embedding`` only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modelyard.dialects.opensearch.context import OpenSearchDep
from modelyard.dialects.opensearch.documents import ALGORITHM
from modelyard.dialects.opensearch.models import predict
from modelyard.dialects.opensearch.schemas import Predict
from modelyard.errors import InvalidArgument

router = APIRouter(prefix="/_predict", tags=["predict"])


def _algorithm(value: str) -> None:
    if value.upper() != ALGORITHM:
        raise InvalidArgument(
            f"algorithm: only {ALGORITHM.lower()} models are served, not {value!r}",
            field="algorithm",
        )


@router.post("/{algorithm}/{model_id}")
async def predict_algorithm(
    algorithm: str, model_id: str, body: Predict, os: OpenSearchDep
) -> dict[str, Any]:
    """Text embeddings: ``{"text_docs": [...]}`` in, ``inference_results`` out."""
    _algorithm(algorithm)
    return await predict(os, model_id, body)


@router.post("/{algorithm}/{model_id}/")
async def predict_algorithm_slash(
    algorithm: str, model_id: str, body: Predict, os: OpenSearchDep
) -> dict[str, Any]:
    """The same, with a trailing slash."""
    _algorithm(algorithm)
    return await predict(os, model_id, body)
