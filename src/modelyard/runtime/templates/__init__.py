"""Bundle templates: a runnable bundle per task x framework x architecture, minus the model.

``generate(task, framework, architecture)`` returns the files of a bundle that passes every
check once the model file its README names is dropped in: a self-contained ``score.py``
(ADS convention, importing only numpy and the framework), ``model.py`` for a named pytorch
architecture, ``requirements.txt``, ``modelyard.yaml`` (the runtime spec),
``input_example.json``, ``input_schema.json``, ``output_schema.json`` and ``README.md``.
With ``style="gesund"`` the same code comes in Gesund's layout (``templates.gesund``).
``catalog()`` lists what is offered. Generating is text only: nothing here imports a
framework, so the API server serves templates too (``GET /api/v1/templates``).
"""

from __future__ import annotations

import io
import json
import zipfile

import yaml
from pydantic import BaseModel, ConfigDict

from modelyard.domain.runtime import RuntimeSpec
from modelyard.runtime.bundle import (
    EXAMPLE_FILE,
    INPUT_SCHEMA_FILE,
    OUTPUT_SCHEMA_FILE,
    REQUIREMENTS_FILE,
    SCORE_FILE,
    SPEC_FILE,
)
from modelyard.runtime.templates.catalog import (
    DEFAULT,
    TEMPLATES,
    Architecture,
    Framework,
    Layout,
    Style,
    Task,
    Template,
    choice,
    find,
)
from modelyard.runtime.templates.contracts import example, input_schema, output_schema
from modelyard.runtime.templates.gesund import find_gesund, gesund_files, gesund_spec
from modelyard.runtime.templates.networks import model_py
from modelyard.runtime.templates.readme import readme
from modelyard.runtime.templates.scripts import score_py, tunables

__all__ = [
    "DEFAULT",
    "REQUIREMENTS",
    "Architecture",
    "Catalog",
    "Framework",
    "Layout",
    "Style",
    "Task",
    "Template",
    "as_zip",
    "catalog",
    "generate",
    "spec",
]

PYTHON_VERSION = ">=3.10"

#: The packages score.py imports, with the ranges the templates are tested within.
REQUIREMENTS = {
    Framework.SKLEARN: ["scikit-learn>=1.4,<2", "skops>=0.10,<1", "numpy>=1.26,<3"],
    Framework.ONNX: ["onnxruntime>=1.18,<2", "numpy>=1.26,<3"],
    Framework.PYTORCH: ["torch>=2.4,<3", "numpy>=1.26,<3"],
    Framework.KERAS: ["keras>=3.3,<4", "torch>=2.4,<3", "numpy>=1.26,<3"],
    Framework.PYTHON: ["numpy>=1.26,<3"],
}

#: Members of a zip get this time, so the same template always zips to the same bytes.
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


class Catalog(BaseModel):
    """Everything offered, for a UI's cascading selects: task → framework → architecture."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: list[Task]
    frameworks: list[Framework]
    templates: list[Template]


def catalog() -> Catalog:
    return Catalog(tasks=list(Task), frameworks=list(Framework), templates=list(TEMPLATES))


def spec(template: Template, arch: Architecture) -> RuntimeSpec:
    """The runtime spec a template's modelyard.yaml declares. Its requirements are those of
    requirements.txt, which detection reads (one list to edit, not two)."""
    return RuntimeSpec(
        flavor=arch.flavor,
        model_file=arch.model_file,
        entry_point=SCORE_FILE,
        model_class=arch.model_class,
        python_version=PYTHON_VERSION,
        example=EXAMPLE_FILE,
    )


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


def _spec_yaml(runtime: RuntimeSpec) -> bytes:
    """modelyard.yaml as ``runtime.bundle.write_bundle`` writes it, with a comment on top."""
    doc = {"runtime": runtime.model_dump(mode="json", exclude_none=True, exclude_defaults=True)}
    comment = "# The runtime spec: how modelyard loads this bundle and predicts (see README.md).\n"
    return (comment + yaml.safe_dump(doc, sort_keys=False)).encode()


def generate(
    task: str, framework: str, architecture: str | None = None, style: str = Style.MODELYARD
) -> dict[str, bytes]:
    """The files of the bundle, by relative path. Raises InvalidArgument (naming ``task``,
    ``framework``, ``architecture`` or ``style``, and listing what is offered) for anything
    not offered."""
    template, arch = find(task, framework, architecture)
    command = f"modelyard template --task {template.task} --framework {template.framework}"
    if arch.name != DEFAULT:
        command += f" --architecture {arch.name}"
    if choice(Style, style, "style") == Style.GESUND:
        return _gesund(template, arch, command + " --style gesund")
    sklearn = template.framework == Framework.SKLEARN
    runtime = spec(template, arch)
    score = score_py(template.task, template.framework, arch)
    files = {
        SCORE_FILE: score.encode(),
        REQUIREMENTS_FILE: ("\n".join(REQUIREMENTS[template.framework]) + "\n").encode(),
        SPEC_FILE: _spec_yaml(runtime),
        EXAMPLE_FILE: _json(example(arch.input)),
        INPUT_SCHEMA_FILE: _json(input_schema(arch.input)),
        OUTPUT_SCHEMA_FILE: _json(output_schema(template.task, sklearn=sklearn)),
        "README.md": readme(
            template.task, template.framework, arch, command, tunables(score)
        ).encode(),
    }
    if arch.model_class:
        files["model.py"] = model_py(template.task, arch).encode()
    return files


def _gesund(template: Template, arch: Architecture, command: str) -> dict[str, bytes]:
    find_gesund(template, arch)
    text = gesund_files(template, arch, REQUIREMENTS[template.framework], command)
    files = {path: content.encode() for path, content in text.items()}
    files[SPEC_FILE] = _spec_yaml(gesund_spec(arch, PYTHON_VERSION))
    files[EXAMPLE_FILE] = _json(example(arch.input))
    return files


def as_zip(files: dict[str, bytes]) -> bytes:
    """The files as one zip, members sorted and dated alike (same files, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[path])
    return buffer.getvalue()
