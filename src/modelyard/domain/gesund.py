"""Gesund's artifact props: what its upload form asks before the zip, and where each lands.

Gesund's "Select Artifact Props" step takes a model type, a framework, an "Include Model
Files" switch and a namespace, then the zip. In modelyard (a zip upload with these props,
``Bundles.upload``):

- **model type** (classification | object detection | segmentation) is the version's
  ``task``: ``classification``, ``object-detection``, ``segmentation``;
- **framework** (TensorFlow | Keras | ONNX | PyTorch) is the version's ``framework``:
  ``tensorflow``, ``keras``, ``onnx``, ``pytorch``;
- **include model files**: on (the default), the zip holds the saved model (one file whose
  suffix the framework saves, e.g. ``.onnx``), which becomes ``runtime.model_file``; off, it
  holds none, ``GesundModel`` is made with the bundle directory, and a model file the
  registry should know of is tracked (registered by its URI) beside the zip's files;
- **namespace** is the modelyard namespace the model is registered in (the ``NS`` of
  ``NS/NAME``): the model, its code and the output schema from ``schema.py`` live under it.

The runtime becomes the ``gesund`` flavor. Both spellings are accepted: Gesund's labels
("Object Detection", "Image Segmentation", "TensorFlow") and modelyard's names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument


class GesundModelType(StrEnum):
    CLASSIFICATION = "classification"
    OBJECT_DETECTION = "object-detection"
    SEGMENTATION = "segmentation"


class GesundFramework(StrEnum):
    TENSORFLOW = "tensorflow"
    KERAS = "keras"
    ONNX = "onnx"
    PYTORCH = "pytorch"


#: The suffixes of the model files each framework saves.
MODEL_SUFFIXES: dict[GesundFramework, tuple[str, ...]] = {
    GesundFramework.TENSORFLOW: (".h5", ".hdf5", ".keras", ".pb", ".tflite"),
    GesundFramework.KERAS: (".keras", ".h5", ".hdf5"),
    GesundFramework.ONNX: (".onnx",),
    GesundFramework.PYTORCH: (".pt", ".pth", ".ckpt", ".safetensors", ".bin"),
}

_ALIASES = {"image-segmentation": "segmentation", "detection": "object-detection"}


def _choice(kind: type[StrEnum], value: str, field: str) -> Any:
    key = "-".join(value.strip().lower().replace("_", " ").split())
    try:
        return kind(_ALIASES.get(key, key))
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidArgument(
            f"{field}: expected one of {allowed}; got {value!r}", field=field
        ) from None


@dataclass(frozen=True, kw_only=True)
class ArtifactProps:
    """Gesund's artifact props, validated (see the module's doc)."""

    model_type: GesundModelType
    framework: GesundFramework
    include_model_files: bool = True

    @classmethod
    def parse(
        cls,
        *,
        model_type: str | None,
        framework: str | None,
        include_model_files: bool | None = None,
    ) -> ArtifactProps | None:
        """The props from their wire strings, or None when none is given; InvalidArgument
        names ``model_type`` or ``framework`` when it is missing (the other given) or not one
        of the choices, which it lists."""
        if model_type is None and framework is None and include_model_files is None:
            return None
        if model_type is None or framework is None:
            field, kind = (
                ("model_type", GesundModelType)
                if model_type is None
                else ("framework", GesundFramework)
            )
            raise InvalidArgument(
                f"{field}: Gesund's artifact props need it too (one of "
                f"{', '.join(m.value for m in kind)})",
                field=field,
            )
        return cls(
            model_type=_choice(GesundModelType, model_type, "model_type"),
            framework=_choice(GesundFramework, framework, "framework"),
            include_model_files=True if include_model_files is None else include_model_files,
        )

    def model_file(self, paths: list[str]) -> str | None:
        """The zip member holding the model, among the member ``paths`` (None when the props
        say the zip has none); InvalidArgument naming ``include_model_files`` when the zip
        disagrees with the switch, and listing what it holds."""
        suffixes = MODEL_SUFFIXES[self.framework]
        found = [p for p in paths if PurePosixPath(p).suffix.lower() in suffixes]
        if not self.include_model_files:
            if found:
                raise InvalidArgument(
                    f"include_model_files: off, yet the zip holds {', '.join(found[:5])}; turn "
                    "it on, or leave the model file out of the zip",
                    field="include_model_files",
                )
            return None
        top = [p for p in found if "/" not in p]
        if len(top) == 1 or (not top and len(found) == 1):
            return (top or found)[0]
        if not found:
            raise InvalidArgument(
                f"include_model_files: on, yet the zip holds no {self.framework} model file "
                f"({', '.join(suffixes)}); add it to the zip, or turn include_model_files off",
                field="include_model_files",
            )
        named = [p for p in top if PurePosixPath(p).stem == "model"]
        if len(named) == 1:
            return named[0]
        raise InvalidArgument(
            f"include_model_files: the zip holds several {self.framework} model files "
            f"({', '.join(found[:5])}); keep one, or name the one to serve model"
            f"{suffixes[0]}",
            field="include_model_files",
        )

    def version_changes(
        self, runtime: RuntimeSpec | None, model_file: str | None
    ) -> dict[str, Any]:
        """What the props set on the version: task, framework and the gesund runtime, which
        keeps the environment ``runtime`` (the version's) declares."""
        kept = {"python_version", "requirements", "conda_env", "docker_image", "example"}
        spec = runtime.model_dump(include=kept, exclude_defaults=True) if runtime else {}
        spec["flavor"] = Flavor.GESUND.value
        if model_file is not None:
            spec["model_file"] = model_file
        return {
            "task": self.model_type.value,
            "framework": self.framework.value,
            "runtime": spec,
        }
