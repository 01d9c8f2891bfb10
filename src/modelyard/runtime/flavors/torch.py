"""PyTorch modules: TorchScript archives (safe, self-contained) and ``torch.save`` files.

- ``torchscript``: ``torch.jit.script`` (or ``torch.jit.trace`` on an example) saved with
  ``torch.jit.save``, loaded with ``torch.jit.load`` on the CPU; it needs no Python code.
- ``pytorch``: a ``state_dict`` for the network class ``runtime.model_class`` names
  (``net.py:Net``, a file in the bundle; ``Net()`` must construct without arguments), loaded
  with ``weights_only=True``; or, without ``model_class``, a whole module pickled by
  ``torch.save``, which runs code when loaded (flagged unsafe).

The two are told apart by the archive's members, never by loading it: a TorchScript archive
holds ``<name>/code/`` and ``<name>/constants.pkl``, a ``torch.save`` archive ``<name>/data.pkl``
only. Predictions run in ``eval()`` mode under ``torch.inference_mode()``; ``data`` is a nested
list (the module's one input) or an object of named inputs (keyword arguments).
"""

from __future__ import annotations

import ast
import pickletools
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument
from modelyard.runtime.data import jsonable
from modelyard.runtime.flavors.base import FlavorImpl
from modelyard.runtime.formats import FileFormat, sniff

#: Globals a pickled state_dict may name: the dict, tensors and their storages.
_STATE_DICT_MODULES = frozenset({"collections", "torch", "torch._utils"})


class _Torch(FlavorImpl):
    suffixes: ClassVar[tuple[str, ...]] = (".pt", ".pth")
    packages: ClassVar[tuple[str, ...]] = ("torch", "numpy")
    #: What ``sniff`` calls this flavor's files.
    formats: ClassVar[tuple[str, ...]] = ()

    def accepts(self, model: Any) -> bool:
        if "torch" not in sys.modules:
            return False
        keras = sys.modules.get("keras")
        if keras is not None and isinstance(model, keras.Layer):
            return False  # a Keras 3 model on the torch backend is a torch module too
        return isinstance(model, sys.modules["torch"].nn.Module)

    def _check_accepts(self, model: Any) -> None:
        if not self.accepts(model):
            raise InvalidArgument(
                f"model: the {self.flavor} flavor saves torch.nn.Module objects, got a "
                f"{type(model).__module__}.{type(model).__qualname__}",
                field="model",
            )

    def _candidates(self, bundle: Path, files: list[str]) -> Iterator[tuple[str, FileFormat]]:
        for path in files:
            if PurePosixPath(path).suffix.lower() in self.suffixes and (bundle / path).is_file():
                found = sniff(bundle / path)
                if found.name in self.formats:
                    yield path, found

    def _checked_path(self, bundle: Path, spec: RuntimeSpec) -> Path:
        path = self.model_path(bundle, spec)
        found = sniff(path)
        if found.name not in self.formats:
            hint = found.stored_as()
            raise InvalidArgument(
                f"runtime.model_file: {spec.model_file} is {found.describe()}, not what the "
                f"{self.flavor} flavor loads"
                + (f"; register it as {hint}" if hint else "; replace it with the saved model"),
                field="runtime.model_file",
            )
        return path

    def predict(self, model: Any, data: Any) -> Any:
        import torch

        dtype = _float_dtype(model)
        args: tuple[Any, ...] = ()
        kwargs: dict[str, Any] = {}
        if isinstance(data, Mapping):
            kwargs = {str(k): _tensor(v, dtype, f"data.{k}") for k, v in data.items()}
            shown = ", ".join(f"{k}: {_describe(t)}" for k, t in kwargs.items())
        else:
            args = (_tensor(data, dtype, "data"),)
            shown = _describe(args[0])
        try:
            with torch.inference_mode():
                output = model(*args, **kwargs)
        except RuntimeError as exc:
            text = str(exc).lower()
            if "memory" in text or "alloc" in text:
                raise
            raise InvalidArgument(
                f"data: the model cannot run on {shown}: {_last_line(exc)}{_expects(model)}",
                field="data",
            ) from exc
        return jsonable(output)


class TorchScriptFlavor(_Torch):
    flavor = Flavor.TORCHSCRIPT
    formats: ClassVar[tuple[str, ...]] = ("torchscript",)

    def save(
        self, model: Any, bundle: Path, *, name: str = "model", example: Any = None
    ) -> RuntimeSpec:
        """Write ``<name>.pt``: the module scripted, or traced on ``example`` (a tensor, a
        nested list, or an object of named inputs) when one is given."""
        import torch

        self._check_accepts(model)
        if not isinstance(model, torch.jit.ScriptModule):
            model = _compile(model, example)
        bundle.mkdir(parents=True, exist_ok=True)
        path = bundle / f"{name}.pt"
        with _jit():
            torch.jit.save(model, str(path))
        return self.saved(path)

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        for path, _ in self._candidates(bundle, files):
            return RuntimeSpec(flavor=self.flavor, model_file=path)
        return None

    def load(self, bundle: Path, spec: RuntimeSpec) -> Any:
        import torch

        path = self._checked_path(bundle, spec)
        with _jit():
            return torch.jit.load(str(path), map_location="cpu").eval()


