"""Gesund-style templates: the files of Gesund's model artifacts template, runnable as they are.

``gesund_files(template, arch, command)`` lays out the same code as a template's ``score.py``
(``scripts.steps``: load, forward, pre- and post-processing) the way Gesund's template does:

- ``model.py``: class ``GesundModel(model_path)`` with ``load()`` and ``predict(data)``
  (the framework's load and forward);
- ``preprocess.py`` / ``postprocess.py``: the request's JSON to the model's input, the model's
  outputs to the answer; ``loss.py``: the training loss (never called when serving);
- ``schema.py``: the pydantic ``Response`` every answer is validated against;
- ``reqs.txt``, ``__init__.py``, ``input_example.json``, ``modelyard.yaml`` and ``README.md``.

Gesund offers classification, object detection and segmentation with its frameworks
(TensorFlow, Keras, ONNX, PyTorch); modelyard serves the last three (a TensorFlow model is
exported to ONNX or saved as ``.keras``). Only the ``default`` architecture: a Gesund bundle's
``model.py`` is its ``GesundModel``, so the model file carries its own network.
"""

from __future__ import annotations

import textwrap

from modelyard.domain.gesund import GesundFramework, GesundModelType
from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument
from modelyard.runtime.bundle import EXAMPLE_FILE
from modelyard.runtime.templates.catalog import (
    DEFAULT,
    GESUND_FRAMEWORKS,
    GESUND_TASKS,
    Architecture,
    Task,
    Template,
)
from modelyard.runtime.templates.contracts import describe_input, describe_output
from modelyard.runtime.templates.readme import model_format, model_output, save_snippet
from modelyard.runtime.templates.scripts import steps

REQUIREMENTS_FILE = "reqs.txt"
PYDANTIC = "pydantic>=2,<3"

_SCHEMAS = {
    Task.CLASSIFICATION: '''\
class Response(BaseModel):
    """One answer: a label per input (a name from CLASS_NAMES in postprocess.py, else the
    class index) and the probability of every class."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str | int]
    probabilities: list[list[Annotated[float, Field(ge=0, le=1)]]]''',
    Task.OBJECT_DETECTION: '''\
class Detection(BaseModel):
    """One box: x1, y1, x2, y2 in pixels, its score and its label."""

    model_config = ConfigDict(extra="forbid")

    box: list[float] = Field(min_length=4, max_length=4)
    score: float
    label: str | int


class Response(BaseModel):
    """One answer: the detections of each image, best first."""

    model_config = ConfigDict(extra="forbid")

    detections: list[list[Detection]]''',
    Task.SEGMENTATION: '''\
class Response(BaseModel):
    """One answer: per image, the class index of every pixel (N, H, W)."""

    model_config = ConfigDict(extra="forbid")

    masks: list[list[list[NonNegativeInt]]]''',
}

_SCHEMA_IMPORTS = {
    Task.CLASSIFICATION: [
        "from typing import Annotated",
        "",
        "from pydantic import BaseModel, ConfigDict, Field",
    ],
    Task.OBJECT_DETECTION: ["from pydantic import BaseModel, ConfigDict, Field"],
    Task.SEGMENTATION: ["from pydantic import BaseModel, ConfigDict, NonNegativeInt"],
}

_MODEL_CLASS = '''\
class GesundModel:
    """Made as GesundModel(model_path) with the model file's path; load() loads it and
    predict(data) runs it on what preprocess.py made of the request."""

    def __init__(self, model_path: str = os.path.join(HERE, MODEL_FILE)) -> None:
        self.model_path = model_path
        self.model: Any = None

    def load(self) -> None:
        self.model = load_model(self.model_path)

    def predict(self, data: np.ndarray) -> list[np.ndarray]:
        return forward(self.model, data)'''

_LOSS = '''\
"""The loss the model is trained with. Serving never calls it: it travels with the bundle
for training, as in Gesund's template."""

from __future__ import annotations

import numpy as np


def cross_entropy(logits: np.ndarray, targets: np.ndarray, axis: int = 1) -> float:
    """The mean cross-entropy of class ``logits`` (classes along ``axis``: (N, K) for
    classification, (N, K, H, W) for segmentation, (N, D, K) with axis=2 for the boxes of a
    detector) against the integer class ``targets`` (the logits' shape without ``axis``)."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    picked = np.take_along_axis(log_probabilities, np.expand_dims(targets, axis), axis=axis)
    return float(-picked.mean())
'''


def find_gesund(template: Template, arch: Architecture) -> None:
    """Raise InvalidArgument (naming ``task``, ``framework`` or ``architecture``) unless a
    Gesund template is offered for this choice."""
    if template.task not in GESUND_TASKS:
        offered = ", ".join(t.value for t in GESUND_TASKS)
        raise InvalidArgument(
            f"task: Gesund templates exist for {offered}; got {template.task.value!r}",
            field="task",
        )
    if template.framework not in GESUND_FRAMEWORKS:
        offered = ", ".join(f.value for f in GESUND_FRAMEWORKS)
        raise InvalidArgument(
            f"framework: Gesund templates exist for {offered} (export a TensorFlow model to "
            f"ONNX, or save it as .keras); got {template.framework.value!r}",
            field="framework",
        )
    if arch.name != DEFAULT:
        raise InvalidArgument(
            f"architecture: Gesund templates offer {DEFAULT} only (model.py is GesundModel, "
            f"so the model file carries its own network); got {arch.name!r}",
            field="architecture",
        )


