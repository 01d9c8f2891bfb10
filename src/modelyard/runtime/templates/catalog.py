"""What ``modelyard template`` offers: tasks x frameworks, and the architectures of each.

A template is chosen in three steps, like Gesund's cascading selects: the task, then one of the
frameworks offered for it, then one of that pair's architectures. ``default`` always exists:
the model file carries its own network (a TorchScript archive, an ONNX graph, a ``.keras``
file, a skops estimator, a numpy ``.npz`` of weights). A named pytorch architecture adds a
``model.py`` with the network class and loads a ``state_dict`` into it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from modelyard.domain.runtime import Flavor
from modelyard.errors import InvalidArgument


class Task(StrEnum):
    CLASSIFICATION = "classification"
    OBJECT_DETECTION = "object-detection"
    SEGMENTATION = "segmentation"
    REGRESSION = "regression"
    TEXT_EMBEDDING = "text-embedding"


class Framework(StrEnum):
    SKLEARN = "sklearn"
    ONNX = "onnx"
    PYTORCH = "pytorch"
    KERAS = "keras"
    PYTHON = "python"


class Layout(StrEnum):
    """The shape of a request's ``data``."""

    FEATURES = "features"  # rows of numbers (N, F)
    IMAGES = "images"  # channels first (N, C, H, W), floats in [0, 1]
    IMAGES_HWC = "images-hwc"  # channels last (N, H, W, C), Keras' default
    TEXT = "text"  # a list of strings


class Style(StrEnum):
    """How a template lays out its code."""

    MODELYARD = "modelyard"  # score.py with load_model() and predict(data, model=...)
    GESUND = "gesund"  # Gesund's model.py (GesundModel), pre/postprocess.py, schema.py


DEFAULT = "default"
#: The tasks and frameworks of Gesund's upload form that modelyard serves (its TensorFlow is
#: exported to ONNX or saved as .keras); Gesund templates use the default architecture.
GESUND_TASKS = (Task.CLASSIFICATION, Task.OBJECT_DETECTION, Task.SEGMENTATION)
GESUND_FRAMEWORKS = (Framework.ONNX, Framework.PYTORCH, Framework.KERAS)


