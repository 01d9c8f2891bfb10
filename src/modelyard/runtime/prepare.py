"""The SDK's prepare flow: an in-memory model becomes a bundle that serves without modelyard.

OCI ADS's ``prepare → verify → save`` in three calls::

    bundle = prepare(model, "./churn", example=X[:5])
    report = bundle.verify()                  # the checks, in a separate process
    version = bundle.save(client, "risk/churn")

``prepare`` picks the flavor whose ``accepts`` takes the object (anything else with a
``.predict()`` is pickled with cloudpickle: the generic ``python`` flavor, flagged unsafe),
saves the model file, and writes beside it a ``score.py`` that needs only the framework
(``load_model()`` / ``predict(data, model=...)``, the entry point), ``requirements.txt`` pinned
to what is installed, ``input_example.json`` and the input/output JSON Schemas inferred from
the example and the model's own prediction on it, and ``modelyard.yaml`` (the runtime spec and
the SHA-256 of every file). Provenance comes from git (``runtime.provenance``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import shutil
import sys
import types
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from modelyard.client._files import sha256_file
from modelyard.client.client import split_name
from modelyard.domain.entities import Provenance
from modelyard.domain.runtime import CheckReport, Flavor, RuntimeSpec
from modelyard.errors import FailedPrecondition, InvalidArgument, ModelNotFound
from modelyard.runtime import entry_point
from modelyard.runtime.bundle import (
    EXAMPLE_FILE,
    INPUT_SCHEMA_FILE,
    OUTPUT_SCHEMA_FILE,
    SCORE_FILE,
    SPEC_FILE,
    write_bundle,
)
from modelyard.runtime.data import jsonable
from modelyard.runtime.flavors import flavor as flavor_impl
from modelyard.runtime.flavors.base import FlavorImpl
from modelyard.runtime.flavors.torch import TorchScriptFlavor
from modelyard.runtime.packages import pinned
from modelyard.runtime.provenance import git_provenance

if TYPE_CHECKING:
    from modelyard.client.client import Client
    from modelyard.client.resources import ModelVersion

REQUIREMENTS_FILE = "requirements.txt"
#: Flavors that take an in-memory object, in the order ``prepare`` tries them.
IN_MEMORY = (Flavor.SKLEARN, Flavor.KERAS, Flavor.ONNX, Flavor.TORCHSCRIPT, Flavor.PYTORCH)
CACHE_DIRS = ("__pycache__",)


class PreparedBundle:
    """A bundle written by :func:`prepare`: check it with :meth:`verify`, register it with
    :meth:`save`.

    The directory is what counts: edit ``score.py``, ``requirements.txt`` or the schema files
    after ``prepare`` and ``verify``/``save`` take the edits (they re-read those files and
    rewrite ``modelyard.yaml`` with fresh hashes first).
    """

    def __init__(
        self,
        *,
        directory: Path,
        runtime: RuntimeSpec,
        input_schema: dict[str, Any] | None,
        output_schema: dict[str, Any] | None,
        provenance: Provenance,
        unsafe: str | None,
    ) -> None:
        self._directory = directory
        self._runtime = runtime
        self._input_schema = input_schema
        self._output_schema = output_schema
        self._provenance = provenance
        self._unsafe = unsafe

    def __repr__(self) -> str:
        return f"<PreparedBundle {self._directory} flavor={self._runtime.flavor}>"

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def runtime(self) -> RuntimeSpec:
        return self._runtime

    @property
    def input_schema(self) -> dict[str, Any] | None:
        return self._input_schema

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self._output_schema

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    @property
    def unsafe(self) -> str | None:
        """Why the model file is unsafe to load from an untrusted source (pickle), or None."""
        return self._unsafe

    def files(self) -> list[str]:
        """The bundle's files, relative paths, sorted (caches such as ``__pycache__`` left out)."""
        return sorted(p.relative_to(self._directory).as_posix() for p in self._walk())

    def verify(
        self, *, timeout: float = 120, memory_mb: int = 4096, python: str | None = None
    ) -> CheckReport:
        """Run the checks on the bundle in a separate process (``modelyard verify``'s), with
        an overall ``timeout`` in seconds and a memory limit; ``python`` picks another
        interpreter. Nothing of the model runs in this process."""
        from modelyard.runtime.sandbox import check_bundle

        sha256 = self._seal()
        return check_bundle(
            self._directory,
            self._runtime,
            sha256=sha256,
            input_schema=self._input_schema,
            output_schema=self._output_schema,
            timeout=timeout,
            memory_mb=memory_mb,
            python=python,
        )

    def save(
        self,
        client: Client,
        name: str,
        version: str | None = None,
        *,
        description: str | None = None,
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        task: str | None = None,
        create_model: bool = True,
        wait_for_checks: bool = True,
        timeout: float | None = None,
    ) -> ModelVersion:
        """Register the bundle as a new version of ``name`` (``"namespace/model"``).

        Creates the model when it is missing (unless ``create_model=False``), then a version
        carrying the runtime spec, schemas, provenance and framework, uploads every file,
        and finishes it (READY). With ``wait_for_checks`` it returns once the server's checks
        have a result (``version.checks``), waiting at most ``timeout`` seconds; a server
        that runs no checks is not waited for. If anything fails before the version is
        finished, the version is marked FAILED with the reason and the error is raised.
        """
        self._seal()
        namespace, model_name = split_name(name)
        try:
            model = client.get_model(model_name, namespace)
        except ModelNotFound:
            if not create_model:
                raise ModelNotFound(
                    f"model {namespace}/{model_name} does not exist; create it first or call "
                    "save(..., create_model=True)"
                ) from None
            model = client.new_model(model_name, namespace=namespace, task=task)
        created = model.new_model_version(
            version=version,
            description=description,
            metadata=metadata,
            unique_tags=list(tags),
            framework=self._runtime.flavor.value,
            task=task,
            input_schema=self._input_schema,
            output_schema=self._output_schema,
            provenance=self._provenance,
            runtime=self._runtime,
        )
        try:
            created.upload_artifact(self._directory)
            created.finish()
        except BaseException as exc:
            # Best effort: the error that stopped the upload is the one to raise.
            with contextlib.suppress(Exception):
                created.fail(f"prepare's save stopped before the version was finished: {exc}")
            raise
        if wait_for_checks and created.checks is not None:
            created.wait_for_checks(timeout)
        return created

    # -- the directory -------------------------------------------------------------------

    def _walk(self) -> Iterator[Path]:
        for path in self._directory.rglob("*"):
            parts = path.relative_to(self._directory).parts
            if path.is_file() and not any(p in CACHE_DIRS for p in parts):
                yield path

    def _seal(self) -> dict[str, str]:
        """Take in edits made since prepare: requirements and schemas from their files,
        caches removed, every file's SHA-256 written to ``modelyard.yaml``. Returns them."""
        for cache in CACHE_DIRS:
            for found in list(self._directory.rglob(cache)):
                shutil.rmtree(found, ignore_errors=True)
        requirements = self._directory / REQUIREMENTS_FILE
        if requirements.is_file():
            lines = requirements.read_text().splitlines()
            self._runtime = self._runtime.model_copy(
                update={"requirements": _requirement_lines(lines)}
            )
        self._input_schema = _read_schema(self._directory / INPUT_SCHEMA_FILE)
        self._output_schema = _read_schema(self._directory / OUTPUT_SCHEMA_FILE)
        sha256 = {
            p.relative_to(self._directory).as_posix(): sha256_file(p)
            for p in sorted(self._walk())
            if p.relative_to(self._directory).as_posix() != SPEC_FILE
        }
        write_bundle(self._directory, self._runtime, sha256)
        return sha256


