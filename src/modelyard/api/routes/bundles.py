"""A version's files as one zip: ``PUT .../versions/{version}/bundle`` uploads one (its members
become the version's files), ``GET`` streams the version back as a zip.

The rules (what a member may be, the limits, the manifest) are in
:mod:`modelyard.domain.bundles`; these handlers only move bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import IO, Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelyard.api import schemas as s
from modelyard.api.deps import Caller, CallerDep
from modelyard.api.routes.files import content_disposition
from modelyard.api.streaming import pour
from modelyard.domain.bundles import Bundles
from modelyard.domain.gesund import ArtifactProps
from modelyard.errors import InvalidArgument

router = APIRouter(prefix="/api/v1/models/{namespace}/{model}/versions/{version}", tags=["bundles"])
T = TypeVar("T")


def get_bundles(request: Request) -> Bundles:
    return request.app.state.bundles


BundlesDep = Annotated[Bundles, Depends(get_bundles)]


@router.put("/bundle", status_code=201, response_model=s.FileList)
async def upload_bundle(
    request: Request,
    namespace: str,
    model: str,
    version: str,
    caller: CallerDep,
    bundles: BundlesDep,
    model_type: Annotated[
        str | None,
        Query(
            description="Gesund's artifact props: the model type (classification, "
            "object-detection, segmentation), the version's task."
        ),
    ] = None,
    framework: Annotated[
        str | None,
        Query(description="Gesund's framework (tensorflow, keras, onnx, pytorch)."),
    ] = None,
    include_model_files: Annotated[
        bool | None,
        Query(description="Whether the zip holds the model file (default true)."),
    ] = None,
) -> s.FileList:
    """Store every file member of the zip sent as the raw body as a file of a PENDING version;
    a refused zip (unsafe or too large member) stores nothing. With Gesund's artifact props
    (``model_type`` and ``framework``) the version gets their task and framework and the
    gesund runtime; the path's namespace is the Gesund namespace."""
    props = ArtifactProps.parse(
        model_type=model_type, framework=framework, include_model_files=include_model_files
    )
    entries = await received_zip(
        request,
        caller,
        bundles,
        (namespace, model, version),
        lambda zip_file: caller(bundles.upload, namespace, model, version, zip_file, props=props),
    )
    return s.FileList(files=[s.FileOut.from_entity(e) for e in entries])


async def received_zip(
    request: Request,
    caller: Caller,
    bundles: Bundles,
    target: tuple[str, str, str],
    store: Callable[[IO[bytes]], Awaitable[T]],
) -> T:
    """Spool the zip sent as the raw body and ``store`` it (the bundle upload here, and the
    OCI dialect's artifact upload). The caller's right to write the version ``target``
    (namespace, model, version) is checked first: a refusal should not wait for the whole
    body."""
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise InvalidArgument("Content-Length: expected a byte count", field="Content-Length")
    await caller(caller.service.file_target, *target, write=True)
    spool = await run_in_threadpool(bundles.spool, int(length) if length else None)
    try:
        await pour(request, spool.write)
        return await store(spool.file)
    finally:
        await run_in_threadpool(spool.close)


@router.get("/bundle", response_class=StreamingResponse)
async def download_bundle(
    namespace: str, model: str, version: str, caller: CallerDep, bundles: BundlesDep
) -> StreamingResponse:
    """The version's stored files and ``modelyard-manifest.json`` as a zip, streamed."""
    bundle = await caller(bundles.download, namespace, model, version)
    return StreamingResponse(
        bundle.chunks,
        media_type="application/zip",
        headers={"Content-Disposition": content_disposition(bundle.filename)},
    )