class Architecture(BaseModel):
    """One choice of network (and so of model file) for a task and framework."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    flavor: Flavor = Field(description="The runtime flavor that reads the model file.")
    model_file: str = Field(description="The file to drop into the bundle.")
    model_class: str | None = Field(
        default=None, description="'model.py:ClassName' whose state_dict the model file holds."
    )
    input: Layout


class Template(BaseModel):
    """A task and framework offered together, with its architectures (``default`` first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Task
    framework: Framework
    architectures: list[Architecture]
    styles: list[Style] = Field(
        default=[Style.MODELYARD],
        description="The layouts offered; gesund: for the default architecture only.",
    )

    def architecture(self, name: str | None) -> Architecture:
        name = name or DEFAULT
        for arch in self.architectures:
            if arch.name == name:
                return arch
        offered = ", ".join(a.name for a in self.architectures)
        raise InvalidArgument(
            f"architecture: {self.framework} {self.task} templates offer {offered}; got {name!r}",
            field="architecture",
        )


def _default(flavor: Flavor, model_file: str, layout: Layout, description: str) -> Architecture:
    return Architecture(
        name=DEFAULT, description=description, flavor=flavor, model_file=model_file, input=layout
    )


def _network(name: str, cls: str, layout: Layout, description: str) -> Architecture:
    return Architecture(
        name=name,
        description=description,
        flavor=Flavor.PYTORCH,
        model_file="model.pth",
        model_class=f"model.py:{cls}",
        input=layout,
    )


_SKOPS = "a fitted scikit-learn estimator saved with skops.io.dump (no pickle)"
_ONNX = "an ONNX graph run by onnxruntime"
_TORCHSCRIPT = "a TorchScript archive (torch.jit.script or torch.jit.trace, then .save)"
_KERAS = "a Keras 3 model saved as .keras (run on the torch backend)"
_NPZ = "numpy arrays in a .npz file; score.py holds the forward pass"

F, IMG, HWC, T = Layout.FEATURES, Layout.IMAGES, Layout.IMAGES_HWC, Layout.TEXT


def _frameworks(
    task: Task,
    layouts: tuple[Layout, Layout],
    sklearn: bool,
    python: bool,
    networks: list[Architecture],
) -> list[Template]:
    """The templates of one task; ``layouts`` are (channels-first or rows, Keras's layout)."""
    first, keras_layout = layouts
    offered: list[Template] = []
    if sklearn:
        sk = _default(Flavor.SKLEARN, "model.skops", first, _SKOPS)
        offered.append(Template(task=task, framework=Framework.SKLEARN, architectures=[sk]))
    onnx = _default(Flavor.ONNX, "model.onnx", first, _ONNX)
    offered.append(Template(task=task, framework=Framework.ONNX, architectures=[onnx]))
    torchscript = _default(Flavor.TORCHSCRIPT, "model.pt", first, _TORCHSCRIPT)
    offered.append(
        Template(task=task, framework=Framework.PYTORCH, architectures=[torchscript, *networks])
    )
    keras = _default(Flavor.KERAS, "model.keras", keras_layout, _KERAS)
    offered.append(Template(task=task, framework=Framework.KERAS, architectures=[keras]))
    if python:
        npz = _default(Flavor.PYTHON, "model.npz", first, _NPZ)
        offered.append(Template(task=task, framework=Framework.PYTHON, architectures=[npz]))
    if task not in GESUND_TASKS:
        return offered
    both = [Style.MODELYARD, Style.GESUND]
    return [
        t.model_copy(update={"styles": both}) if t.framework in GESUND_FRAMEWORKS else t
        for t in offered
    ]


TEMPLATES: list[Template] = [
    *_frameworks(
        Task.CLASSIFICATION,
        (F, F),
        sklearn=True,
        python=True,
        networks=[
            _network("mlp", "MLP", F, "a multilayer perceptron on feature rows"),
            _network("cnn", "CNN", IMG, "a small convolutional network on images"),
        ],
    ),
    *_frameworks(
        Task.REGRESSION,
        (F, F),
        sklearn=True,
        python=True,
        networks=[_network("mlp", "MLP", F, "a multilayer perceptron on feature rows")],
    ),
    *_frameworks(
        Task.OBJECT_DETECTION,
        (IMG, HWC),
        sklearn=False,
        python=False,
        networks=[
            _network(
                "grid",
                "GridDetector",
                IMG,
                "a single-stage grid detector (YOLOv1-style): one box per cell of a "
                "stride-4 feature map",
            )
        ],
    ),
    *_frameworks(
        Task.SEGMENTATION,
        (IMG, HWC),
        sklearn=True,
        python=True,
        networks=[_network("unet", "UNet", IMG, "a two-level U-Net")],
    ),
    *_frameworks(
        Task.TEXT_EMBEDDING,
        (T, T),
        sklearn=True,
        python=True,
        networks=[
            _network("embedding-bag", "BagEmbedder", T, "the mean of learned token vectors"),
            _network(
                "transformer",
                "TransformerEmbedder",
                T,
                "a small transformer encoder, mean-pooled over the tokens",
            ),
        ],
    ),
]

NOT_OFFERED = {
    (Task.OBJECT_DETECTION, Framework.SKLEARN): "scikit-learn has no object detectors",
    (Task.OBJECT_DETECTION, Framework.PYTHON): (
        "a detector is no numpy forward pass; use pytorch, onnx or keras"
    ),
}


def choice(kind: type[StrEnum], value: str, field: str) -> StrEnum:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidArgument(
            f"{field}: expected one of {allowed}; got {value!r}", field=field
        ) from None


def find(
    task: str, framework: str, architecture: str | None = None
) -> tuple[Template, Architecture]:
    """The template and architecture asked for, or InvalidArgument naming the parameter and
    listing what is offered."""
    chosen_task = choice(Task, task, "task")
    chosen_framework = choice(Framework, framework, "framework")
    for template in TEMPLATES:
        if template.task == chosen_task and template.framework == chosen_framework:
            return template, template.architecture(architecture)
    offered = ", ".join(t.framework.value for t in TEMPLATES if t.task == chosen_task)
    why = NOT_OFFERED.get((chosen_task, chosen_framework))
    raise InvalidArgument(
        f"framework: no {chosen_framework} template for {chosen_task}"
        + (f" ({why})" if why else "")
        + f"; {chosen_task} templates exist for {offered}",
        field="framework",
    )
