"""The checks (introspection): does a bundle load and predict, and can it be deployed as it is?

``CHECKS`` is the documented list, in the order the checks run; each has a stable id. A
result is PASS, WARN (works, but something deserves attention), FAIL (will not work as it is;
the version is not deployable unless forced) or SKIP (nothing to check, or a check it needs
failed), with a message that says what was found and, when not PASS, what to do about it.

:func:`run_checks` runs them here and now, importing and running the bundle's code: it belongs
in a worker process (``modelyard.runtime.sandbox`` runs it in one, with a timeout and a memory
limit). ``requirements.environment`` is the sandbox's own: it is decided before the worker
starts, and ``run_checks`` leaves it out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from modelyard.domain.runtime import CheckResult, CheckStatus, Flavor, RuntimeSpec
from modelyard.errors import RegistryError
from modelyard.runtime.bundle import (
    EXAMPLE_FILE,
    INPUT_SCHEMA_FILE,
    OUTPUT_SCHEMA_FILE,
    SPEC_FILE,
    bundle_code,
    bundle_files,
    read_bundle,
)
from modelyard.runtime.detect import GESUND_FILE, REQUIREMENTS_FILES, completed, detect
from modelyard.runtime.formats import (
    DESCRIPTIONS,
    FileFormat,
    expected_formats,
    sniff,
    suffix_formats,
)
from modelyard.runtime.references import scan_references
from modelyard.runtime.requirements import PythonFit, Resolution, python_fit, resolve, unsatisfied
from modelyard.runtime.schema import check_schema, infer_schema, validate
from modelyard.runtime.signatures import gesund_signatures, score_signatures


@dataclass(frozen=True, kw_only=True)
class Check:
    """One check: its stable id, a title, and what a PASS proves."""

    id: str
    title: str
    proves: str
    #: Checks whose FAIL makes this one SKIP.
    needs: tuple[str, ...] = ()
    #: Decided by the sandbox before the worker starts, not by ``run_checks``.
    sandbox: bool = False


CHECKS: tuple[Check, ...] = (
    Check(
        id="runtime.spec",
        title="Runtime spec",
        proves="the flavor, model file and entry point are known: given, declared in "
        "modelyard.yaml, or detected from the files",
    ),
    Check(
        id="files.sha256",
        title="Declared digests",
        proves="every file with a declared SHA-256 (modelyard.yaml's sha256:, or the "
        "registry's) is present and has exactly those bytes",
    ),
    Check(
        id="python.version",
        title="Python version",
        proves="the Python version the bundle declares admits the interpreter that runs it",
        needs=("runtime.spec",),
    ),
    Check(
        id="requirements.parse",
        title="Requirements parse",
        proves="every requirement is a valid PEP 508 requirement (NAME, NAME==1.2, ...)",
        needs=("runtime.spec",),
    ),
    Check(
        id="requirements.satisfied",
        title="Requirements satisfiable",
        proves="the requirements are installed where the checks run, or else uv resolves "
        "them (WARN: not installed here; FAIL: no versions satisfy them; WARN: the index "
        "could not be reached)",
        needs=("requirements.parse",),
    ),
    Check(
        id="requirements.environment",
        title="Isolated environment",
        proves="when the requirements are not installed here and an environment cache is "
        "given, uv built (or reused) an environment that has them, and the checks ran in it",
        needs=("requirements.parse",),
        sandbox=True,
    ),
    Check(
        id="schema.valid",
        title="Schemas valid",
        proves="the input and output schemas (given, or input_schema.json / "
        "output_schema.json) are valid JSON Schema",
    ),
    Check(
        id="example.valid",
        title="Example input",
        proves="the example input (input_example.json; without one, the flavor's own where it "
        "has one: text_embedding) is valid JSON and matches the input schema",
    ),
    Check(
        id="files.references",
        title="Referenced files",
        proves="the bundle's Python files name no absolute paths (WARN) and no bundle file "
        "that is missing (FAIL)",
    ),
    Check(
        id="model_file.present",
        title="Model file present",
        proves="the model file the spec names is in the bundle",
        needs=("runtime.spec",),
    ),
    Check(
        id="model_file.format",
        title="Model file format",
        proves="the model file's bytes are in the format its name and flavor call for (a "
        "text file named model.onnx, a joblib pickle named model.pt FAIL)",
        needs=("model_file.present",),
    ),
    Check(
        id="model_file.safe",
        title="Safe format",
        proves="loading the model file runs no code stored in it (pickle-based formats WARN)",
        needs=("model_file.present",),
    ),
    Check(
        id="entry_point.imports",
        title="Entry point imports",
        proves="the entry point (score.py, Gesund's model.py) is present, parses and imports",
        needs=("runtime.spec",),
    ),
    Check(
        id="entry_point.signatures",
        title="Entry point functions",
        proves="score.py defines load_model() and predict(data, model=...); a Gesund "
        "model.py defines class GesundModel with predict(data)",
        needs=("entry_point.imports",),
    ),
    Check(
        id="model.loads",
        title="Model loads",
        proves="the model loads the way serving loads it (the entry point, else the flavor)",
        needs=("entry_point.signatures", "model_file.format"),
    ),
    Check(
        id="predict.example",
        title="Predicts on the example",
        proves="predicting on the example input succeeds and answers JSON",
        needs=("model.loads", "example.valid"),
    ),
    Check(
        id="predict.output_schema",
        title="Answer matches the output schema",
        proves="the answer to the example matches the output schema",
        needs=("predict.example", "schema.valid"),
    ),
)

_MEMORY_SIGNS = (
    "can't allocate memory",
    "unable to allocate",
    "failed to allocate memory",
    "bad_alloc",
    "bad allocation",
)


class CheckRun(Iterator[CheckResult]):
    """Runs the checks one at a time, yielding a result for every check of ``CHECKS`` (but the
    sandbox's own) in that order. After a check, what it learned is readable: ``spec`` (the
    runtime spec used), ``input_schema`` (inferred from the example) and ``output_schema``
    (inferred from the prediction on it)."""

    def __init__(
        self,
        bundle: Path,
        spec: RuntimeSpec | None = None,
        *,
        sha256: Mapping[str, str] | None = None,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        memory_mb: int | None = None,
    ) -> None:
        self.bundle = bundle.resolve()
        self.given_spec = spec
        self.spec: RuntimeSpec | None = None
        self.input_schema: dict[str, Any] | None = None
        self.output_schema: dict[str, Any] | None = None
        self._sha256 = dict(sha256 or {})
        self._declared_sha256: dict[str, str] = {}
        self._schemas: dict[str, tuple[str, Any]] = {}
        self._given_schemas = {"input": input_schema, "output": output_schema}
        self._memory_mb = memory_mb
        self._requirements: list[Requirement] = []
        self._example: tuple[str, Any] | None = None
        self._module: Any = None
        self._predictor: Any = None
        self._prediction: tuple[Any] | None = None
        self._results: dict[str, CheckResult] = {}
        self._steps = self._run()

    def __next__(self) -> CheckResult:
        return next(self._steps)

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> Iterator[CheckResult]:
        for check in CHECKS:
            if check.sandbox:
                continue
            blocked = self._blocked_by(check)
            start = time.monotonic()
            if blocked:
                status, message = CheckStatus.SKIP, f"not run: {', '.join(blocked)} failed"
            else:
                method: Callable[[], tuple[CheckStatus, str]] = getattr(
                    self, "_" + check.id.replace(".", "_")
                )
                try:
                    status, message = method()
                except Exception as exc:  # a bug of the check's own; report it, go on
                    status, message = CheckStatus.FAIL, f"the check itself failed: {_error(exc)}"
            result = CheckResult(
                id=check.id,
                status=status,
                message=message,
                duration_ms=round((time.monotonic() - start) * 1000),
            )
            self._results[check.id] = result
            yield result

    def _blocked_by(self, check: Check) -> list[str]:
        """The failed checks (directly, or through a skipped one) that ``check`` needs."""
        failed: list[str] = []
        for need in check.needs:
            result = self._results.get(need)
            if result is not None and result.status == CheckStatus.FAIL:
                failed.append(need)
            elif result is not None and result.status == CheckStatus.SKIP:
                upstream = next(c for c in CHECKS if c.id == need)
                failed += [f for f in self._blocked_by(upstream) if f not in failed]
        return failed

    # -- the checks ----------------------------------------------------------------------

    def _runtime_spec(self) -> tuple[CheckStatus, str]:
        try:
            declared = read_bundle(self.bundle)
        except RegistryError as exc:
            return CheckStatus.FAIL, exc.message
        self._declared_sha256 = declared.sha256
        if self.given_spec is not None:
            self.spec, source = completed(self.given_spec, self.bundle), "given"
        else:
            try:
                self.spec = detect(self.bundle)
            except RegistryError as exc:
                return CheckStatus.FAIL, "".join(f"{m}. " for m in self._misnamed()) + exc.message
            source = f"from {SPEC_FILE}" if declared.runtime else "detected from the files"
        spec = self.spec
        parts = [f"flavor {spec.flavor}"]
        if spec.model_file:
            parts.append(f"model file {spec.model_file}")
        if spec.entry_point:
            parts.append(f"entry point {spec.entry_point}")
        if spec.requirements:
            parts.append(f"{len(spec.requirements)} requirements")
        return CheckStatus.PASS, f"{', '.join(parts)} ({source})"

    def _files_sha256(self) -> tuple[CheckStatus, str]:
        declared = [(p, d, SPEC_FILE) for p, d in self._declared_sha256.items()]
        declared += [(p, d, "the registry") for p, d in self._sha256.items()]
        if not declared:
            return CheckStatus.SKIP, (
                f"no digests declared (a sha256: mapping in {SPEC_FILE} pins the files' bytes)"
            )
        problems = []
        for path, digest, source in declared:
            expected = digest.lower().removeprefix("sha256:")
            target = self._inside(path)
            if target is None or not target.is_file():
                problems.append(
                    f"{path}: {source} declares its SHA-256 but the file is not in the bundle; "
                    f"add it, or remove it from {source}"
                )
                continue
            actual = _sha256(target)
            if actual != expected:
                problems.append(
                    f"{path}: SHA-256 is {actual}, {source} declares {expected}; the file "
                    "changed after its digest was recorded: restore it, or record the new "
                    f"digest if the change is intended (prepare writes {SPEC_FILE} again)"
                )
        if problems:
            return CheckStatus.FAIL, "; ".join(problems)
        files = sorted({p for p, _, _ in declared})
        return CheckStatus.PASS, f"{len(files)} files match their declared SHA-256"

    def _python_version(self) -> tuple[CheckStatus, str]:
        assert self.spec is not None
        here = ".".join(map(str, sys.version_info[:3]))
        declared = (self.spec.python_version or "").strip()
        if not declared:
            return CheckStatus.SKIP, (
                f"no python version declared; it runs on Python {here} here "
                "(runtime.python_version pins one)"
            )
        fit = python_fit(declared)
        if fit == PythonFit.FITS:
            return CheckStatus.PASS, f"Python {here} runs it (declared: {declared})"
        if fit == PythonFit.INVALID:
            return CheckStatus.FAIL, (
                f"runtime.python_version {declared!r} is neither a version (3.11) nor a "
                "specifier (>=3.10); fix it"
            )
        if fit == PythonFit.INCOMPATIBLE:
            return CheckStatus.FAIL, (
                f"the bundle needs Python {declared}, but Python {here} runs it; make it run "
                f"on Python {here} and update runtime.python_version, or run modelyard on a "
                "matching interpreter"
            )
        return CheckStatus.WARN, (
            f"the bundle was made with Python {declared} and runs on Python {here}: pickled "
            "models and compiled packages may not load across versions; if the later checks "
            f"pass it works, else rebuild it on Python {here} (and update "
            "runtime.python_version)"
        )

    def _requirements_parse(self) -> tuple[CheckStatus, str]:
        assert self.spec is not None
        if not self.spec.requirements:
            return CheckStatus.SKIP, (
                "no requirements declared: the model runs with whatever is installed; list "
                "the packages it imports in requirements.txt"
            )
        problems = []
        for i, line in enumerate(self.spec.requirements):
            try:
                self._requirements.append(Requirement(line))
            except InvalidRequirement as exc:
                problems.append(f"{self._requirement_source(line, i)}: {line!r}: {exc}")
        if problems:
            return CheckStatus.FAIL, (
                "; ".join(problems) + "; write each as NAME, NAME==1.2 or NAME>=1.2 "
                "(PEP 508), one per line"
            )
        return CheckStatus.PASS, f"{len(self._requirements)} requirements parse"

    def _requirements_satisfied(self) -> tuple[CheckStatus, str]:
        if not self._requirements:
            return CheckStatus.SKIP, "no requirements to satisfy"
        missing = unsatisfied(self._requirements)
        if not missing:
            return CheckStatus.PASS, "every requirement is installed where the checks run"
        resolved = resolve([str(r) for r in self._requirements])
        if resolved.outcome == Resolution.UNSATISFIABLE:
            return CheckStatus.FAIL, (
                f"the requirements cannot be installed: {resolved.detail}. Fix the versions in "
                "requirements.txt (`pip index versions NAME` lists those that exist)"
            )
        if resolved.outcome == Resolution.UNCHECKED:
            return CheckStatus.WARN, (
                f"not installed here: {', '.join(missing)}; whether they can be installed "
                f"could not be checked ({resolved.detail})"
            )
        return CheckStatus.WARN, (
            f"not installed where the checks ran: {', '.join(missing)}; they resolve (uv pip "
            "compile), but the model was loaded without them: install them, or let the checks "
            "build an environment (modelyard verify --env-dir DIR; the server does)"
        )

    def _schema_valid(self) -> tuple[CheckStatus, str]:
        problems = []
        for kind, filename in (("input", INPUT_SCHEMA_FILE), ("output", OUTPUT_SCHEMA_FILE)):
            given = self._given_schemas[kind]
            if given is not None:
                schema, source = given, f"the version's {kind} schema"
            elif (self.bundle / filename).is_file():
                source = filename
                try:
                    schema = _read_json(self.bundle / filename)
                except ValueError as exc:
                    problems.append(f"{filename}: {exc}; fix the JSON")
                    continue
            else:
                continue
            errors = check_schema(schema)
            if errors:
                problems.append(f"{source}: {'; '.join(errors[:5])}")
                continue
            self._schemas[kind] = (source, schema)
        if problems:
            return CheckStatus.FAIL, (
                "; ".join(problems) + " (see https://json-schema.org/understanding-json-schema)"
            )
        if not self._schemas:
            return CheckStatus.SKIP, (
                f"no input or output schema ({INPUT_SCHEMA_FILE}, {OUTPUT_SCHEMA_FILE}); the "
                "checks infer both from the example and its prediction"
            )
        shown = " and ".join(source for source, _ in self._schemas.values())
        return CheckStatus.PASS, f"{shown} valid"

    def _example_valid(self) -> tuple[CheckStatus, str]:
        declared = self.spec.example if self.spec else None
        name = declared or EXAMPLE_FILE
        path = self._inside(name)
        if path is None or not path.is_file():
            if declared:
                return CheckStatus.FAIL, (
                    f"{declared} (runtime.example) is not in the bundle: add it, or fix "
                    "runtime.example"
                )
            if self._flavor_example() is not None:
                return self._use_flavor_example()
            return CheckStatus.SKIP, (
                f"no example input: add {EXAMPLE_FILE} holding one request's data (say, two "
                "rows) so the checks can predict and infer the schemas"
            )
        try:
            example = _read_json(path)
        except ValueError as exc:
            return CheckStatus.FAIL, f"{name}: {exc}; fix the JSON"
        self._example = (name, example)
        self.input_schema = infer_schema(example)
        if "input" not in self._schemas:
            return CheckStatus.PASS, f"{name} is valid JSON (no input schema to compare)"
        source, schema = self._schemas["input"]
        errors = validate(example, schema, root="example")
        if errors:
            return CheckStatus.FAIL, (
                f"{name} does not match {source}: {'; '.join(errors)}; fix the example or "
                "the schema"
            )
        return CheckStatus.PASS, f"{name} matches {source}"

    def _files_references(self) -> tuple[CheckStatus, str]:
        found = scan_references(self.bundle, bundle_files(self.bundle))
        if not found.scanned:
            return CheckStatus.SKIP, "no Python files in the bundle"
        if found.missing:
            return CheckStatus.FAIL, "; ".join(found.missing + found.absolute)
        if found.absolute:
            return CheckStatus.WARN, "; ".join(found.absolute)
        return CheckStatus.PASS, (
            f"{found.scanned} Python files name no absolute paths and no missing files"
        )

    def _model_file_present(self) -> tuple[CheckStatus, str]:
        assert self.spec is not None
        name = self.spec.model_file
        if not name:
            return CheckStatus.SKIP, "no model file named: the entry point loads the model itself"
        path = self._inside(name)
        if path is None:
            return CheckStatus.FAIL, (
                f"runtime.model_file {name!r} is not a relative path inside the bundle; name "
                "the model file by its path in the bundle"
            )
        if not path.exists():
            candidates = [
                f
                for f in bundle_files(self.bundle)
                if PurePosixPath(f).suffix.lower() in _MODEL_SUFFIXES
            ]
            found = f" (the bundle has {', '.join(candidates[:5])})" if candidates else ""
            return CheckStatus.FAIL, (
                f"{name} (runtime.model_file) is missing from the bundle{found}: add it, or "
                "set runtime.model_file in modelyard.yaml to the model file's path"
            )
        size = path.stat().st_size if path.is_file() else None
        return CheckStatus.PASS, f"{name} is present" + (
            f" ({_size(size)})" if size is not None else ""
        )

    def _model_file_format(self) -> tuple[CheckStatus, str]:
        spec = self.spec
        assert spec is not None
        path = self._inside(spec.model_file) if spec.model_file else None
        if path is None or not path.is_file():
            return CheckStatus.SKIP, "no model file to read"
        found = sniff(path)
        expected = expected_formats(spec.model_file or "", spec.flavor)
        name = spec.model_file
        if found.name in expected:
            return CheckStatus.PASS, f"{name} is {found.describe()}"
        if found.name == "unknown" or not expected:
            return CheckStatus.PASS, (f"{name} is {found.describe()}; the load check tries it")
        return CheckStatus.FAIL, (
            f"{name} is {found.describe()}, not {_described(expected)} as its name and the "
            f"{spec.flavor} flavor call for: {_format_hint(found, name)}"
        )

    def _model_file_safe(self) -> tuple[CheckStatus, str]:
        spec = self.spec
        assert spec is not None
        if not spec.model_file:
            return CheckStatus.SKIP, "no model file to judge"
        from modelyard.runtime.flavors import flavor

        warning = flavor(spec.flavor).unsafe_format(spec)
        if warning:
            return CheckStatus.WARN, warning
        path = self._inside(spec.model_file)
        found = sniff(path) if path is not None and path.is_file() else None
        if found is not None and found.pickled:
            return CheckStatus.WARN, (
                f"{spec.model_file} is {found.describe()}: loading it runs code stored in the "
                "file. Load it only from people you trust, or save the model in a format that "
                "stores no code (skops, ONNX, TorchScript, .keras)"
            )
        return CheckStatus.PASS, f"loading {spec.model_file} runs no code stored in it"

    def _entry_point_imports(self) -> tuple[CheckStatus, str]:
        entry = self._entry_point()
        if entry is None:
            return CheckStatus.SKIP, f"no entry point: the {self._flavor()} flavor loads the model"
        path = self._inside(entry)
        if path is None or not path.is_file():
            return CheckStatus.FAIL, (
                f"{entry} (the entry point) is missing from the bundle: add it, or remove "
                "runtime.entry_point"
            )
        try:
            compile(path.read_bytes(), entry, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return CheckStatus.FAIL, _syntax_error(exc, entry, self.bundle)
        except ValueError as exc:  # null bytes
            return CheckStatus.FAIL, f"{entry} is not Python source ({exc})"
        try:
            with bundle_code(self.bundle) as code:
                self._module = code.import_file(entry)
        except RegistryError as exc:
            return CheckStatus.FAIL, exc.message
        except SyntaxError as exc:  # in a module the entry point imports
            return CheckStatus.FAIL, _syntax_error(exc, entry, self.bundle)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            return CheckStatus.FAIL, (
                f"importing {entry} failed: {self._failure(exc, _import_hint(exc))}"
            )
        return CheckStatus.PASS, f"{entry} imports"

    def _entry_point_signatures(self) -> tuple[CheckStatus, str]:
        entry = self._entry_point()
        if entry is None:
            return CheckStatus.SKIP, "no entry point"
        if self._flavor() == Flavor.GESUND and not (self.spec and self.spec.entry_point):
            return gesund_signatures(self._module, entry)
        return score_signatures(self._module, entry)

    def _model_loads(self) -> tuple[CheckStatus, str]:
        assert self.spec is not None
        from modelyard.runtime.predictor import load_predictor

        how = (
            f"{self.spec.entry_point}'s load_model()"
            if self.spec.entry_point
            else f"the {self.spec.flavor} flavor"
        )
        try:
            self._predictor = load_predictor(self.bundle, self.spec)
        except RegistryError as exc:
            return CheckStatus.FAIL, f"loading the model failed: {exc.message}"
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            return CheckStatus.FAIL, (
                f"loading the model with {how} failed: {self._failure(exc, _load_hint(exc))}"
            )
        return CheckStatus.PASS, f"{how} loaded the model"

    def _predict_example(self) -> tuple[CheckStatus, str]:
        if self._example is None:
            return CheckStatus.SKIP, f"no example input to predict on (add {EXAMPLE_FILE})"
        name, example = self._example
        try:
            answer = self._predictor.predict(example)
        except RegistryError as exc:
            return CheckStatus.FAIL, f"predicting on {name} failed: {exc.message}"
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            return CheckStatus.FAIL, (
                f"predicting on {name} failed: "
                + self._failure(exc, "make predict accept the example (or fix the example)")
            )
        try:
            json.dumps(answer, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return CheckStatus.FAIL, (
                f"the answer to {name} is not JSON ({exc}); return lists, numbers, strings "
                "and objects (numpy arrays: .tolist())"
            )
        self._prediction = (answer,)
        self.output_schema = self._predictor.output_schema(answer) or infer_schema(answer)
        return CheckStatus.PASS, f"predicted on {name}: {_shape(answer)}"

    def _predict_output_schema(self) -> tuple[CheckStatus, str]:
        if self._prediction is None:
            return CheckStatus.SKIP, "no prediction to compare"
        if "output" not in self._schemas:
            return CheckStatus.SKIP, (
                "no output schema to compare with (one is inferred from this prediction)"
            )
        source, schema = self._schemas["output"]
        errors = validate(self._prediction[0], schema, root="output")
        if errors:
            return CheckStatus.FAIL, (
                f"the answer does not match {source}: {'; '.join(errors)}; make predict "
                "answer in that shape, or fix the schema"
            )
        return CheckStatus.PASS, f"the answer matches {source}"

    # -- helpers -------------------------------------------------------------------------

    def _inside(self, relpath: str) -> Path | None:
        """``relpath`` under the bundle, or None when it is absolute or leaves the bundle."""
        if PurePosixPath(relpath).is_absolute() or re.match(r"^[A-Za-z]:[\\/]", relpath):
            return None
        path = (self.bundle / relpath).resolve()
        return path if path.is_relative_to(self.bundle) else None

    def _misnamed(self) -> list[str]:
        """Files whose suffix promises a model format their bytes are not in (why detection,
        which reads the bytes, found no model)."""
        found = []
        for name in bundle_files(self.bundle):
            wanted = suffix_formats(name)
            fmt = sniff(self.bundle / name) if wanted else None
            if fmt is not None and fmt.name not in wanted:
                found.append(
                    f"{name} is {fmt.describe()}, not {_described(wanted)}: "
                    + _format_hint(fmt, name)
                )
        return found[:5]

    def _flavor_example(self) -> Any:
        """The flavor's own example input, for a bundle without one and an entry point."""
        if self.spec is None or self.spec.entry_point:
            return None
        from modelyard.runtime.flavors import flavor

        return flavor(self.spec.flavor).example

    def _use_flavor_example(self) -> tuple[CheckStatus, str]:
        example = self._flavor_example()
        name = f"the {self._flavor()} flavor's example"
        # no input schema is inferred from it: serving would then refuse the flavor's other
        # input forms, which the flavor checks itself
        self._example = (name, example)
        if "input" in self._schemas:
            source, schema = self._schemas["input"]
            errors = validate(example, schema, root="example")
            if errors:
                return CheckStatus.FAIL, (
                    f"{name} ({json.dumps(example)}) does not match {source}: "
                    f"{'; '.join(errors)}; fix the schema, or add {EXAMPLE_FILE}"
                )
        return CheckStatus.PASS, (f"no {EXAMPLE_FILE}: predicting on {name}, {json.dumps(example)}")

    def _entry_point(self) -> str | None:
        if self.spec is None:
            return None
        if self.spec.entry_point:
            return self.spec.entry_point
        return GESUND_FILE if self.spec.flavor == Flavor.GESUND else None

    def _flavor(self) -> str:
        return str(self.spec.flavor) if self.spec else "?"

    def _requirement_source(self, line: str, index: int) -> str:
        for name in REQUIREMENTS_FILES:
            path = self.bundle / name
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
                for number, raw in enumerate(text, 1):
                    if raw.split(" #", 1)[0].strip() == line:
                        return f"{name} line {number}"
        return f"requirements[{index}]"

    def _failure(self, exc: BaseException, hint: str) -> str:
        """An exception in words: its type and message, where in the bundle it happened, and
        what to do (``hint``, unless it was the memory limit)."""
        text = _error(exc)
        where = _bundle_frame(exc, self.bundle)
        if where:
            text += f" ({where})"
        if not _out_of_memory(exc):
            return f"{text}; {hint}"
        limit = (
            f"exceeded the memory limit of {self._memory_mb} MiB"
            if self._memory_mb
            else "ran out of memory"
        )
        return f"{limit}: {text}; give it more memory (--memory-mb) or make it use less"


