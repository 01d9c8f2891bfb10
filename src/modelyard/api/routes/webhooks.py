"""Webhooks of a namespace (``/api/v1/namespaces/{namespace}/webhooks``), managed by its
admins, and the lifespan that runs the dispatcher delivering them while the app is up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from modelyard.api import schemas_events as s
from modelyard.api.deps import CallerDep
from modelyard.dispatcher import Dispatcher
from modelyard.domain.webhooks import KEEP, Webhooks
from modelyard.errors import FailedPrecondition

router = APIRouter(prefix="/api/v1/namespaces/{namespace}/webhooks", tags=["webhooks"])

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def running(dispatcher: Dispatcher | None, inner: Lifespan) -> Lifespan:
    """``inner`` (the task runner's lifespan), with the webhook dispatcher running inside it:
    started last, stopped first (attempts in flight end before the server goes)."""
    if dispatcher is None:
        return inner

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app):
            dispatcher.start()
            try:
                yield
            finally:
                await run_in_threadpool(dispatcher.stop)

    return lifespan


def get_webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks | None = getattr(request.app.state, "webhooks", None)
    if webhooks is None:
        raise FailedPrecondition("events and webhooks are not enabled on this server")
    return webhooks


WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]


@router.post("", status_code=201, response_model=s.WebhookCreated)
async def create_webhook(
    namespace: str,
    body: s.WebhookCreate,
    caller: CallerDep,
    webhooks: WebhooksDep,
    response: Response,
) -> s.WebhookCreated:
    """(Namespace admins) POST the namespace's events to ``url`` from now on. The answer
    holds the signing secret: it is never shown again."""
    created = await caller(
        webhooks.create_webhook, namespace, url=body.url, events=body.events, secret=body.secret
    )
    response.headers["Location"] = (
        f"{router.prefix.format(namespace=namespace)}/{created.webhook.id}"
    )
    return s.WebhookCreated.from_created(created)


@router.get("", response_model=s.WebhookList)
async def list_webhooks(namespace: str, caller: CallerDep, webhooks: WebhooksDep) -> s.WebhookList:
    """(Namespace admins) the namespace's webhooks, without their secrets."""
    found = await caller(webhooks.list_webhooks, namespace)
    return s.WebhookList(webhooks=[s.WebhookOut.from_entity(w) for w in found])


@router.get("/{webhook_id}", response_model=s.WebhookOut)
async def get_webhook(
    namespace: str, webhook_id: str, caller: CallerDep, webhooks: WebhooksDep
) -> s.WebhookOut:
    return s.WebhookOut.from_entity(await caller(webhooks.get_webhook, namespace, webhook_id))


@router.patch("/{webhook_id}", response_model=s.WebhookOut)
async def update_webhook(
    namespace: str,
    webhook_id: str,
    body: s.WebhookUpdate,
    caller: CallerDep,
    webhooks: WebhooksDep,
) -> s.WebhookOut:
    """Change ``url``, ``events`` (null: every event) or ``active`` (false pauses it)."""
    updated = await caller(
        webhooks.update_webhook,
        namespace,
        webhook_id,
        url=body.url,
        events=body.events if "events" in body.model_fields_set else KEEP,
        active=body.active,
    )
    return s.WebhookOut.from_entity(updated)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(
    namespace: str, webhook_id: str, caller: CallerDep, webhooks: WebhooksDep
) -> Response:
    """Delete a webhook and its delivery history; nothing more is sent."""
    await caller(webhooks.delete_webhook, namespace, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=s.DeliveryList)
async def list_deliveries(
    namespace: str,
    webhook_id: str,
    caller: CallerDep,
    webhooks: WebhooksDep,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    page_token: str | None = None,
) -> s.DeliveryList:
    """The webhook's deliveries, newest event first: state, attempts, last answer or error."""
    page = await caller(
        webhooks.list_deliveries,
        namespace,
        webhook_id,
        page_size=page_size,
        page_token=page_token,
    )
    return s.DeliveryList(
        deliveries=[s.DeliveryOut.from_entity(d) for d in page.items],
        next_page_token=page.next_page_token,
    )