def prepare(
    model: Any,
    directory: str | Path,
    *,
    example: Any = None,
    flavor: FlavorImpl | Flavor | str | None = None,
    requirements: Iterable[str] | None = None,
    training_script: str | Path | None = None,
    provenance: Provenance | Mapping[str, Any] | None = None,
    overwrite: bool = False,
    name: str = "model",
) -> PreparedBundle:
    """Write ``model`` as a bundle in ``directory`` and return it (see the module's doc).

    ``flavor`` forces one (else the first whose ``accepts`` takes the object: sklearn, onnx,
    torchscript, pytorch, keras; then ``python`` for anything with ``.predict()``).
    ``example`` (numpy array, torch tensor, pandas DataFrame, list, or a dict of named
    inputs) is stored as ``input_example.json`` and gives the schemas. ``requirements`` are
    added to the pinned ones, replacing a pin of the same name. ``training_script`` is
    recorded relative to its git repository (default: the ``__main__`` file); fields of
    ``provenance`` override what git says. ``name`` is the model file's stem. A directory
    that is not empty is refused unless ``overwrite``, which empties it first.
    """
    bundle = Path(directory)
    impl = _choose_flavor(model, flavor)
    extra = _requirement_lines(requirements or [], field="requirements")
    overrides = (
        Provenance.model_validate(provenance).model_dump(exclude_unset=True)
        if provenance is not None
        else {}
    )
    created = not bundle.exists()
    _make_empty(bundle, overwrite)
    try:
        runtime, input_schema, output_schema = _write(model, bundle, impl, example, extra, name)
    except BaseException:
        _clear(bundle)
        if created:
            bundle.rmdir()
        raise
    prepared = PreparedBundle(
        directory=bundle,
        runtime=runtime,
        input_schema=input_schema,
        output_schema=output_schema,
        provenance=git_provenance(training_script).model_copy(update=overrides),
        unsafe=impl.unsafe_format(runtime),
    )
    prepared._seal()
    return prepared


