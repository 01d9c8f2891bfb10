"""The flavors, by name. Each module imports its framework only when it is used."""

from __future__ import annotations

import importlib

from modelyard.domain.runtime import Flavor
from modelyard.runtime.flavors.base import FlavorImpl

_MODULES = {
    Flavor.SKLEARN: "modelyard.runtime.flavors.sklearn:SklearnFlavor",
    Flavor.ONNX: "modelyard.runtime.flavors.onnx:OnnxFlavor",
    Flavor.TORCHSCRIPT: "modelyard.runtime.flavors.torch:TorchScriptFlavor",
    Flavor.PYTORCH: "modelyard.runtime.flavors.torch:PyTorchFlavor",
    Flavor.KERAS: "modelyard.runtime.flavors.keras:KerasFlavor",
    Flavor.PYTHON: "modelyard.runtime.flavors.python:PythonFlavor",
    Flavor.GESUND: "modelyard.runtime.flavors.gesund:GesundFlavor",
    Flavor.MLFLOW: "modelyard.runtime.flavors.mlflow:MlflowFlavor",
    Flavor.TEXT_EMBEDDING: "modelyard.runtime.flavors.embedding:TextEmbeddingFlavor",
}


def flavor(name: Flavor | str) -> FlavorImpl:
    module, _, cls = _MODULES[Flavor(name)].partition(":")
    return getattr(importlib.import_module(module), cls)()


def all_flavors() -> list[FlavorImpl]:
    return [flavor(name) for name in _MODULES]
