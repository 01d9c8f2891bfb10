"""Resumable upload sessions and dedup before transfer, for version files and model files.

``POST .../uploads`` starts a session, ``GET .../uploads?path=`` lists the caller's open ones
(to resume from another process), ``PUT .../uploads/{id}`` sends one byte range
(``Content-Range: bytes a-b/size``, raw body), ``GET`` tells which ranges arrived,
``POST .../finish`` commits the file, ``DELETE`` aborts. ``POST .../files:dedup`` registers a
file from a blob the server already holds, without any bytes.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from modelyard.api import schemas as s
from modelyard.api.deps import Caller, CallerDep
from modelyard.api.routes.files import client_gone
from modelyard.api.streaming import pour
from modelyard.domain.uploads import (
    CHUNK_SIZE_HINT,
    Chunk,
    UploadSession,
    UploadSessions,
    register_by_digest,
)
from modelyard.errors import FailedPrecondition, InvalidArgument

router = APIRouter(prefix="/api/v1/models/{namespace}/{model}", tags=["uploads"])

_CONTENT_RANGE = re.compile(r"^bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)$")


def get_uploads(request: Request) -> UploadSessions:
    uploads: UploadSessions | None = request.app.state.uploads
    if uploads is None:
        raise FailedPrecondition(
            "upload sessions are not enabled on this server; PUT the file in one request"
        )
    return uploads


UploadsDep = Annotated[UploadSessions, Depends(get_uploads)]


def _out(session: UploadSession) -> s.UploadOut:
    return s.UploadOut.from_entity(session, CHUNK_SIZE_HINT)


def _content_range(header: str | None) -> tuple[int, int, int | None]:
    """``bytes a-b/size`` -> (a, b + 1, size or None for ``*``)."""
    match = _CONTENT_RANGE.match((header or "").strip())
    if match is None or int(match[1]) > int(match[2]):
        raise InvalidArgument(
            f"Content-Range: expected 'bytes <first>-<last>/<size>', got {header!r}",
            field="Content-Range",
        )
    total = None if match[3] == "*" else int(match[3])
    return int(match[1]), int(match[2]) + 1, total


async def _start(
    caller: Caller,
    uploads: UploadSessions,
    ns: str,
    model: str,
    ver: str | None,
    body: s.UploadStart,
) -> s.UploadOut:
    session = await caller(uploads.start, ns, model, ver, **body.model_dump())
    return _out(session)


async def _list(
    caller: Caller, uploads: UploadSessions, ns: str, model: str, ver: str | None, path: str | None
) -> s.UploadList:
    sessions = await caller(uploads.list_open, ns, model, ver, path=path)
    return s.UploadList(uploads=[_out(session) for session in sessions])


PathQuery = Annotated[str | None, Query(description="Only sessions of this file path")]


async def _put(
    request: Request,
    caller: Caller,
    uploads: UploadSessions,
    ns: str,
    model: str,
    ver: str | None,
    upload_id: str,
) -> s.UploadOut | Response:
    start, end, total = _content_range(request.headers.get("content-range"))
    chunk = await caller(
        uploads.begin_chunk, ns, model, ver, upload_id, start=start, end=end, total=total
    )
    session = await receive_chunk(request, chunk)
    return session if isinstance(session, Response) else _out(session)


async def receive_chunk(request: Request, chunk: Chunk) -> UploadSession | Response:
    """Pour the request's body into ``chunk`` and record it; the 499 answer when the client
    went away first (the range is not recorded: the client sends it again)."""
    try:
        await pour(request, chunk.write)
        return await run_in_threadpool(chunk.finish)
    except ClientDisconnect:
        chunk.abort()
        return client_gone(request)
    except BaseException:
        chunk.abort()
        raise


async def _get(
    caller: Caller, uploads: UploadSessions, ns: str, model: str, ver: str | None, upload_id: str
) -> s.UploadOut:
    return _out(await caller(uploads.get, ns, model, ver, upload_id))


async def _finish(
    caller: Caller, uploads: UploadSessions, ns: str, model: str, ver: str | None, upload_id: str
) -> s.FileOut:
    return s.FileOut.from_entity(await caller(uploads.finish, ns, model, ver, upload_id))


async def _abort(
    caller: Caller, uploads: UploadSessions, ns: str, model: str, ver: str | None, upload_id: str
) -> Response:
    await caller(uploads.abort, ns, model, ver, upload_id)
    return Response(status_code=204)


async def _dedup(
    caller: Caller, ns: str, model: str, ver: str | None, body: s.DedupFile
) -> s.FileOut:
    register = partial(register_by_digest, caller.service)
    entry = await caller(register, ns, model, ver, **body.model_dump())
    return s.FileOut.from_entity(entry)


# -- version files ------------------------------------------------------------------------

V = "/versions/{version}"


@router.post(V + "/uploads", status_code=201, response_model=s.UploadOut)
async def start_version_upload(
    namespace: str,
    model: str,
    version: str,
    body: s.UploadStart,
    caller: CallerDep,
    uploads: UploadsDep,
) -> s.UploadOut:
    """Start a resumable upload of one file of a PENDING version."""
    return await _start(caller, uploads, namespace, model, version, body)


@router.get(V + "/uploads", response_model=s.UploadList)
async def list_version_uploads(
    namespace: str,
    model: str,
    version: str,
    caller: CallerDep,
    uploads: UploadsDep,
    path: PathQuery = None,
) -> s.UploadList:
    """The caller's open sessions on this version (of one file with ``?path=``), to resume."""
    return await _list(caller, uploads, namespace, model, version, path)


