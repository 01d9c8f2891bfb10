"""Events and webhooks: the event stream that readers follow, and the webhooks that deliver it.

An *event* is a successful audit entry about a model (:mod:`modelyard.domain.audit`); its
audit id is its position in the stream. Who receives an event is decided when it is delivered,
not when it happened: a reader (or a webhook's creator) gets only the events of models it may
read at that moment; events of deleted models reach admins and the namespace's admins only.

A webhook belongs to a namespace and is managed by that namespace's admins (and admins). It
keeps a cursor in the stream. The dispatcher (:mod:`modelyard.dispatcher`, a thread in every
API server) fans the new events of the webhook's namespace that match its ``events`` filter
out into ``PENDING`` deliveries (inserted, and the cursor advanced, in one transaction), then
POSTs each due delivery, signed with HMAC-SHA256 of the body under the webhook's secret. A
failed attempt is retried with exponential backoff until ``max_attempts``, then the delivery is
``FAILED``. Each webhook's deliveries go out in event order: an older pending delivery holds
back the newer ones, so a receiver sees events in the order they happened. Deliveries are
claimed under leases through the database, so servers sharing it never send the same one
twice at once.

Positions and late commits: on PostgreSQL an id is handed out before its entry commits, so an
entry may become visible after a later one. Readers of the stream therefore stop before a gap
in the ids that is younger than :data:`GAP_GRACE` (a gap older than that is an insert that was
rolled back, and is passed over).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import modelyard
from modelyard.domain.access import Role
from modelyard.domain.audit import AuditEvent, Auditor, DeliveryState, audited, note
from modelyard.domain.entities import Namespace, Page, User
from modelyard.domain.ids import Name, new_id
from modelyard.domain.service import RegistryService
from modelyard.errors import (
    FailedPrecondition,
    InvalidArgument,
    NamespaceNotFound,
    NotFound,
    PermissionDenied,
)
from modelyard.imports.guard import AddressPolicy, HostNotFound, SourceError

log = logging.getLogger("modelyard.webhooks")

#: A gap in the audit ids younger than this may still be filled by a late commit.
GAP_GRACE = timedelta(seconds=5)
#: Ids looked at per read of the stream when placing its end (bounds one poll's work).
SCAN = 1000
MAX_PAGE = 1000
MAX_WEBHOOKS_PER_NAMESPACE = 100
MAX_FILTERS = 50
MAX_URL = 2048
MIN_SECRET, MAX_SECRET = 16, 128
_FILTER = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?$")

SIGNATURE_HEADER: Final = "X-Modelyard-Signature"


# -- entities -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Webhook:
    """A webhook as listed; its secret is shown once, when it is created."""

    id: str
    namespace: str
    url: str
    events: tuple[str, ...] | None  # None: every event of the namespace
    active: bool
    cursor: int
    created_by: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class NewWebhook:
    id: str
    namespace_id: str
    url: str
    secret: str
    events: tuple[str, ...] | None
    created_by_id: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class CreatedWebhook:
    webhook: Webhook
    secret: str


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One event for one webhook, and how sending it went."""

    id: str
    webhook_id: str
    event_id: int
    action: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class DueDelivery:
    """A delivery claimed for one attempt, with what sending it needs."""

    id: str
    attempts: int  # before this attempt
    webhook: Webhook
    secret: str
    creator: User  # without memberships: the dispatcher loads the current ones
    event: AuditEvent


@dataclass(frozen=True, kw_only=True)
class EventPage:
    """Events after a position, and the position to read on from (``last_id``)."""

    events: list[AuditEvent]
    last_id: int


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """When a failed delivery is tried again: after ``base * 2**(attempts-1)`` seconds,
    at most ``cap``; after ``max_attempts`` attempts it is FAILED."""

    base: float = 5.0
    cap: float = 3600.0
    max_attempts: int = 12
    timeout: float = 10.0

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.base * 2 ** max(attempts - 1, 0), self.cap))