def run_checks(
    bundle: Path,
    spec: RuntimeSpec | None = None,
    *,
    sha256: Mapping[str, str] | None = None,
    input_schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    memory_mb: int | None = None,
) -> CheckRun:
    """Run the checks on the bundle directory ``bundle`` in this process (a worker's).

    ``spec`` is the runtime spec to check with (None: detected); ``sha256`` maps relative
    paths to the digests the registry holds; the schemas are the version's (None: the
    bundle's ``input_schema.json``/``output_schema.json``, if any); ``memory_mb`` is the limit
    the caller set, named when the model runs out of memory. Yields one result per check.
    """
    return CheckRun(
        bundle,
        spec,
        sha256=sha256,
        input_schema=input_schema,
        output_schema=output_schema,
        memory_mb=memory_mb,
    )


# -- messages -------------------------------------------------------------------------------

_MODEL_SUFFIXES = {
    ".onnx", ".pt", ".pth", ".joblib", ".pkl", ".pickle", ".skops", ".keras", ".h5", ".bin",
    ".safetensors", ".ckpt",
}  # fmt: skip


def _described(formats: frozenset[str]) -> str:
    return " or ".join(sorted({DESCRIPTIONS[f] for f in formats}))


def _format_hint(found: FileFormat, name: str) -> str:
    if found.name == "lfs-pointer":
        return "the real file was never fetched: run `git lfs pull` and add the model itself"
    if found.name == "html":
        return "a download saved an error or login page instead of the model; download it again"
    if found.name in ("text", "empty"):
        return f"replace {name} with the saved model"
    stored = found.stored_as()
    if stored:
        return f"register it as {stored}, or replace it with a model in the expected format"
    return f"replace {name} with the saved model"