@router.get(V + "/uploads/{upload_id}", response_model=s.UploadOut)
async def get_version_upload(
    namespace: str, model: str, version: str, upload_id: str, caller: CallerDep, uploads: UploadsDep
) -> s.UploadOut:
    """The session, with the byte ranges received so far (to resume)."""
    return await _get(caller, uploads, namespace, model, version, upload_id)


@router.put(V + "/uploads/{upload_id}", response_model=s.UploadOut)
async def put_version_upload_chunk(
    request: Request,
    namespace: str,
    model: str,
    version: str,
    upload_id: str,
    caller: CallerDep,
    uploads: UploadsDep,
) -> s.UploadOut | Response:
    """Store one byte range (``Content-Range: bytes a-b/size``, raw body), streamed."""
    return await _put(request, caller, uploads, namespace, model, version, upload_id)


@router.post(V + "/uploads/{upload_id}/finish", status_code=201, response_model=s.FileOut)
async def finish_version_upload(
    namespace: str, model: str, version: str, upload_id: str, caller: CallerDep, uploads: UploadsDep
) -> s.FileOut:
    """Verify that every byte arrived (and the size and SHA-256), then commit the file."""
    return await _finish(caller, uploads, namespace, model, version, upload_id)


@router.delete(V + "/uploads/{upload_id}", status_code=204, response_class=Response)
async def abort_version_upload(
    namespace: str, model: str, version: str, upload_id: str, caller: CallerDep, uploads: UploadsDep
) -> Response:
    return await _abort(caller, uploads, namespace, model, version, upload_id)


@router.post(V + "/files:dedup", status_code=201, response_model=s.FileOut)
async def dedup_version_file(
    namespace: str, model: str, version: str, body: s.DedupFile, caller: CallerDep
) -> s.FileOut:
    """Register a file by SHA-256 from a blob the server holds; 404 FILE_NOT_FOUND if none."""
    return await _dedup(caller, namespace, model, version, body)


# -- model files --------------------------------------------------------------------------


@router.post("/uploads", status_code=201, response_model=s.UploadOut)
async def start_model_upload(
    namespace: str, model: str, body: s.UploadStart, caller: CallerDep, uploads: UploadsDep
) -> s.UploadOut:
    return await _start(caller, uploads, namespace, model, None, body)


@router.get("/uploads", response_model=s.UploadList)
async def list_model_uploads(
    namespace: str, model: str, caller: CallerDep, uploads: UploadsDep, path: PathQuery = None
) -> s.UploadList:
    return await _list(caller, uploads, namespace, model, None, path)


@router.get("/uploads/{upload_id}", response_model=s.UploadOut)
async def get_model_upload(
    namespace: str, model: str, upload_id: str, caller: CallerDep, uploads: UploadsDep
) -> s.UploadOut:
    return await _get(caller, uploads, namespace, model, None, upload_id)


@router.put("/uploads/{upload_id}", response_model=s.UploadOut)
async def put_model_upload_chunk(
    request: Request,
    namespace: str,
    model: str,
    upload_id: str,
    caller: CallerDep,
    uploads: UploadsDep,
) -> s.UploadOut | Response:
    return await _put(request, caller, uploads, namespace, model, None, upload_id)


@router.post("/uploads/{upload_id}/finish", status_code=201, response_model=s.FileOut)
async def finish_model_upload(
    namespace: str, model: str, upload_id: str, caller: CallerDep, uploads: UploadsDep
) -> s.FileOut:
    return await _finish(caller, uploads, namespace, model, None, upload_id)


@router.delete("/uploads/{upload_id}", status_code=204, response_class=Response)
async def abort_model_upload(
    namespace: str, model: str, upload_id: str, caller: CallerDep, uploads: UploadsDep
) -> Response:
    return await _abort(caller, uploads, namespace, model, None, upload_id)


@router.post("/files:dedup", status_code=201, response_model=s.FileOut)
async def dedup_model_file(
    namespace: str, model: str, body: s.DedupFile, caller: CallerDep
) -> s.FileOut:
    return await _dedup(caller, namespace, model, None, body)