class _Keep:
    """The value of an argument that was not given (``events=None`` means 'every event')."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


# -- ports ----------------------------------------------------------------------------------


class WebhookStore(Protocol):
    """Webhooks, their deliveries and reads of the event stream (``store/webhooks.py``)."""

    def create_webhook(self, webhook: NewWebhook) -> Webhook:
        """Store a webhook; its cursor starts at the newest audit id (later events only)."""
        ...

    def count_webhooks(self, namespace_id: str) -> int: ...

    def get_webhook(self, webhook_id: str) -> Webhook | None: ...

    def list_webhooks(self, namespace_id: str) -> list[Webhook]: ...

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any]) -> Webhook:
        """Set some of ``url``, ``events``, ``active``."""
        ...

    def delete_webhook(self, webhook_id: str) -> bool: ...

    def list_deliveries(
        self, webhook_id: str, *, page_size: int, page_token: str | None
    ) -> Page[Delivery]:
        """A webhook's deliveries, newest event first."""
        ...

    # -- the stream ----------------------------------------------------------------------

    def event_ids_after(self, after: int, limit: int) -> list[tuple[int, datetime]]:
        """(id, at) of the audit entries after ``after``, by id: every outcome, so that gaps
        in the ids show."""
        ...

    def max_event_id(self) -> int: ...

    def events_after(
        self, viewer: User, *, after: int, until: int, namespace: str | None, limit: int
    ) -> list[AuditEvent]:
        """Successful model entries with ``after < id <= until``, by id, that ``viewer`` may
        read now: all for admins; else those of models it can read, and those of (deleted
        or not) models in namespaces it is an admin of."""
        ...

    def model_readable(self, viewer: User, model_id: str) -> bool: ...

    # -- the dispatcher ------------------------------------------------------------------

    def min_active_cursor(self) -> int | None: ...

    def fan_out(
        self,
        *,
        until: int,
        now: datetime,
        limit: int,
        wanted: Callable[[tuple[str, ...] | None, str], bool],
    ) -> int:
        """For each active webhook behind ``until``, in one transaction: insert PENDING
        deliveries for its namespace's events up to ``until`` (at most ``limit``) that it
        ``wanted``, and advance its cursor past them. Servers sharing the database skip a
        webhook another one is fanning out. Returns the deliveries made."""
        ...

    def claim_deliveries(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[DueDelivery]:
        """Lease due deliveries of active webhooks, each the oldest PENDING one of its
        webhook (so the next waits until it is done)."""
        ...

    def end_attempt(
        self,
        delivery_id: str,
        owner: str,
        *,
        state: DeliveryState,
        attempts: int,
        next_attempt_at: datetime,
        last_status: int | None,
        last_error: str | None,
        now: datetime,
    ) -> bool:
        """Record an attempt and release the lease; False if the lease was lost."""
        ...


class SendFailed(Exception):
    """The receiver could not be reached (refused by the SSRF guard, no connection, timeout).
    Its message is recorded as the delivery's ``last_error``: never put a secret in it."""


#: POSTs ``body`` with ``headers`` to ``url`` and returns the HTTP status; SendFailed when
#: there is no answer. See :class:`modelyard.dispatcher.HttpSender`.
Sender = Callable[[str, bytes, Mapping[str, str]], int]


# -- rules ----------------------------------------------------------------------------------


def matches(filters: Sequence[str] | None, action: str) -> bool:
    """Whether a webhook with ``events`` filter ``filters`` wants ``action``: each filter is
    an action (``model.create``) or a prefix ending with a dot (``version.``)."""
    if filters is None:
        return True
    return any(action.startswith(f) if f.endswith(".") else action == f for f in filters)


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """An event as the stream and the webhooks carry it."""
    return {
        "id": event.id,
        "at": event.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "action": event.action,
        "actor": event.actor,
        "namespace": event.namespace,
        "model": event.model,
        "version": event.version,
        "detail": event.detail,
    }


def delivery_body(event: AuditEvent, webhook_id: str, delivery_id: str) -> bytes:
    """The exact bytes POSTed (and signed) for one delivery: compact, sorted-key JSON."""
    payload = {**event_payload(event), "webhook": webhook_id, "delivery": delivery_id}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, body: bytes) -> str:
    """The ``X-Modelyard-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(due: DueDelivery, body: bytes, now: datetime) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": f"modelyard-webhooks/{modelyard.__version__}",
        "X-Modelyard-Event": due.event.action,
        "X-Modelyard-Delivery": due.id,
        "X-Modelyard-Timestamp": str(int(now.timestamp())),
        SIGNATURE_HEADER: sign(due.secret, body),
    }


def shown(url: str) -> str:
    """A URL fit for logs and the audit log: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def settled_position(after: int, ids: Sequence[tuple[int, datetime]], now: datetime) -> int:
    """How far the stream after ``after`` may be read: through the ids that follow without a
    gap, and past a gap once the entry after it is older than :data:`GAP_GRACE`."""
    position = after
    for event_id, at in ids:
        if event_id != position + 1 and at > now - GAP_GRACE:
            break
        position = event_id
    return position


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- use cases ------------------------------------------------------------------------------


