"""The SDK's event calls: follow the event stream (server-sent events), read it page by page,
and manage a namespace's webhooks. The functions take a :class:`Transport`;
:class:`EventCalls` offers them as methods and is mixed into
:class:`modelyard.client.client.Client`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from modelyard.api import schemas_events as s
from modelyard.client._transport import Transport, paginate, raise_for_error, segment

EVENTS = "/api/v1/events"
#: No read limit shorter than a few keep-alives (the server sends one every 15 s of quiet).
STREAM_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_UNSET: Any = object()


def _webhooks(namespace: str) -> str:
    return f"/api/v1/namespaces/{segment(namespace)}/webhooks"


# -- the event stream -----------------------------------------------------------------------


@dataclass
class _Block:
    id: str | None = None
    event: str | None = None
    data: list[str] | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str | None, str | None]]:
    """(id, data) of each block of a ``text/event-stream``; data is None for a block that
    only moves the position (``id:`` alone). Comments and ``retry:`` are skipped."""
    block = _Block()
    for line in lines:
        if not line:
            if block.id is not None or block.data is not None:
                yield block.id, "\n".join(block.data) if block.data is not None else None
            block = _Block()
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            block.id = value
        elif field == "event":
            block.event = value
        elif field == "data":
            block.data = [*(block.data or []), value]


def iter_events(
    transport: Transport,
    since: int | None = None,
    namespace: str | None = None,
    *,
    reconnect: bool = True,
    retry_delay: float = 2.0,
) -> Iterator[s.EventOut]:
    """Follow the event stream: each change to a model you may read, as it happens (after
    event id ``since``; None: from now). A dropped connection is resumed after the last event
    seen (``Last-Event-ID``), so no event is lost or repeated; ``reconnect=False`` returns
    instead. Errors from the server (a revoked token: Unauthenticated) are raised. Runs until
    the caller stops iterating (close the generator to hang up at once)."""
    position = since
    while True:
        headers = {"Accept": "text/event-stream"}
        if position is not None:
            headers["Last-Event-ID"] = str(position)
        params = {"namespace": namespace} if namespace is not None else None
        try:
            # The transport's own client: its base URL, token and connection pool.
            with transport._http.stream(
                "GET", EVENTS, params=params, headers=headers, timeout=STREAM_TIMEOUT
            ) as response:
                raise_for_error(response)
                for event_id, data in parse_sse(response.iter_lines()):
                    if data is not None:
                        event = s.EventOut.model_validate_json(data)
                        position = event.id
                        yield event
                    elif event_id is not None and event_id.isdigit():
                        position = int(event_id)
        except httpx.TransportError:
            if not reconnect:
                raise
        if not reconnect:
            return
        time.sleep(retry_delay)


def events_page(
    transport: Transport, since: int | None = None, namespace: str | None = None, limit: int = 100
) -> s.EventPageOut:
    """Events after ``since`` (None: none, and the current position), oldest first; call
    again with ``since=page.last_id`` to poll."""
    params = {"since": since, "namespace": namespace, "limit": limit}
    return transport.call("GET", f"{EVENTS}/page", s.EventPageOut, params=params)


# -- webhooks -------------------------------------------------------------------------------


def create_webhook(
    transport: Transport,
    namespace: str,
    url: str,
    events: Sequence[str] | None = None,
    secret: str | None = None,
) -> s.WebhookCreated:
    body = {"url": url, "events": list(events) if events is not None else None, "secret": secret}
    return transport.call("POST", _webhooks(namespace), s.WebhookCreated, json=body)


def list_webhooks(transport: Transport, namespace: str) -> list[s.WebhookOut]:
    return transport.call("GET", _webhooks(namespace), s.WebhookList).webhooks


def get_webhook(transport: Transport, namespace: str, webhook_id: str) -> s.WebhookOut:
    path = f"{_webhooks(namespace)}/{segment(webhook_id)}"
    return transport.call("GET", path, s.WebhookOut)


def update_webhook(
    transport: Transport,
    namespace: str,
    webhook_id: str,
    *,
    url: str | None = None,
    events: Sequence[str] | None = _UNSET,
    active: bool | None = None,
) -> s.WebhookOut:
    body: dict[str, Any] = {}
    if url is not None:
        body["url"] = url
    if events is not _UNSET:
        body["events"] = list(events) if events is not None else None
    if active is not None:
        body["active"] = active
    path = f"{_webhooks(namespace)}/{segment(webhook_id)}"
    return transport.call("PATCH", path, s.WebhookOut, json=body)


def delete_webhook(transport: Transport, namespace: str, webhook_id: str) -> None:
    transport.send("DELETE", f"{_webhooks(namespace)}/{segment(webhook_id)}")


def list_deliveries(
    transport: Transport, namespace: str, webhook_id: str, page_size: int = 50
) -> Iterator[s.DeliveryOut]:
    """The webhook's deliveries, newest event first, page by page."""
    path = f"{_webhooks(namespace)}/{segment(webhook_id)}/deliveries"

    def fetch(token: str | None) -> tuple[list[s.DeliveryOut], str | None]:
        params = {"page_size": page_size, "page_token": token}
        page = transport.call("GET", path, s.DeliveryList, params=params)
        return page.deliveries, page.next_page_token

    return paginate(fetch)


class EventCalls:
    """Mixed into the Client."""

    _t: Transport

    def follow_events(
        self, since: int | None = None, namespace: str | None = None
    ) -> Iterator[s.EventOut]:
        """Each change to a model you may read, as it happens; see :func:`iter_events`."""
        return iter_events(self._t, since, namespace)

    def events_page(
        self, since: int | None = None, namespace: str | None = None, limit: int = 100
    ) -> s.EventPageOut:
        return events_page(self._t, since, namespace, limit)

    def create_webhook(
        self,
        namespace: str,
        url: str,
        events: Sequence[str] | None = None,
        secret: str | None = None,
    ) -> s.WebhookCreated:
        """(Namespace admins) POST the namespace's events (those named in ``events``:
        actions or prefixes ending with '.') to ``url``. The answer's ``secret`` signs every
        delivery and is not shown again."""
        return create_webhook(self._t, namespace, url, events, secret)

    def list_webhooks(self, namespace: str) -> list[s.WebhookOut]:
        return list_webhooks(self._t, namespace)

    def get_webhook(self, namespace: str, webhook_id: str) -> s.WebhookOut:
        return get_webhook(self._t, namespace, webhook_id)

    def update_webhook(
        self,
        namespace: str,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = _UNSET,
        active: bool | None = None,
    ) -> s.WebhookOut:
        """Change the URL, the events (None: every event) or pause it (``active=False``)."""
        return update_webhook(self._t, namespace, webhook_id, url=url, events=events, active=active)

    def delete_webhook(self, namespace: str, webhook_id: str) -> None:
        delete_webhook(self._t, namespace, webhook_id)

    def list_deliveries(
        self, namespace: str, webhook_id: str, page_size: int = 50
    ) -> Iterator[s.DeliveryOut]:
        return list_deliveries(self._t, namespace, webhook_id, page_size)


__all__ = [
    "EventCalls",
    "create_webhook",
    "delete_webhook",
    "events_page",
    "get_webhook",
    "iter_events",
    "list_deliveries",
    "list_webhooks",
    "parse_sse",
    "update_webhook",
]
