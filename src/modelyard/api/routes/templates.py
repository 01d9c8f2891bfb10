"""Bundle templates over HTTP: ``GET /api/v1/templates?task=&framework=&architecture=&style=``
answers the zip that ``modelyard template`` writes as a directory; ``GET /api/v1/templates/catalog``
lists what is offered (task → framework → architecture, for a UI's cascading selects).

Generating a template is text only (no framework is imported, no model code runs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from modelyard.api.deps import get_caller
from modelyard.api.routes.files import content_disposition
from modelyard.runtime.templates import (
    DEFAULT,
    Catalog,
    Framework,
    Style,
    Task,
    as_zip,
    catalog,
    generate,
)

router = APIRouter(
    prefix="/api/v1/templates", tags=["templates"], dependencies=[Depends(get_caller)]
)


TaskQuery = Annotated[str, Query(description=f"One of {', '.join(t.value for t in Task)}.")]
FrameworkQuery = Annotated[
    str, Query(description=f"One of {', '.join(f.value for f in Framework)}.")
]
ArchitectureQuery = Annotated[
    str | None,
    Query(
        description="A network the catalog offers for the task and framework; 'default' if absent."
    ),
]


StyleQuery = Annotated[
    str,
    Query(
        description="modelyard (score.py) or gesund (Gesund's model.py, preprocess.py, "
        "postprocess.py, schema.py, loss.py, reqs.txt)."
    ),
]


@router.get("", response_class=Response, responses={200: {"content": {"application/zip": {}}}})
async def download_template(
    task: TaskQuery,
    framework: FrameworkQuery,
    architecture: ArchitectureQuery = None,
    style: StyleQuery = Style.MODELYARD,
) -> Response:
    """The template bundle as a zip (members at its top level, the same bytes every time)."""
    files = generate(task, framework, architecture, style)
    suffix = "" if style == Style.MODELYARD else f"-{style}"
    name = f"{task}-{framework}-{architecture or DEFAULT}{suffix}.zip"
    return Response(
        as_zip(files),
        media_type="application/zip",
        headers={"Content-Disposition": content_disposition(name)},
    )


@router.get("/catalog", response_model=Catalog)
async def template_catalog() -> Catalog:
    """Every task, framework and architecture offered, with each architecture's model file
    and flavor."""
    return catalog()
