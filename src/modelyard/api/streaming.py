"""Pouring a streamed request body into a writer, with bounded memory.

Every upload route (a file, a chunk of a session, a zip bundle) receives its body here. The
body arrives on the event loop in pieces of up to ~256 KiB; they are gathered into ~4 MiB
batches, and each batch is written (hashed, saved) in a worker thread *while the next batch is
received*, so the network and the disk work side by side. At most two batches are in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

#: Bytes gathered from the request stream before one hand-off to the writer thread.
WRITE_BATCH = 4 * 1024 * 1024


async def pour(request: Request, write: Callable[[bytes], None]) -> None:
    """Feed the whole request body to ``write``, in order. Raises what receiving raises (e.g.
    ``ClientDisconnect``) only once no write is still running, so the caller may then abort
    the writer safely."""
    writing: asyncio.Future[None] | None = None
    batch: list[bytes] = []
    size = 0
    try:
        async for piece in request.stream():
            batch.append(piece)
            size += len(piece)
            if size >= WRITE_BATCH:
                data = b"".join(batch)
                batch, size = [], 0
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(run_in_threadpool(write, data))
        if writing is not None:
            await writing
            writing = None
        if batch:
            await run_in_threadpool(write, b"".join(batch))
    finally:
        if writing is not None and not writing.done():
            with contextlib.suppress(BaseException):
                await writing
