"""Gesund bundles: ``model.py`` with class ``GesundModel``, pre/post-processing, a pydantic schema.

The layout of Gesund's model template (``model.py``, ``preprocess.py``, ``postprocess.py``,
``loss.py``, ``reqs.txt``, ``schema.py``, the model file, ``__init__.py``), and this contract:

- ``model.py`` defines ``class GesundModel``. modelyard makes one with
  ``GesundModel(model_path)`` -- the absolute path of the model file (``RuntimeSpec.model_file``,
  detected as the bundle's one model file, or the one named ``model.*``), or the bundle
  directory when there is none -- or with ``GesundModel()`` when ``__init__`` takes no
  argument; then calls its ``load()`` if it has one (``load(model_path)`` if that takes an
  argument).
- ``GesundModel.predict(data)`` predicts on what preprocessing made of the request's JSON.
- Preprocessing is the instance's ``preprocess`` if it has a callable one (Gesund's template
  sets ``self.preprocess = Preprocess()``; a method works too), else ``preprocess.py``'s
  function ``preprocess`` or class ``Preprocess`` (made once, then called); without either the
  JSON goes to ``predict`` as it is. Postprocessing likewise (``postprocess``/``Postprocess``).
  Both are called with one argument (the template's ``batch`` keeps its default).
- ``schema.py`` holds the pydantic output model: the class named ``Response`` (the template's
  name), else the one ``BaseModel`` defined there that no other of its models uses as a field
  type. Each answer (each item of a list answer) is validated by it, and the answer is what it
  dumps (so fields it does not declare, such as the template's ``status``, are left out).
  An answer it refuses is the model's fault (``ModelError``: a deployment answers 500 naming
  the field). Its JSON Schema (:meth:`GesundFlavor.output_schema`) is what the checks register
  as the version's output schema. Without ``schema.py`` the answer is not validated.
- ``loss.py`` and the template's ``GesundModel.loss`` are for training and are not called.

Gesund's registration decorators (``register.modelservice``, ``register.outschema``) belong to
its platform: modelyard finds the class and the schema by name, so a bundle leaves them out.
Code is imported as a package of its own (``modelyard.runtime.bundle.bundle_code``), so the
template's relative imports (``from .preprocess import Preprocess``) work.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument, ModelError
from modelyard.runtime.bundle import bundle_code, defines_class
from modelyard.runtime.data import jsonable
from modelyard.runtime.flavors.base import FlavorImpl
from modelyard.runtime.flavors.python import PICKLES

MODEL_FILE = "model.py"
MODEL_CLASS = "GesundModel"
SCHEMA_FILE = "schema.py"
SCHEMA_CLASS = "Response"


@dataclass(frozen=True, kw_only=True)
class GesundBundle:
    """A loaded Gesund bundle: the ``GesundModel`` instance and what runs around it."""

    model: Any
    preprocess: Callable[[Any], Any] | None
    postprocess: Callable[[Any], Any] | None
    schema: type | None


class GesundFlavor(FlavorImpl):
    flavor = Flavor.GESUND
    #: Model files a GesundModel may load (Gesund takes "any saved model").
    suffixes = (
        ".pt",
        ".pth",
        ".onnx",
        ".h5",
        ".hdf5",
        ".keras",
        ".joblib",
        ".skops",
        ".pkl",
        ".pickle",
        ".sklearn",
        ".ckpt",
        ".safetensors",
        ".bin",
    )
    packages = ("pydantic",)

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        if MODEL_FILE not in files or not defines_class(bundle / MODEL_FILE, MODEL_CLASS):
            return None
        candidates = [
            f for f in files if "/" not in f and PurePosixPath(f).suffix.lower() in self.suffixes
        ]
        named = [f for f in candidates if PurePosixPath(f).stem == "model"]
        model_file = candidates[0] if len(candidates) == 1 else (named or [None])[0]
        return RuntimeSpec(flavor=Flavor.GESUND, model_file=model_file)

    def load(self, bundle: Path, spec: RuntimeSpec) -> GesundBundle:
        model_path = str((bundle / spec.model_file if spec.model_file else bundle).resolve())
        with bundle_code(bundle) as code:
            module = code.import_file(MODEL_FILE)
            cls = getattr(module, MODEL_CLASS, None)
            if not isinstance(cls, type):
                raise InvalidArgument(
                    f"{MODEL_FILE} defines no class {MODEL_CLASS}: a Gesund bundle's model.py "
                    f"must define class {MODEL_CLASS} with predict(data)",
                    field="model.py",
                )
            model = cls(model_path) if _takes_argument(cls) else cls()
            load = getattr(model, "load", None)
            if callable(load) and _takes_argument(load, required=True):
                load(model_path)
            elif callable(load):
                load()
            if not callable(getattr(model, "predict", None)):
                raise InvalidArgument(
                    f"{MODEL_FILE}: {MODEL_CLASS} has no predict(data) method; add one that "
                    "returns the model's output for preprocessed data",
                    field="model.py",
                )
            preprocess = _step(model, code.import_optional("preprocess.py"), "preprocess")
            postprocess = _step(model, code.import_optional("postprocess.py"), "postprocess")
            schema_module = code.import_optional(SCHEMA_FILE)
            schema = None if schema_module is None else output_schema(schema_module)
        return GesundBundle(
            model=model, preprocess=preprocess, postprocess=postprocess, schema=schema
        )

    def predict(self, model: GesundBundle, data: Any) -> Any:
        if model.preprocess is not None:
            data = model.preprocess(data)
        output = model.model.predict(data)
        if model.postprocess is not None:
            output = model.postprocess(output)
        output = jsonable(output)
        return output if model.schema is None else _validated(output, model.schema)

    def output_schema(self, model: GesundBundle, answer: Any) -> dict[str, Any] | None:
        if model.schema is None:
            return None
        return _adapter(model.schema, answer).json_schema()

    def unsafe_format(self, spec: RuntimeSpec) -> str | None:
        if spec.model_file and PurePosixPath(spec.model_file).suffix.lower() in PICKLES:
            return (
                f"{spec.model_file} is a pickle: loading it runs code stored in the file. Load "
                "it only from people you trust, or save the model in a format that stores no "
                "code (skops, ONNX, TorchScript, .keras)"
            )
        return None


def _takes_argument(function: Callable[..., Any], *, required: bool = False) -> bool:
    """Whether ``function`` (a class: its constructor; a bound method) takes a positional
    argument (a required one, with ``required``)."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if required:
        return any(p.default is p.empty for p in positional)
    return bool(positional) or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _step(model: Any, module: ModuleType | None, name: str) -> Callable[[Any], Any] | None:
    """The instance's ``name`` if callable, else the module's function ``name`` or class
    ``Name`` (made once), else None."""
    own = getattr(model, name, None)
    if callable(own):
        return own
    if module is None:
        return None
    function = getattr(module, name, None)
    if callable(function) and not isinstance(function, type):
        return function
    cls = getattr(module, name.capitalize(), None)
    if isinstance(cls, type):
        return cls()
    raise InvalidArgument(
        f"{name}.py defines neither a function {name}(data) nor a class {name.capitalize()}; "
        f"define one of them, or remove {name}.py",
        field=f"{name}.py",
    )


