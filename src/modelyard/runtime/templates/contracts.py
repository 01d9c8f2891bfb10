"""What a template's ``predict`` takes and answers: the example input, the JSON Schemas, and
the words the README uses for them.

Schemas fix the nesting and the types, not the sizes: a model with 7 features or 64x64 images
needs only a new ``input_example.json``.
"""

from __future__ import annotations

from typing import Any

from modelyard.runtime.templates.catalog import Layout, Task

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: The example's sizes, which the README repeats and the tests build models for.
FEATURES = 4
CHANNELS, HEIGHT, WIDTH = 3, 16, 16
TEXTS = ["The registry keeps every version.", "Checks run before a model is deployed."]


def _nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    schema = leaf
    for _ in range(depth):
        schema = {"type": "array", "minItems": 1, "items": schema}
    return schema


def _image(channels_last: bool) -> list[Any]:
    """One deterministic image with a diagonal pattern, values in [0, 1]."""

    def value(c: int, y: int, x: int) -> float:
        return round(((x + 2 * y + 5 * c) % 16) / 15, 3)

    if channels_last:
        return [
            [[value(c, y, x) for c in range(CHANNELS)] for x in range(WIDTH)] for y in range(HEIGHT)
        ]
    return [
        [[value(c, y, x) for x in range(WIDTH)] for y in range(HEIGHT)] for c in range(CHANNELS)
    ]


def example(layout: Layout) -> Any:
    if layout == Layout.FEATURES:
        return [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.7, 1.5]]
    if layout == Layout.TEXT:
        return list(TEXTS)
    return [_image(channels_last=layout == Layout.IMAGES_HWC)]


def input_schema(layout: Layout) -> dict[str, Any]:
    if layout == Layout.FEATURES:
        body = _nested(2, {"type": "number"})
        title = "feature rows (N, F)"
    elif layout == Layout.TEXT:
        body = _nested(1, {"type": "string"})
        title = "texts (N)"
    else:
        body = _nested(4, {"type": "number"})
        title = "images " + ("(N, H, W, C)" if layout == Layout.IMAGES_HWC else "(N, C, H, W)")
    return {"$schema": SCHEMA_DIALECT, "title": title, **body}


def _label(any_scalar: bool) -> dict[str, Any]:
    """A class label: its name from CLASS_NAMES, else its index (scikit-learn: ``classes_``)."""
    return {"type": ["string", "number", "boolean"] if any_scalar else ["string", "integer"]}


def output_schema(task: Task, *, sklearn: bool = False) -> dict[str, Any]:
    numbers = {"type": "array", "items": {"type": "number"}}
    properties: dict[str, Any]
    if task == Task.CLASSIFICATION:
        probability = {"type": "number", "minimum": 0, "maximum": 1}
        properties = {
            "labels": {"type": "array", "items": _label(sklearn)},
            "probabilities": _nested(1, {"type": "array", "items": probability}),
        }
        # a scikit-learn classifier without predict_proba answers labels only
        required = ["labels"] if sklearn else ["labels", "probabilities"]
    elif task == Task.REGRESSION:
        properties = {
            "values": {"type": "array", "items": {"anyOf": [{"type": "number"}, numbers]}}
        }
        required = ["values"]
    elif task == Task.OBJECT_DETECTION:
        detection = {
            "type": "object",
            "properties": {
                "box": {**numbers, "minItems": 4, "maxItems": 4},
                "score": {"type": "number"},
                "label": _label(False),
            },
            "required": ["box", "score", "label"],
            "additionalProperties": False,
        }
        properties = {
            "detections": {"type": "array", "items": {"type": "array", "items": detection}}
        }
        required = ["detections"]
    elif task == Task.SEGMENTATION:
        properties = {"masks": _nested(3, {"type": "integer", "minimum": 0})}
        required = ["masks"]
    else:
        properties = {"embeddings": {"type": "array", "items": numbers}}
        required = ["embeddings"]
    return {
        "$schema": SCHEMA_DIALECT,
        "title": f"{task} output",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def describe_input(layout: Layout) -> str:
    """The request, in the README's words."""
    return {
        Layout.FEATURES: f"a list of feature rows, shape (N, F); the example has F = {FEATURES}",
        Layout.IMAGES: "a batch of images, channels first, shape (N, C, H, W), floats in "
        f"[0, 1]; the example is one {CHANNELS}x{HEIGHT}x{WIDTH} image",
        Layout.IMAGES_HWC: "a batch of images, channels last, shape (N, H, W, C), floats in "
        f"[0, 1]; the example is one {HEIGHT}x{WIDTH}x{CHANNELS} image",
        Layout.TEXT: "a list of strings",
    }[layout]


def summarize_output(task: Task) -> str:
    """The answer in a few words (score.py's docstring)."""
    return {
        Task.CLASSIFICATION: "labels and class probabilities",
        Task.REGRESSION: "one value per row",
        Task.OBJECT_DETECTION: "scored, labelled boxes per image",
        Task.SEGMENTATION: "a class mask per image",
        Task.TEXT_EMBEDDING: "one normalized vector per text",
    }[task]


def describe_output(task: Task, *, sklearn: bool = False) -> str:
    """The answer, in the README's words."""
    if task == Task.CLASSIFICATION and sklearn:
        return (
            '`{"labels": [...], "probabilities": [[...], ...]}`: one label per row (from the '
            "estimator's `classes_`) and, when the estimator has `predict_proba`, the "
            "probability of every class"
        )
    return {
        Task.CLASSIFICATION: '`{"labels": [...], "probabilities": [[...], ...]}`: one label '
        "per row (a name from `CLASS_NAMES` in score.py, else the class index) and the "
        "probability of every class",
        Task.REGRESSION: '`{"values": [...]}`: one number per row (a list of numbers per row '
        "for a model with several targets)",
        Task.OBJECT_DETECTION: '`{"detections": [[{"box": [x1, y1, x2, y2], "score": s, '
        '"label": l}, ...], ...]}`: per image, the boxes (pixels) whose score is at least '
        "`SCORE_THRESHOLD` (score.py), best first, overlaps of a better box of the same class "
        "(`IOU_THRESHOLD`) left out",
        Task.SEGMENTATION: '`{"masks": [[[...]]]}`: per image, the class index of every pixel, '
        "shape (N, H, W)",
        Task.TEXT_EMBEDDING: '`{"embeddings": [[...], ...]}`: one vector per text, '
        "L2-normalized (so a dot product is the cosine similarity)",
    }[task]
