"""The event stream (``/api/v1/events``): server-sent events, and pages for polling.

A follower gets each successful change to a model it may read *when the event is sent* (its
token is checked again as it follows; a revoked token ends the stream). It wakes up as soon as
this server records an event and polls the database every :data:`POLL_SECONDS` for events
recorded by other servers; a comment line every :data:`KEEPALIVE_SECONDS` keeps proxies from
closing an idle stream. At most :data:`STREAM_PAGE` events are held in memory at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelyard.api import schemas_events as s
from modelyard.api.deps import CallerDep
from modelyard.api.routes.webhooks import WebhooksDep
from modelyard.domain.audit import AuditEvent
from modelyard.domain.service import RegistryService
from modelyard.domain.webhooks import EventPage, Webhooks, event_payload
from modelyard.errors import InvalidArgument, RegistryError

router = APIRouter(prefix="/api/v1", tags=["events"])

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
STREAM_PAGE = 100

Since = Annotated[
    int | None,
    Query(ge=0, description="Start after this event id (0: from the first); default: now."),
]


@router.get("/events/page", response_model=s.EventPageOut)
async def events_page(
    caller: CallerDep,
    webhooks: WebhooksDep,
    since: Since = None,
    namespace: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> s.EventPageOut:
    """Events after ``since`` that you may read, oldest first; poll again with ``since`` set
    to the answer's ``last_id``. Without ``since``: no events, and the current ``last_id``."""
    page = await caller(webhooks.events_page, since=since, namespace=namespace, limit=limit)
    return s.EventPageOut.from_entity(page)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The event stream"}},
)
async def follow_events(
    request: Request,
    caller: CallerDep,
    webhooks: WebhooksDep,
    since: Since = None,
    namespace: str | None = None,
    last_event_id: Annotated[str | None, Header(description="Resume after this id.")] = None,
) -> StreamingResponse:
    """Server-sent events: ``id`` (the position), ``event`` (the action) and ``data`` (the
    event as JSON) per change to a model you may read. ``Last-Event-ID`` (sent by a
    reconnecting EventSource) resumes after that event, ahead of ``since``."""
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise InvalidArgument(
                "Last-Event-ID: expected an event id", field="header.Last-Event-ID"
            )
        since = int(last_event_id.strip())
    # The first page is read before the answer starts: a bad argument is still a 4xx.
    first = await caller(webhooks.events_page, since=since, namespace=namespace, limit=STREAM_PAGE)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    start = since if since is not None else first.last_id
    stream = _follow(caller.service, webhooks, token, namespace, start, first)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: AuditEvent) -> str:
    data = json.dumps(event_payload(event), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.action}\ndata: {data}\n\n"


async def _follow(
    service: RegistryService,
    webhooks: Webhooks,
    token: str,
    namespace: str | None,
    start: int,
    page: EventPage,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    unsubscribe = webhooks.subscribe(lambda _id: loop.call_soon_threadsafe(wake.set))
    try:
        # Reconnect after 2 s, resuming from here (an id without data moves an EventSource's
        # position): a follower that has seen no event yet loses none either. It also sends
        # the headers right away.
        yield f"retry: 2000\nid: {start}\n\n"
        quiet_since = loop.time()
        while True:
            for event in page.events:
                yield _sse(event)
            if page.events:
                quiet_since = loop.time()
            if len(page.events) < STREAM_PAGE:  # caught up: wait for more
                if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL_SECONDS)
                wake.clear()
            try:  # the token and the viewer's memberships as they are now
                viewer = await run_in_threadpool(service.authenticate, token)
            except RegistryError:
                return
            page = await run_in_threadpool(
                webhooks.events_page,
                viewer,
                since=page.last_id,
                namespace=namespace,
                limit=STREAM_PAGE,
            )
    finally:
        unsubscribe()
