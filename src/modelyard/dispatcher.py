"""The webhook dispatcher: a thread in every API server that fans new events out into
deliveries and POSTs them, and the HTTP sender it posts with.

The rules (who receives what, the body, the signature, the retry schedule) are in
:mod:`modelyard.domain.webhooks`; the SQL, including the leases that keep servers sharing a
database from sending the same delivery at once, in :mod:`modelyard.store.webhooks`.

The sender connects only where the SSRF guard of URL imports lets it (``import_allowed_hosts``
widens it): the host is resolved and checked before each attempt, the connection goes to the
address that was checked (the original ``Host`` header and TLS server name are kept),
environment proxies are ignored and redirects are never followed. Neither the secret nor the
signature is ever logged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from modelyard.domain.audit import DeliveryState
from modelyard.domain.entities import User
from modelyard.domain.ids import new_id
from modelyard.domain.webhooks import (
    DueDelivery,
    Sender,
    SendFailed,
    Webhooks,
    delivery_body,
    delivery_headers,
    matches,
    shown,
)
from modelyard.imports.guard import AddressPolicy, SourceError

log = logging.getLogger("modelyard.webhooks")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HttpSender:
    """POSTs deliveries with httpx under the SSRF guard; see the module docstring."""

    def __init__(self, policy: AddressPolicy | None = None, timeout: float = 10.0) -> None:
        self.policy = policy or AddressPolicy()
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout), trust_env=False, follow_redirects=False
                )
            return self._client

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            target = httpx.URL(url)
            port = target.port or (443 if target.scheme == "https" else 80)
            address = self.policy.addresses(target.host, port)[0]
        except (SourceError, httpx.InvalidURL) as exc:
            raise SendFailed(str(exc)) from None
        client = self._http()
        request = client.build_request(
            "POST",
            target.copy_with(host=address),
            content=body,
            headers={**headers, "Host": target.netloc.decode("ascii")},
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            response = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise SendFailed(f"cannot reach {shown(url)}: {type(exc).__name__}: {exc}") from None
        response.close()  # only the status matters
        return response.status_code

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


class Dispatcher:
    """The thread that fans events out into deliveries and sends them; one per server."""

    def __init__(
        self,
        webhooks: Webhooks,
        sender: Sender,
        *,
        poll_interval: float = 1.0,
        wake_gap: float = 0.05,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 16,
        threads: int = 4,
        fan_out_limit: int = 500,
        clock: Callable[[], datetime] = _utcnow,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.webhooks = webhooks
        self.store = webhooks.store
        self.sender = sender
        self.poll_interval = poll_interval
        self.wake_gap = wake_gap
        self.lease = lease
        self.batch = batch
        self.threads = threads
        self.fan_out_limit = fan_out_limit
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{new_id()[-12:]}"
        self._clock = clock
        self._on_close = on_close
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def wake(self, _event_id: int | None = None) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._unsubscribe = self.webhooks.subscribe(self.wake)
        if self.threads > 1:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="modelyard-hook")
        self._thread = threading.Thread(target=self._loop, name="modelyard-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop; attempts in flight end first (each is bounded by the sender's timeout)."""
        self._stopping.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._on_close is not None:
            self._on_close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database is unreachable, say: try again at the next poll
                log.exception("webhook dispatcher: a round failed")
                busy = 0
            if busy:
                continue
            if self._wake.wait(self.poll_interval):
                # Writes wake it; a burst of them makes one round per gap, not one each.
                self._stopping.wait(self.wake_gap)
                self._wake.clear()

    def run_once(self) -> int:
        """Fan out new events, then make one attempt at each due delivery claimed (at most
        ``batch``, in parallel across webhooks); returns the attempts made. Without an
        active webhook there is nothing to do: one cheap query."""
        low = self.store.min_active_cursor()
        if low is None:
            return 0
        self._fan_out(low)
        now = self._clock()
        claimed = self.store.claim_deliveries(self.owner, now, now + self.lease, self.batch)
        if not claimed:
            return 0
        creators: dict[str, User] = {}
        for due in claimed:
            if due.creator.id not in creators:
                creators[due.creator.id] = dataclasses.replace(
                    due.creator, memberships=self.webhooks.service.store.memberships(due.creator.id)
                )
        work = [(due, creators[due.creator.id]) for due in claimed]
        if self._pool is not None and len(work) > 1:
            list(self._pool.map(lambda pair: self._attempt(*pair), work))
        else:
            for due, creator in work:
                self._attempt(due, creator)
        return len(work)

    def _fan_out(self, low: int) -> int:
        until = self.webhooks.settled(low)
        if until <= low:
            return 0
        return self.store.fan_out(
            until=until, now=self._clock(), limit=self.fan_out_limit, wanted=matches
        )

    def _attempt(self, due: DueDelivery, creator: User) -> None:
        try:
            self._try(due, creator)
        except Exception:
            log.exception("webhook %s: delivery %s failed unexpectedly", due.webhook.id, due.id)

    def _try(self, due: DueDelivery, creator: User) -> None:
        retry = self.webhooks.retry
        if not self.webhooks.may_receive(creator, due.webhook.namespace, due.event):
            now = self._clock()
            where = f"{due.event.namespace}/{due.event.model}"
            self._end(
                due,
                DeliveryState.FAILED,
                attempts=due.attempts,
                status=None,
                error=f"skipped: {creator.name}, who made the webhook, may not read {where}",
                now=now,
            )
            return
        now = self._clock()
        body = delivery_body(due.event, due.webhook.id, due.id)
        headers = delivery_headers(due, body, now)
        status: int | None = None
        started = time.monotonic()
        try:
            status = self.sender(due.webhook.url, body, headers)
            error = None if 200 <= status < 300 else _status_error(status)
        except SendFailed as exc:
            error = str(exc)[:2000]
        attempts = due.attempts + 1
        now = self._clock()
        if error is None:
            state = DeliveryState.DELIVERED
        elif attempts >= retry.max_attempts:
            state = DeliveryState.FAILED
            error = f"gave up after {attempts} attempts: {error}"
        else:
            state = DeliveryState.PENDING
        log.info(
            "webhook %s: delivery %s of event %s to %s: %s in %.0f ms%s",
            due.webhook.id,
            due.id,
            due.event.id,
            shown(due.webhook.url),
            status if status is not None else "no answer",
            (time.monotonic() - started) * 1000,
            f" ({error})" if error else "",
        )
        self._end(due, state, attempts=attempts, status=status, error=error, now=now)

    def _end(
        self,
        due: DueDelivery,
        state: DeliveryState,
        *,
        attempts: int,
        status: int | None,
        error: str | None,
        now: datetime,
    ) -> None:
        next_at = (
            now + self.webhooks.retry.delay(attempts) if state == DeliveryState.PENDING else now
        )
        if not self.store.end_attempt(
            due.id,
            self.owner,
            state=state,
            attempts=attempts,
            next_attempt_at=next_at,
            last_status=status,
            last_error=error,
            now=now,
        ):
            log.warning("webhook %s: lease on delivery %s lost", due.webhook.id, due.id)


def _status_error(status: int) -> str:
    if 300 <= status < 400:
        return f"answered {status}; redirects are not followed: register the final URL"
    return f"answered {status}"


__all__ = ["Dispatcher", "HttpSender"]