def output_schema(module: ModuleType) -> type:
    """The pydantic output model of a Gesund ``schema.py`` (see the module's doc)."""
    from pydantic import BaseModel

    defined = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    ]
    named = [cls for cls in defined if cls.__name__ == SCHEMA_CLASS]
    if named:
        return named[0]
    nested = {arg for cls in defined for arg in _field_types(cls)}
    roots = [cls for cls in defined if cls not in nested]
    if len(roots) == 1:
        return roots[0]
    found = ", ".join(cls.__name__ for cls in roots) or "none"
    raise InvalidArgument(
        f"{SCHEMA_FILE} must define the output schema as a pydantic model named "
        f"{SCHEMA_CLASS} (or exactly one top-level BaseModel); found {found}",
        field=SCHEMA_FILE,
    )


def _field_types(cls: Any) -> set[Any]:
    """Every type mentioned in ``cls``'s field annotations, inside ``list[...]`` and such."""
    found: set[Any] = set()
    stack = [field.annotation for field in cls.model_fields.values()]
    while stack:
        annotation = stack.pop()
        if isinstance(annotation, type):
            found.add(annotation)
        stack += list(typing.get_args(annotation))
    return found


def _adapter(schema: Any, output: Any) -> Any:
    """The pydantic adapter for an answer: the schema, or a list of it for a list answer."""
    from pydantic import TypeAdapter

    return TypeAdapter(list[schema] if isinstance(output, list) else schema)


def _validated(output: Any, schema: Any) -> Any:
    from pydantic import ValidationError

    adapter = _adapter(schema, output)
    try:
        value = adapter.validate_python(output)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise ModelError(
            f"the answer does not match {SCHEMA_FILE}'s {schema.__name__} "
            f"({exc.error_count()} error(s)); first at {where}: {first['msg']}. Make "
            "postprocess and the schema agree",
            field=f"output.{where}",
        ) from exc
    return jsonable(adapter.dump_python(value, mode="json"))