class PyTorchFlavor(_Torch):
    """``torch.save`` files: a state_dict with ``runtime.model_class``, or a pickled module."""

    flavor = Flavor.PYTORCH
    formats: ClassVar[tuple[str, ...]] = ("torch", "torch-legacy")

    def save(
        self, model: Any, bundle: Path, *, name: str = "model", model_class: str | None = None
    ) -> RuntimeSpec:
        """Write ``<name>.pt``: the module's state_dict when ``model_class`` names its class
        in a file already in ``bundle`` (``net.py:Net``), else the whole module pickled
        (unsafe to load: prefer TorchScript or a state_dict)."""
        import torch

        self._check_accepts(model)
        if model_class is not None:
            file, cls_name = _model_class(model_class)
            if not _defines(bundle / file, cls_name):
                raise InvalidArgument(
                    f"model_class: {file} in the bundle must define class {cls_name}; copy the "
                    "file that defines the network into the bundle first",
                    field="model_class",
                )
        bundle.mkdir(parents=True, exist_ok=True)
        path = bundle / f"{name}.pt"
        torch.save(model if model_class is None else model.state_dict(), path)
        return self.saved(path).model_copy(update={"model_class": model_class})

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        """The first torch.save file; for a state_dict, ``model_class`` is the one
        ``torch.nn.Module`` subclass that the bundle's top-level ``.py`` files define (read,
        never run), when there is exactly one."""
        for path, found in self._candidates(bundle, files):
            model_class = None
            if found.name == "torch" and _holds_state_dict(bundle / path):
                model_class = _network_class(bundle)
            return RuntimeSpec(flavor=self.flavor, model_file=path, model_class=model_class)
        return None

    def load(self, bundle: Path, spec: RuntimeSpec) -> Any:
        import torch

        from modelyard.runtime.bundle import bundle_code

        path = self._checked_path(bundle, spec)
        if spec.model_class is None:
            with bundle_code(bundle):  # the pickle imports the module's class from the bundle
                loaded = torch.load(path, map_location="cpu", weights_only=False)
            if isinstance(loaded, Mapping):
                raise InvalidArgument(
                    f"runtime.model_class: {spec.model_file} holds a state_dict (weights only); "
                    "set runtime.model_class to 'module.py:ClassName', the network class in "
                    "the bundle that it belongs to",
                    field="runtime.model_class",
                )
            if not isinstance(loaded, torch.nn.Module):
                raise InvalidArgument(
                    f"runtime.model_file: {spec.model_file} holds a {type(loaded).__name__}, "
                    "not a torch module; save the module (or its state_dict with "
                    "runtime.model_class)",
                    field="runtime.model_file",
                )
            return loaded.eval()
        file, cls_name = _model_class(spec.model_class)
        with bundle_code(bundle) as code:
            cls = getattr(code.import_file(file), cls_name, None)
            if not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
                raise InvalidArgument(
                    f"runtime.model_class: {file} defines no torch.nn.Module class {cls_name}",
                    field="runtime.model_class",
                )
            try:
                network = cls()
            except TypeError as exc:
                raise InvalidArgument(
                    f"runtime.model_class: {cls_name}() failed ({exc}); give its __init__ "
                    "defaults for every argument, so the network can be built to load the "
                    "weights into",
                    field="runtime.model_class",
                ) from None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle.UnpicklingError: it holds more than tensors
            raise InvalidArgument(
                f"runtime.model_file: {spec.model_file} is not a plain state_dict "
                f"({_last_line(exc)}); save model.state_dict(), or remove runtime.model_class "
                "to load it as a whole pickled module (unsafe)",
                field="runtime.model_file",
            ) from None
        if not isinstance(state, Mapping):
            raise InvalidArgument(
                f"runtime.model_file: {spec.model_file} holds a {type(state).__name__}, not a "
                "state_dict; save model.state_dict()",
                field="runtime.model_file",
            )
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            raise InvalidArgument(
                f"runtime.model_class: the weights in {spec.model_file} do not fit "
                f"{cls_name}: {_last_line(exc)}",
                field="runtime.model_class",
            ) from None
        return network.eval()

    def unsafe_format(self, spec: RuntimeSpec) -> str | None:
        if spec.model_class is not None:
            return None
        return (
            f"{spec.model_file} is a whole pickled module (torch.save): loading it "
            "runs any code stored in it, so load it only from people you trust. Save "
            "TorchScript instead (the torchscript flavor), or the state_dict with "
            "runtime.model_class naming the network class, which loads with weights_only=True"
        )