def _write(
    model: Any, bundle: Path, impl: FlavorImpl, example: Any, extra: list[str], name: str
) -> tuple[RuntimeSpec, dict[str, Any] | None, dict[str, Any] | None]:
    """Write the model file, score.py, requirements and the example with its schemas."""
    inputs = entry_point.input_kind(example, impl.flavor)
    referenced: list[str] = []
    if impl.flavor == Flavor.PYTHON:
        spec, referenced = _save_python(model, bundle, name)
    elif isinstance(impl, TorchScriptFlavor):
        spec = _save_torchscript(impl, model, bundle, name, example)
    else:
        spec = impl.save(model, bundle, name=name)
    score = entry_point.source(spec, bundle, inputs)
    (bundle / SCORE_FILE).write_text(score)
    packages = [*_distributions(referenced), "numpy"]
    if inputs["kind"] == "dataframe":
        packages.append("pandas")
    pins = _merge([*impl.requirements(), *pinned(packages)], extra)
    (bundle / REQUIREMENTS_FILE).write_text("".join(f"{line}\n" for line in pins))
    input_schema = output_schema = None
    if example is not None:
        from modelyard.runtime.schema import infer_schema  # jsonschema: only when needed

        data = jsonable(example)
        output = jsonable(_predict_in_process(score, bundle, spec, model, data))
        input_schema, output_schema = infer_schema(data), infer_schema(output)
        _write_json(bundle / EXAMPLE_FILE, data)
        _write_json(bundle / INPUT_SCHEMA_FILE, input_schema, indent=2)
        _write_json(bundle / OUTPUT_SCHEMA_FILE, output_schema, indent=2)
    runtime = spec.model_copy(
        update={
            "entry_point": SCORE_FILE,
            "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
            "requirements": pins,
            "example": EXAMPLE_FILE if example is not None else None,
        }
    )
    return runtime, input_schema, output_schema


# -- choosing and saving -----------------------------------------------------------------


def _make_empty(bundle: Path, overwrite: bool) -> None:
    if bundle.exists() and not bundle.is_dir():
        raise InvalidArgument(
            f"directory: {bundle} is a file; give a directory (new or empty)", field="directory"
        )
    if bundle.is_dir() and any(bundle.iterdir()):
        if not overwrite:
            raise InvalidArgument(
                f"directory: {bundle} is not empty; give a new or empty directory, or pass "
                "overwrite=True to delete what is in it first",
                field="directory",
            )
        if (bundle / ".git").exists() or Path.cwd().resolve().is_relative_to(bundle.resolve()):
            raise InvalidArgument(
                f"directory: {bundle} holds a git repository or the working directory; "
                "overwrite=True would delete it. Give the bundle a directory of its own",
                field="directory",
            )
        _clear(bundle)
    bundle.mkdir(parents=True, exist_ok=True)


def _clear(bundle: Path) -> None:
    for child in bundle.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _has_predict(model: Any) -> bool:
    return callable(getattr(model, "predict", None))


def _choose_flavor(model: Any, name: FlavorImpl | Flavor | str | None) -> FlavorImpl:
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if name is None:
        for candidate in IN_MEMORY:
            impl = flavor_impl(candidate)
            if impl.accepts(model):
                return impl
        if _has_predict(model):
            return flavor_impl(Flavor.PYTHON)
        raise InvalidArgument(
            f"model: no flavor can save a {kind}: it is not a scikit-learn estimator, ONNX "
            "model, torch module or Keras model, and has no .predict() method for the generic "
            "python flavor. Wrap it in an object whose predict(data) calls it, or write the "
            "bundle yourself (`modelyard template`)",
            field="model",
        )
    impl = name if isinstance(name, FlavorImpl) else _named_flavor(name)
    fits = _has_predict(model) if impl.flavor == Flavor.PYTHON else impl.accepts(model)
    if not fits:
        raise InvalidArgument(
            f"flavor: the {impl.flavor} flavor cannot save a {kind}; leave flavor out to have "
            "one chosen",
            field="flavor",
        )
    return impl


def _named_flavor(name: Flavor | str) -> FlavorImpl:
    try:
        return flavor_impl(name)
    except ValueError:
        choices = ", ".join(f.value for f in (*IN_MEMORY, Flavor.PYTHON))
        raise InvalidArgument(
            f"flavor: {name!r} is not a flavor prepare can write; expected one of {choices}, "
            "or leave it out to have it chosen",
            field="flavor",
        ) from None