def gesund_spec(arch: Architecture, python_version: str) -> RuntimeSpec:
    return RuntimeSpec(
        flavor=Flavor.GESUND,
        model_file=arch.model_file,
        python_version=python_version,
        example=EXAMPLE_FILE,
    )


def _module(doc: str, imports: list[str], constants: list[str], functions: list[str]) -> str:
    head = [f'"""{doc}"""', "", "from __future__ import annotations", "", *imports]
    parts = ["\n".join(head)]
    if constants:
        parts.append("\n".join(constants))
    text = "\n\n".join(parts)
    return text + "\n\n\n" + "\n\n\n".join(functions) + "\n"


def gesund_files(
    template: Template, arch: Architecture, requirements: list[str], command: str
) -> dict[str, str]:
    """The Python files, reqs.txt and README.md of a Gesund template (text)."""
    task, framework = template.task, template.framework
    code = steps(task, framework, arch)
    doc = textwrap.fill(
        f"Gesund's model.py for {task.replace('-', ' ')} with {framework}, served by "
        f"modelyard: GesundModel loads {arch.model_file} and runs it.",
        width=92,
    )
    model = _module(
        doc,
        ["import os", "from typing import Any", "", *code.imports],
        ["HERE = os.path.dirname(os.path.abspath(__file__))", f'MODEL_FILE = "{arch.model_file}"'],
        [_MODEL_CLASS, code.load, code.forward],
    )
    preprocess = _module(
        "Gesund's preprocess.py: a request's JSON data to the model's input.",
        ["from typing import Any", "", "import numpy as np"],
        code.input_constants,
        [code.preprocess],
    )
    postprocess = _module(
        "Gesund's postprocess.py: the model's outputs to the answer schema.py describes. Edit "
        "the\nconstants below to fit your model.",
        ["from typing import Any", "", "import numpy as np"],
        code.constants,
        code.postprocess,
    )
    schema = _module(
        "Gesund's schema.py: the pydantic model every answer is validated against.\n\nmodelyard "
        "registers its JSON Schema as the version's output schema when the checks run.",
        _SCHEMA_IMPORTS[task],
        [],
        [_SCHEMAS[task]],
    )
    init = (
        '"""A Gesund model bundle."""\n\nfrom .model import GesundModel\nfrom .schema import '
        'Response\n\n__all__ = ["GesundModel", "Response"]\n'
    )
    return {
        "__init__.py": init,
        "model.py": model,
        "preprocess.py": preprocess,
        "postprocess.py": postprocess,
        "loss.py": _LOSS,
        "schema.py": schema,
        REQUIREMENTS_FILE: "\n".join([*requirements, PYDANTIC]) + "\n",
        "README.md": _readme(template, arch, command),
    }


def _readme(template: Template, arch: Architecture, command: str) -> str:
    task, framework = template.task, template.framework
    files = [
        ("model.py", "class `GesundModel`: `__init__(model_path)`, `load()`, `predict(data)`"),
        ("preprocess.py", "`preprocess(data)`: the request's JSON to the model's input"),
        ("postprocess.py", "`postprocess(outputs)`: the model's outputs to the answer"),
        ("schema.py", "`Response`, the pydantic model of an answer"),
        ("loss.py", "the training loss (never called when serving)"),
        (arch.model_file, "**your model: not included, drop it in**"),
        (REQUIREMENTS_FILE, "the packages the code needs"),
        ("input_example.json", "an example request, run by the checks"),
        ("modelyard.yaml", "the runtime spec (flavor `gesund`), for `modelyard verify`"),
        ("__init__.py", "imports GesundModel and Response"),
    ]
    table = "\n".join(f"| `{path}` | {what} |" for path, what in files)
    sections = [
        f"# {task} · {framework} · Gesund",
        f"A Gesund model bundle made by `{command}`.",
        "## 1. Drop in your model",
        f"Save your model as **`{arch.model_file}`** in this directory: "
        f"{model_format(framework, arch)}.",
        f"```python\n{save_snippet(task, framework, arch)}\n```",
        f"The model takes {describe_input(arch.input).split(';')[0]} (after `preprocess`) and "
        f"returns {model_output(task, arch.input, 'postprocess.py')}.",
        "## 2. Check it, zip it, register it",
        "```bash\nmodelyard verify .\nzip -r ../model_artifacts.zip .\n"
        f"modelyard bundle push NS/NAME ../model_artifacts.zip --version 1.0.0 \\\n"
        f"    --model-type {GesundModelType(task.value)} --framework "
        f"{GesundFramework(framework.value)} --finish\n```",
        "The namespace `NS` is the Gesund namespace: the model, its code and the output schema "
        "are registered under it.",
        "## The contract",
        f"- Request (`input_example.json`): {describe_input(arch.input)}.\n"
        f"- Answer (`schema.py`): {describe_output(task)}. Every answer is validated against "
        "`Response`: one that does not match fails the checks, and a deployment answers 500 "
        "naming the field.",
        "## Files",
        f"| file | what it is |\n|---|---|\n{table}",
    ]
    return "\n\n".join(sections) + "\n"
