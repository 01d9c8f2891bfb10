"""A version's files as one zip: ``PUT .../versions/{version}/bundle`` uploads one (its members
become the version's files), ``GET`` streams the version back as a zip.

The rules (what a member may be, the limits, the manifest) are in
:mod:`modelyard.domain.bundles`; these handlers only move bytes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep
from modelyard.api.routes.files import content_disposition
from modelyard.api.streaming import pour
from modelyard.domain.bundles import Bundles
from modelyard.errors import InvalidArgument

router = APIRouter(prefix="/api/v1/models/{namespace}/{model}/versions/{version}", tags=["bundles"])


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
) -> s.FileList:
    """Store every file member of the zip sent as the raw body as a file of a PENDING version;
    a refused zip (unsafe or too large member) stores nothing."""
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise InvalidArgument("Content-Length: expected a byte count", field="Content-Length")
    # Permissions and state first: a refusal should not wait for the whole body.
    await caller(caller.service.file_target, namespace, model, version, write=True)
    spool = await run_in_threadpool(bundles.spool, int(length) if length else None)
    try:
        await pour(request, spool.write)
        entries = await caller(bundles.upload, namespace, model, version, spool.file)
    finally:
        await run_in_threadpool(spool.close)
    return s.FileList(files=[s.FileOut.from_entity(e) for e in entries])


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