def _save_torchscript(
    impl: TorchScriptFlavor, model: Any, bundle: Path, name: str, example: Any
) -> RuntimeSpec:
    """Script the module; one that cannot be scripted is traced on the example instead."""
    try:
        return impl.save(model, bundle, name=name)
    except InvalidArgument:
        if example is None:
            raise
    return impl.save(model, bundle, name=name, example=example)


def _save_python(model: Any, bundle: Path, name: str) -> tuple[RuntimeSpec, list[str]]:
    """Pickle ``model`` with cloudpickle; returns its spec and the modules the pickle needs.

    Classes and functions from modules that are neither installed distributions nor the
    standard library (the project's own code) are pickled by value, so the bundle loads
    where that code is not importable."""
    try:
        import cloudpickle
    except ImportError:
        raise FailedPrecondition(
            f"model: a {type(model).__qualname__} is saved by pickling it, which needs "
            "cloudpickle: pip install cloudpickle",
            field="model",
        ) from None
    modules: set[str] = set()

    class Recorder(cloudpickle.CloudPickler):  # type: ignore[misc]
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, types.ModuleType):
                modules.add(obj.__name__)
            elif isinstance(obj, type | types.FunctionType):
                modules.add(obj.__module__)
            else:
                modules.add(type(obj).__module__)
            return super().reducer_override(obj)

    local = [sys.modules[m] for m in _local_modules()]
    for module in local:
        cloudpickle.register_pickle_by_value(module)
    path = bundle / f"{name}.pkl"
    try:
        with path.open("wb") as f:
            Recorder(f).dump(model)
    finally:
        for module in local:
            cloudpickle.unregister_pickle_by_value(module)
    return RuntimeSpec(flavor=Flavor.PYTHON, model_file=path.name), sorted(modules)


def _local_modules() -> list[str]:
    """Imported top-level modules of the project itself: not the standard library, not an
    installed distribution, not under the interpreter's prefix."""
    dists = importlib.metadata.packages_distributions()
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    found = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if "." in name or name == "__main__" or not file or name in sys.stdlib_module_names:
            continue
        if name in dists or any(Path(file).resolve().is_relative_to(p) for p in prefixes):
            continue
        found.append(name)
    return found


def _distributions(modules: Iterable[str]) -> list[str]:
    """The installed distributions that provide ``modules`` (standard library and local
    modules have none)."""
    dists = importlib.metadata.packages_distributions()
    found: list[str] = []
    for module in modules:
        for dist in dists.get(module.partition(".")[0], []):
            if dist not in found:
                found.append(dist)
    return found


# -- requirements ----------------------------------------------------------------------------


def _requirement_lines(lines: Iterable[str], field: str = REQUIREMENTS_FILE) -> list[str]:
    """Requirement lines without comments and blanks, each checked; pip options
    (``--extra-index-url ...``) are kept as they are."""
    found = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("-"):
            try:
                Requirement(line)
            except InvalidRequirement as exc:
                raise InvalidArgument(
                    f"{field}: {line!r} is not a requirement (expected 'name', 'name==1.2' or "
                    f"'name>=1,<2'): {exc}",
                    field=field,
                ) from None
        found.append(line)
    return found


def _merge(ours: list[str], given: list[str]) -> list[str]:
    """``ours`` then ``given``, one line per distribution: a given line replaces ours."""
    merged: dict[str, str] = {}
    for line in [*ours, *given]:
        key = line if line.startswith("-") else canonicalize_name(Requirement(line).name)
        merged[key] = line
    return list(merged.values())


# -- files ---------------------------------------------------------------------------------


def _write_json(path: Path, value: Any, indent: int | None = None) -> None:
    path.write_text(json.dumps(value, indent=indent) + "\n")


def _read_schema(path: Path) -> dict[str, Any] | None:
    """The JSON Schema object in ``path``; None when there is no such file."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"{path.name}: not valid JSON ({exc}); fix it or delete the file", field=path.name
        ) from None
    if not isinstance(value, dict):
        raise InvalidArgument(
            f"{path.name}: expected a JSON Schema object, got {type(value).__name__}; fix it "
            "or delete the file",
            field=path.name,
        )
    return value


def _predict_in_process(score: str, bundle: Path, spec: RuntimeSpec, model: Any, data: Any) -> Any:
    """``score.py``'s predict on the example with the in-memory model (the ONNX flavor's
    served object is a session, loaded from the file): the output schema then describes
    exactly what the bundle answers."""
    module = types.ModuleType("score")
    module.__file__ = str(bundle / SCORE_FILE)
    exec(compile(score, module.__file__, "exec"), module.__dict__)
    served = module.load_model() if spec.flavor == Flavor.ONNX else model
    try:
        return module.predict(data, model=served)
    except Exception as exc:
        raise InvalidArgument(
            f"example: the model could not predict on it ({type(exc).__name__}: {exc}); give "
            "an example the model takes, shaped as a request would carry it",
            field="example",
        ) from exc