class Webhooks:
    """Webhook management and reads of the event stream; see the module docstring."""

    def __init__(
        self,
        service: RegistryService,
        store: WebhookStore,
        *,
        policy: AddressPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.service = service
        self.store = store
        self.policy = policy or AddressPolicy()
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._subscribers: dict[int, Callable[[int], None]] = {}
        self._next_subscriber = 0
        self._lock = threading.Lock()
        if service.auditor is not None:
            service.auditor.listeners.append(self.notify)

    @property
    def auditor(self) -> Auditor | None:
        return self.service.auditor

    # -- waking up followers -------------------------------------------------------------

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """Call ``callback(event id)`` after each new event recorded by this server (others
        sharing the database are seen at the next poll); returns the unsubscribe call."""
        with self._lock:
            key = self._next_subscriber
            self._next_subscriber += 1
            self._subscribers[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)

        return unsubscribe

    def notify(self, event_id: int) -> None:
        with self._lock:
            callbacks = list(self._subscribers.values())
        for callback in callbacks:
            try:
                callback(event_id)
            except Exception:  # a closed event loop, say: the follower is gone
                log.debug("an event subscriber failed", exc_info=True)

    # -- the event stream ----------------------------------------------------------------

    def settled(self, after: int) -> int:
        """The position up to which the stream after ``after`` can be read now."""
        return settled_position(after, self.store.event_ids_after(after, SCAN), self._clock())

    def events_page(
        self, actor: User, *, since: int | None = None, namespace: str | None = None, limit: int
    ) -> EventPage:
        """Events after position ``since`` (None: the current end, so none) that ``actor``
        may read now, oldest first, at most ``limit``; ``last_id`` is where to go on from."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument(f"limit: expected 1 to {MAX_PAGE}, got {limit}", field="limit")
        if since is not None and since < 0:
            raise InvalidArgument("since: expected an event id (0 or more)", field="since")
        if namespace is not None and not Name.valid(namespace):
            raise InvalidArgument(f"namespace: not a valid name: {namespace!r}", field="namespace")
        if since is None:
            return EventPage(events=[], last_id=self.settled(self.store.max_event_id()))
        until = self.settled(since)
        events = self.store.events_after(
            actor, after=since, until=until, namespace=namespace, limit=limit
        )
        last_id = events[-1].id if len(events) >= limit else until
        return EventPage(events=events, last_id=last_id)

    # -- managing webhooks ---------------------------------------------------------------

    def _namespace_admin(self, actor: User, namespace: str, *, write: bool) -> Namespace:
        """The namespace, if ``actor`` may manage its webhooks: 404 to whoever cannot see
        it, 403 to its other members and readers."""
        store = self.service.store
        found = store.get_namespace(namespace) if Name.valid(namespace) else None
        if found is None:
            raise NamespaceNotFound(f"namespace {namespace!r} not found")
        if not (actor.is_admin or actor.memberships.namespaces.get(namespace) == Role.ADMIN):
            if namespace in actor.memberships.namespaces or any(
                n.name == namespace for n in store.list_namespaces(actor)
            ):
                raise PermissionDenied(
                    f"only admins of namespace {namespace} may manage its webhooks"
                )
            raise NamespaceNotFound(f"namespace {namespace!r} not found")
        if write and actor.read_only:
            raise PermissionDenied("this token is read-only (scope 'read'); use a 'write' token")
        return found

    def _webhook(self, namespace: Namespace, webhook_id: str) -> Webhook:
        found = self.store.get_webhook(webhook_id) if len(webhook_id) <= 64 else None
        if found is None or found.namespace != namespace.name:
            raise NotFound(
                f"webhook {webhook_id} not found in namespace {namespace.name}; "
                f"`modelyard webhooks list {namespace.name}` shows its webhooks"
            )
        return found

    def _url(self, url: str) -> str:
        """An http(s) URL the SSRF guard lets through (a host that does not resolve yet is
        let through too: every delivery checks it again)."""
        url = url.strip()
        if not url or len(url) > MAX_URL:
            raise InvalidArgument(f"url: expected 1 to {MAX_URL} characters", field="url")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise InvalidArgument(f"url: not a URL: {exc}", field="url") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(
                f"url: expected an http:// or https:// URL with a host, got {shown(url)!r}",
                field="url",
            )
        try:
            self.policy.addresses(parts.hostname, port or (443 if scheme == "https" else 80))
        except HostNotFound:
            pass
        except SourceError as exc:
            raise InvalidArgument(f"url: {exc}", field="url") from None
        return url

    @staticmethod
    def _filters(events: Sequence[str] | None) -> tuple[str, ...] | None:
        if events is None:
            return None
        if isinstance(events, str) or not 1 <= len(events) <= MAX_FILTERS:
            raise InvalidArgument(
                f"events: expected a list of 1 to {MAX_FILTERS} actions or prefixes ending "
                "with '.' (leave it out for every event)",
                field="events",
            )
        for i, item in enumerate(events):
            if not isinstance(item, str) or len(item) > 64 or not _FILTER.match(item):
                raise InvalidArgument(
                    f"events[{i}]: expected an action such as 'model.create' or a prefix "
                    f"such as 'version.', got {item!r}",
                    field=f"events[{i}]",
                )
        return tuple(dict.fromkeys(events))

    @staticmethod
    def _secret(secret: str | None) -> str:
        if secret is None:
            return "whsec_" + secrets.token_urlsafe(32)
        if not (MIN_SECRET <= len(secret) <= MAX_SECRET) or not secret.isprintable():
            raise InvalidArgument(
                f"secret: expected {MIN_SECRET} to {MAX_SECRET} printable characters "
                "(leave it out to have one made)",
                field="secret",
            )
        return secret

    @audited("webhook.create")
    def create_webhook(
        self,
        actor: User,
        namespace: str,
        *,
        url: str,
        events: Sequence[str] | None = None,
        secret: str | None = None,
    ) -> CreatedWebhook:
        """A webhook for the namespace's events from now on; the answer holds its secret,
        which is never shown again."""
        found = self._namespace_admin(actor, namespace, write=True)
        new = NewWebhook(
            id=new_id(),
            namespace_id=found.id,
            url=self._url(url),
            secret=self._secret(secret),
            events=self._filters(events),
            created_by_id=actor.id,
            created_at=self._clock(),
        )
        if self.store.count_webhooks(found.id) >= MAX_WEBHOOKS_PER_NAMESPACE:
            raise FailedPrecondition(
                f"namespace {namespace} has {MAX_WEBHOOKS_PER_NAMESPACE} webhooks already; "
                "delete one first"
            )
        webhook = self.store.create_webhook(new)
        note(webhook=webhook.id, url=shown(webhook.url))
        return CreatedWebhook(webhook=webhook, secret=new.secret)

    def list_webhooks(self, actor: User, namespace: str) -> list[Webhook]:
        found = self._namespace_admin(actor, namespace, write=False)
        return self.store.list_webhooks(found.id)

    def get_webhook(self, actor: User, namespace: str, webhook_id: str) -> Webhook:
        return self._webhook(self._namespace_admin(actor, namespace, write=False), webhook_id)

    @audited("webhook.update")
    def update_webhook(
        self,
        actor: User,
        namespace: str,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | _Keep | None = KEEP,
        active: bool | None = None,
    ) -> Webhook:
        """Change the URL, the events filter (None: every event) or pause it (``active``
        false: nothing is sent and its events wait; made active again, it catches up)."""
        found = self._webhook(self._namespace_admin(actor, namespace, write=True), webhook_id)
        changes: dict[str, Any] = {}
        if url is not None:
            changes["url"] = self._url(url)
        if not isinstance(events, _Keep):
            changes["events"] = self._filters(events)
        if active is not None:
            changes["active"] = active
        note(webhook=found.id, **{k: shown(v) if k == "url" else v for k, v in changes.items()})
        if not changes:
            return found
        return self.store.update_webhook(found.id, changes)

    @audited("webhook.delete")
    def delete_webhook(self, actor: User, namespace: str, webhook_id: str) -> None:
        """Delete a webhook with its delivery history."""
        found = self._webhook(self._namespace_admin(actor, namespace, write=True), webhook_id)
        note(webhook=found.id, url=shown(found.url))
        self.store.delete_webhook(found.id)

    def list_deliveries(
        self,
        actor: User,
        namespace: str,
        webhook_id: str,
        *,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> Page[Delivery]:
        """A webhook's deliveries, newest event first."""
        if not 1 <= page_size <= MAX_PAGE:
            raise InvalidArgument(
                f"page_size: expected 1 to {MAX_PAGE}, got {page_size}", field="page_size"
            )
        found = self._webhook(self._namespace_admin(actor, namespace, write=False), webhook_id)
        return self.store.list_deliveries(found.id, page_size=page_size, page_token=page_token)

    # -- who receives what ---------------------------------------------------------------

    def may_receive(self, creator: User, namespace: str, event: AuditEvent) -> bool:
        """Whether a webhook ``creator`` made (with its current memberships) may be sent
        ``event``: admins and the namespace's admins get every event of the namespace,
        others those of models they can still read."""
        if creator.is_admin or creator.memberships.namespaces.get(namespace) == Role.ADMIN:
            return True
        return event.model_id is not None and self.store.model_readable(creator, event.model_id)


__all__ = [
    "GAP_GRACE",
    "KEEP",
    "SIGNATURE_HEADER",
    "CreatedWebhook",
    "Delivery",
    "DueDelivery",
    "EventPage",
    "NewWebhook",
    "RetryPolicy",
    "SendFailed",
    "Sender",
    "Webhook",
    "WebhookStore",
    "Webhooks",
    "delivery_body",
    "delivery_headers",
    "event_payload",
    "matches",
    "settled_position",
    "shown",
    "sign",
]
