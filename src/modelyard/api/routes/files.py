"""Files of a model or of a version: streamed upload, listing, ranged download, tracking.

The same four operations are mounted twice, under ``/models/{ns}/{model}/files`` and
``/models/{ns}/{model}/versions/{version}/files``; the handlers differ only in the version.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from modelyard.api import schemas as s
from modelyard.api.deps import Caller, CallerDep
from modelyard.api.errors import problem
from modelyard.api.streaming import pour
from modelyard.domain.enums import FileStorage, FileType
from modelyard.domain.service import TrackedFileInput
from modelyard.errors import ErrorCode, InvalidArgument

router = APIRouter(prefix="/api/v1/models/{namespace}/{model}", tags=["files"])
log = logging.getLogger(__name__)

#: The status of a request whose client went away (nginx's 499); no one receives it.
CLIENT_CLOSED = 499

Sha256Query = Annotated[
    str | None, Query(description="Expected SHA-256 (hex or 'sha256:<hex>'); verified")
]
MimeQuery = Annotated[str | None, Query(description="MIME type; guessed from the path if absent")]
FileTypeQuery = Annotated[FileType | None, Query(description="File kind; guessed if absent")]


async def _upload(
    request: Request,
    caller: Caller,
    namespace: str,
    model: str,
    version: str | None,
    path: str,
    sha256: str | None,
    mime_type: str | None,
    file_type: FileType | None,
) -> s.FileOut | Response:
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise InvalidArgument("Content-Length: expected a byte count", field="Content-Length")
    target = await caller(caller.service.file_target, namespace, model, version, write=True)
    upload = caller.service.begin_upload(
        target,
        path,
        sha256=sha256,
        size=int(length) if length is not None else None,
        mime_type=mime_type,
        file_type=file_type,
    )
    try:
        await pour(request, upload.write)
        entry = await run_in_threadpool(upload.finish)
    except ClientDisconnect:
        upload.abort()
        return client_gone(request)
    except BaseException:
        upload.abort()
        raise
    return s.FileOut.from_entity(entry)


def client_gone(request: Request) -> Response:
    """End a request whose client disconnected mid-body, once its write is aborted: a network
    failure, not a server error, so one info line and no traceback."""
    log.info(
        "client disconnected during %s %s; nothing was stored", request.method, request.url.path
    )
    return Response(status_code=CLIENT_CLOSED)


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name (headers are Latin-1 only)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def _download(
    request: Request, caller: Caller, namespace: str, model: str, version: str | None, path: str
) -> Response:
    entry = await caller(caller.service.get_file, namespace, model, version, path)
    if entry.storage == FileStorage.TRACKED:
        if entry.uri and entry.uri.startswith(("http://", "https://")):
            return RedirectResponse(entry.uri, status_code=307)
        return problem(
            request,
            409,
            str(ErrorCode.FAILED_PRECONDITION),
            f"file {entry.path} is tracked, not stored: fetch it from {entry.uri}",
            extra={"uri": entry.uri},
        )
    size = entry.size or 0
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{entry.sha256}"',
        "Content-Disposition": content_disposition(entry.path.rsplit("/", 1)[-1]),
        "X-Checksum-Sha256": entry.sha256 or "",
    }
    start, end, status = 0, size, 200
    header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    # Multiple or malformed ranges, or a stale If-Range: RFC 9110 lets a server send it all.
    match = None
    if header and (if_range is None or if_range.strip('"') == entry.sha256):
        match = _RANGE.match(header.strip())
    if match is not None and match.groups() != ("", ""):
        first, last = match.groups()
        if first == "":
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
        if start >= size or start >= end:
            return problem(
                request,
                416,
                str(ErrorCode.INVALID_ARGUMENT),
                f"Range: {header!r} is outside the file's {size} bytes",
                errors=[{"field": "Range", "message": f"expected bytes within 0-{size - 1}"}],
                extra={"size": size},
                headers={"Content-Range": f"bytes */{size}"},
            )
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(
        caller.service.read_file(entry, start, end),
        status_code=status,
        media_type=entry.mime_type,
        headers=headers,
    )


async def _track(
    caller: Caller, namespace: str, model: str, version: str | None, body: s.TrackFiles
) -> s.FileList:
    files = [TrackedFileInput(**f.model_dump()) for f in body.files]
    entries = await caller(caller.service.track_files, namespace, model, version, files)
    return s.FileList(files=[s.FileOut.from_entity(e) for e in entries])


async def _list(caller: Caller, namespace: str, model: str, version: str | None) -> s.FileList:
    entries = await caller(caller.service.list_files, namespace, model, version)
    return s.FileList(files=[s.FileOut.from_entity(e) for e in entries])


# -- version files ------------------------------------------------------------------------

V = "/versions/{version}/files"


@router.put(V + "/{path:path}", status_code=201, response_model=s.FileOut)
async def upload_version_file(
    request: Request,
    namespace: str,
    model: str,
    version: str,
    path: str,
    caller: CallerDep,
    sha256: Sha256Query = None,
    mime_type: MimeQuery = None,
    file_type: FileTypeQuery = None,
) -> s.FileOut | Response:
    """Store the raw request body as one file of a PENDING version, streamed."""
    return await _upload(
        request, caller, namespace, model, version, path, sha256, mime_type, file_type
    )


@router.get(V, response_model=s.FileList)
async def list_version_files(
    namespace: str, model: str, version: str, caller: CallerDep
) -> s.FileList:
    return await _list(caller, namespace, model, version)


@router.post(V, status_code=201, response_model=s.FileList)
async def track_version_files(
    namespace: str, model: str, version: str, body: s.TrackFiles, caller: CallerDep
) -> s.FileList:
    """Record external files by URI; modelyard does not copy their bytes."""
    return await _track(caller, namespace, model, version, body)


@router.get(V + "/{path:path}", response_class=StreamingResponse)
async def download_version_file(
    request: Request, namespace: str, model: str, version: str, path: str, caller: CallerDep
) -> Response:
    """The file's bytes; honours a single ``Range: bytes=a-b``."""
    return await _download(request, caller, namespace, model, version, path)


# -- model files --------------------------------------------------------------------------

M = "/files"


@router.put(M + "/{path:path}", status_code=201, response_model=s.FileOut)
async def upload_model_file(
    request: Request,
    namespace: str,
    model: str,
    path: str,
    caller: CallerDep,
    sha256: Sha256Query = None,
    mime_type: MimeQuery = None,
    file_type: FileTypeQuery = None,
) -> s.FileOut | Response:
    """Store the raw request body as one file of the model itself (not of a version)."""
    return await _upload(
        request, caller, namespace, model, None, path, sha256, mime_type, file_type
    )


@router.get(M, response_model=s.FileList)
async def list_model_files(namespace: str, model: str, caller: CallerDep) -> s.FileList:
    return await _list(caller, namespace, model, None)


@router.post(M, status_code=201, response_model=s.FileList)
async def track_model_files(
    namespace: str, model: str, body: s.TrackFiles, caller: CallerDep
) -> s.FileList:
    return await _track(caller, namespace, model, None, body)


@router.get(M + "/{path:path}", response_class=StreamingResponse)
async def download_model_file(
    request: Request, namespace: str, model: str, path: str, caller: CallerDep
) -> Response:
    return await _download(request, caller, namespace, model, None, path)