@contextmanager
def _jit() -> Iterator[None]:
    """TorchScript is deprecated in favour of torch.export, whose programs cannot be served
    without the module's code; it still works, so its deprecation warnings are not passed on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*torch\.jit", DeprecationWarning)
        yield


def _compile(model: Any, example: Any) -> Any:
    """``model`` scripted, or traced on ``example``; its train/eval mode is left as it was."""
    import torch

    training = model.training
    model.eval()
    try:
        with _jit():
            if example is None:
                return torch.jit.script(model)
            if isinstance(example, Mapping):
                named = {str(k): _example(v) for k, v in example.items()}
                return torch.jit.trace(model, example_kwarg_inputs=named)
            return torch.jit.trace(model, _example(example))
    except Exception as exc:
        if example is not None:
            raise InvalidArgument(
                f"model: tracing the module on the example failed ({_last_line(exc)})",
                field="example",
            ) from None
        raise InvalidArgument(
            f"model: the module cannot be scripted ({type(exc).__name__}: {_last_line(exc)}); "
            "pass example= (an input) to trace it instead",
            field="model",
        ) from None
    finally:
        model.train(training)


def _example(value: Any) -> Any:
    import torch

    return value if isinstance(value, torch.Tensor) else _tensor(value, torch.float32, "example")


def _tensor(value: Any, dtype: Any, field: str) -> Any:
    """JSON numbers as a tensor: floats in the module's float dtype, integers as int64."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return value
    try:
        array = np.asarray(value)
    except ValueError:
        raise InvalidArgument(
            f"{field}: expected a tensor (nested lists of numbers of equal length); the lists "
            "differ in length",
            field=field,
        ) from None
    if array.dtype.kind == "f":
        return torch.from_numpy(array).to(dtype)
    if array.dtype.kind in "iu":
        return torch.from_numpy(array.astype("int64", copy=False))
    if array.dtype.kind == "b":
        return torch.from_numpy(array)
    raise InvalidArgument(
        f"{field}: expected numbers (a tensor as nested lists), got values of type {array.dtype}",
        field=field,
    )


def _float_dtype(model: Any) -> Any:
    """The dtype of the module's first floating-point parameter (float32 if it has none)."""
    import torch

    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def _expects(model: Any) -> str:
    """What the module's first layer takes, when it says (``in_features``, ``in_channels``)."""
    for name, module in model.named_modules():
        for attribute, what in (("in_features", "features"), ("in_channels", "channels")):
            size = getattr(module, attribute, None)
            if isinstance(size, int):
                kind = getattr(module, "original_name", type(module).__name__)
                return f"; its first layer ({name or 'the module'}: {kind}) takes {size} {what}"
    return ""


def _describe(tensor: Any) -> str:
    return f"a tensor of shape {list(tensor.shape)} ({str(tensor.dtype).removeprefix('torch.')})"


def _last_line(exc: BaseException) -> str:
    """The last line of an error: TorchScript errors end with the one that matters
    (``RuntimeError: mat1 and mat2 shapes ...``, shown without the class name)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return re.sub(r"^\w+Error: ", "", lines[-1]) if lines else type(exc).__name__


def _model_class(value: str) -> tuple[str, str]:
    file, _, cls_name = value.partition(":")
    path = PurePosixPath(file)
    if (
        path.suffix != ".py"
        or path.is_absolute()
        or ".." in path.parts
        or not cls_name.isidentifier()
    ):
        raise InvalidArgument(
            f"runtime.model_class: expected 'module.py:ClassName' (a file in the bundle), "
            f"got {value!r}",
            field="runtime.model_class",
        )
    return file, cls_name


def _defines(path: Path, name: str) -> bool:
    from modelyard.runtime.bundle import defines_class

    return path.is_file() and defines_class(path, name)


def _holds_state_dict(path: Path) -> bool:
    """Whether a torch.save archive holds only tensors in dicts: its pickle (``data.pkl``)
    names no class outside collections and torch's tensor rebuilders. Read with
    ``pickletools``, which runs nothing."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            pickle = archive.read(member)
    except (zipfile.BadZipFile, OSError, StopIteration):
        return False
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(pickle):
            if opcode.name in ("GLOBAL", "INST"):
                module = str(arg).partition(" ")[0]
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                module = strings[-2]
            else:
                if isinstance(arg, str):
                    strings.append(arg)
                continue
            if module not in _STATE_DICT_MODULES:
                return False
    except (ValueError, EOFError, UnicodeDecodeError):
        return False
    return True


def _network_class(bundle: Path) -> str | None:
    """``file.py:Class`` for the one ``torch.nn.Module`` subclass defined at the top level of
    the bundle's top-level ``.py`` files, or None when there is none or several."""
    found = []
    for path in sorted(bundle.glob("*.py")):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            continue
        found += [
            f"{path.name}:{node.name}"
            for node in tree.body
            if isinstance(node, ast.ClassDef) and any(map(_is_module_base, node.bases))
        ]
    return found[0] if len(found) == 1 else None


def _is_module_base(base: ast.expr) -> bool:
    """``nn.Module``, ``torch.nn.Module`` or ``Module``."""
    if isinstance(base, ast.Attribute):
        return base.attr == "Module" and ast.unparse(base.value) in ("nn", "torch.nn")
    return isinstance(base, ast.Name) and base.id == "Module"
