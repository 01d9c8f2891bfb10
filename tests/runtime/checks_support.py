"""Bundles for the check tests: a good score.py bundle around a tiny scikit-learn model, and
the ways people break one."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

EXAMPLE = [[0.1, 0.2, 0.3, 0.4], [0.9, 0.8, 0.7, 0.6]]

SCORE = dedent(
    """\
    import os

    import skops.io

    MODEL_FILE = os.path.join(os.path.dirname(__file__), "model.skops")


    def load_model():
        return skops.io.load(MODEL_FILE, trusted=[])


    def predict(data, model=None):
        model = load_model() if model is None else model
        return model.predict(data).tolist()
    """
)

JOBLIB_SCORE = dedent(
    """\
    import os

    import joblib


    def load_model():
        return joblib.load(os.path.join(os.path.dirname(__file__), "model.joblib"))


    def predict(data, model=None):
        return model.predict(data).tolist()
    """
)


def trained() -> LogisticRegression:
    """A tiny classifier of 4 features into 2 classes."""
    rng = np.random.default_rng(0)
    x = rng.random((40, 4))
    return LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))


def score_bundle(
    directory: Path,
    *,
    score: str = SCORE,
    model_file: str | None = "model.skops",
    example: Any = EXAMPLE,
    requirements: list[str] | None = None,
    files: dict[str, str | bytes] | None = None,
) -> Path:
    """A score.py bundle: the entry point, the model (skops, or joblib by ``model_file``'s
    suffix), an example and requirements; ``files`` adds or replaces files."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "score.py").write_text(score)
    if model_file is not None:
        save_model(directory / model_file)
    if example is not None:
        (directory / "input_example.json").write_text(json.dumps(example))
    reqs = ["scikit-learn>=1.4", "skops>=0.10"] if requirements is None else requirements
    (directory / "requirements.txt").write_text("".join(f"{r}\n" for r in reqs))
    for name, content in (files or {}).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


def save_model(path: Path) -> None:
    model = trained()
    if path.suffix == ".skops":
        import skops.io

        skops.io.dump(model, path)
    else:
        import joblib

        joblib.dump(model, path)


def broken_score(body: str) -> str:
    """score.py with the good load_model() and the given predict (or anything else)."""
    return SCORE.split("def predict")[0] + dedent(body)
