"""The BentoML service of serving_speed.py: the iris estimator behind ``POST /predict``.

serving_speed.py copies this file as ``service.py`` into a temp directory and runs
``bentoml serve service:IrisClassifier --host 127.0.0.1 --port N`` there, from its own venv
(BentoML conflicts with the project's). The estimator is the joblib file named by
``BENCH_MODEL_PATH``. BentoML 1.2+ service API, every setting at its default: one worker,
a sync API method (BentoML runs it in its thread pool).

``POST /predict`` with ``{"data": [[5.1, 3.5, 1.4, 0.2]]}`` answers ``[0]``.
"""

from __future__ import annotations

import os

import bentoml
import joblib
import numpy as np


@bentoml.service
class IrisClassifier:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL_PATH"])

    @bentoml.api
    def predict(self, data: list[list[float]]) -> list[int]:
        return self.model.predict(np.asarray(data, dtype=float)).tolist()
