"""Keras 3 models in ``.keras`` files (and legacy ``.h5``), on the torch backend: no
TensorFlow needed.

Keras picks its backend when it is first imported, from ``KERAS_BACKEND``: this module sets
it to ``torch`` unless it is set, before it imports keras (only when a Keras model is saved,
loaded or run). A process that imported keras with another backend gets a clear error.
``data`` is a nested list for a model with one input, or an object keyed by input names; its
shape is checked against the model's inputs.
"""

from __future__ import annotations

import os
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import FailedPrecondition, InvalidArgument
from modelyard.runtime.data import jsonable
from modelyard.runtime.flavors.base import FlavorImpl
from modelyard.runtime.formats import sniff

BACKEND = "torch"
#: What a ``.keras`` archive holds (``metadata.json`` too, but the first two are what loads).
_KERAS_MEMBERS = frozenset({"config.json", "model.weights.h5"})


def _keras() -> Any:
    """The keras module on the torch backend, or an error that says how to get there."""
    keras = sys.modules.get("keras")
    if keras is None:
        wanted = os.environ.setdefault("KERAS_BACKEND", BACKEND)
        if wanted != BACKEND:
            raise FailedPrecondition(_backend_message(f"KERAS_BACKEND is {wanted!r}"))
        import keras
    if keras.backend.backend() != BACKEND:
        raise FailedPrecondition(
            _backend_message(f"keras was imported with the {keras.backend.backend()!r} backend")
        )
    return keras


def _backend_message(what: str) -> str:
    return (
        f"{what}; modelyard runs Keras models on the {BACKEND!r} backend (no TensorFlow "
        f"needed): set KERAS_BACKEND={BACKEND}, or leave it unset and let modelyard import "
        "keras first"
    )


class KerasFlavor(FlavorImpl):
    flavor = Flavor.KERAS
    suffixes: ClassVar[tuple[str, ...]] = (".keras", ".h5")
    packages: ClassVar[tuple[str, ...]] = ("keras", "torch", "numpy")

    def accepts(self, model: Any) -> bool:
        keras = sys.modules.get("keras")
        return keras is not None and isinstance(model, keras.Model)

    def save(self, model: Any, bundle: Path, *, name: str = "model") -> RuntimeSpec:
        """Write ``<name>.keras``."""
        if not self.accepts(model):
            raise InvalidArgument(
                "model: the keras flavor saves keras.Model objects, got a "
                f"{type(model).__module__}.{type(model).__qualname__}",
                field="model",
            )
        _keras()  # the model must live on the torch backend to load again here
        bundle.mkdir(parents=True, exist_ok=True)
        path = bundle / f"{name}.keras"
        with _quiet():
            model.save(path)
        return self.saved(path)

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        for path in files:
            suffix = PurePosixPath(path).suffix.lower()
            if (
                suffix in self.suffixes
                and (bundle / path).is_file()
                and _is_keras_file(bundle / path, suffix)
            ):
                return RuntimeSpec(flavor=self.flavor, model_file=path)
        return None

    def load(self, bundle: Path, spec: RuntimeSpec) -> Any:
        path = self.model_path(bundle, spec)
        if not _is_keras_file(path, path.suffix.lower()):
            found = sniff(path)
            raise InvalidArgument(
                f"runtime.model_file: {spec.model_file} is {found.describe()}, not a Keras "
                "model file; save the model with model.save('model.keras')",
                field="runtime.model_file",
            )
        keras = _keras()
        with _quiet():
            return keras.saving.load_model(path)  # safe_mode: no lambdas' bytecode is loaded

    def predict(self, model: Any, data: Any) -> Any:
        inputs = list(model.inputs or [])
        names = [i.name for i in inputs]
        if isinstance(data, Mapping):
            missing = [n for n in names if n not in data]
            unknown = sorted(str(k) for k in data if k not in names)
            if missing or unknown:
                raise InvalidArgument(
                    f"data: expected an object with the inputs {', '.join(names)}; missing "
                    f"{missing}, unknown {unknown}",
                    field="data",
                )
            x: Any = {i.name: _array(data[i.name], i, f"data.{i.name}") for i in inputs}
        elif len(inputs) > 1:
            raise InvalidArgument(
                f"data: the model has {len(inputs)} inputs; send an object keyed by their "
                f"names: {', '.join(names)}",
                field="data",
            )
        else:
            x = _array(data, inputs[0] if inputs else None, "data")
        with _quiet():
            return jsonable(model.predict(x, verbose=0))


def _is_keras_file(path: Path, suffix: str) -> bool:
    """A ``.keras`` zip with the config and the weights, or an ``.h5`` file that holds a
    model's config (read by h5py, which runs nothing)."""
    if suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                return set(archive.namelist()) >= _KERAS_MEMBERS
        except (zipfile.BadZipFile, OSError):
            return False
    if sniff(path).name != "hdf5":
        return False
    try:
        import h5py
    except ImportError:  # comes with keras: without it, keras could not load the file either
        return False
    try:
        with h5py.File(path, "r") as f:
            return "model_config" in f.attrs
    except OSError:
        return False


def _array(value: Any, spec: Any, field: str) -> Any:
    """``value`` as the array the input ``spec`` (a KerasTensor) takes: its dtype, and its
    shape where the model fixes one."""
    import numpy as np

    dtype = str(getattr(spec, "dtype", None) or "float32")
    shape = tuple(getattr(spec, "shape", ()) or ())
    expected = "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
    try:
        array = np.asarray(value)
    except ValueError:
        raise InvalidArgument(
            f"{field}: expected a tensor of shape {expected} as nested lists of equal length; "
            "the lists differ in length",
            field=field,
        ) from None
    if array.dtype.kind not in "biuf":
        raise InvalidArgument(
            f"{field}: expected numbers ({dtype}, shape {expected}), got values of type "
            f"{array.dtype}",
            field=field,
        )
    if shape and (
        array.ndim != len(shape)
        or any(
            want is not None and want != got for want, got in zip(shape, array.shape, strict=True)
        )
    ):
        raise InvalidArgument(
            f"{field}: expected a tensor of shape {expected} ({dtype}), got shape "
            f"{list(array.shape)}",
            field=field,
        )
    return array.astype(dtype, copy=False)


@contextmanager
def _quiet() -> Iterator[None]:
    """Keras 3 calls ``np.array(variable, copy=False)`` on the torch backend, which numpy 2
    answers with a DeprecationWarning the user can do nothing about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        yield