def _syntax_error(exc: SyntaxError, entry: str, bundle: Path) -> str:
    filename = exc.filename or entry
    with contextlib.suppress(ValueError):
        filename = Path(filename).resolve().relative_to(bundle).as_posix()
    where = f"{filename} line {exc.lineno}"
    if exc.offset:
        where += f", column {exc.offset}"
    text = f": {exc.text.strip()!r}" if exc.text and exc.text.strip() else ""
    return (
        f"{where}: {type(exc).__name__}: {exc.msg}{text}; fix the code "
        f"(`python -m py_compile {filename}` shows the same)"
    )


def _import_hint(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"add the package that provides {exc.name!r} to requirements.txt"
    return "fix the code that runs when the module is imported"


def _load_hint(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"add the package that provides {exc.name!r} to requirements.txt"
    if isinstance(exc, FileNotFoundError):
        return (
            "the file is not where the code looks: add it to the bundle and build its path "
            "from os.path.dirname(__file__)"
        )
    return "fix the loading code or the model file"


def _error(exc: BaseException) -> str:
    text = str(exc).strip()
    if len(text) > 500:
        text = text[:497] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _bundle_frame(exc: BaseException, bundle: Path) -> str | None:
    """``score.py line 9, in load_model``: the last frame of the traceback in the bundle."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            relative = Path(frame.filename).resolve().relative_to(bundle)
        except (ValueError, OSError):
            continue
        found = f"{relative.as_posix()} line {frame.lineno}, in {frame.name}"
    return found


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return any(sign in text for sign in _MEMORY_SIGNS)


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        keys = ", ".join(list(map(str, value))[:8])
        return f"an object with {keys or 'no keys'}"
    return f"a {type(value).__name__}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
