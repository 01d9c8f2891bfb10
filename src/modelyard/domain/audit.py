"""The audit log: who did what to which model, when, from where, and how it ended.

Every use case that changes something (and every refused attempt at one) is recorded through
:func:`audited`, a decorator on the service methods, so REST, gRPC, the dialects and the CLI
all leave the same trail. The entries are append-only: nothing in modelyard updates or deletes
them. Successful entries about a model are also the event stream that clients follow and
webhooks deliver.

Where a request came from (client address, request id) reaches the service through a context
variable that each transport binds with :func:`request_context`.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from modelyard.domain.entities import Model, ModelVersion, Page, User
from modelyard.errors import NotFound, PermissionDenied, RegistryError

log = logging.getLogger("modelyard.audit")

F = TypeVar("F", bound=Callable[..., Any])


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


class DeliveryState(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One entry before it is stored."""

    at: datetime
    actor: str | None
    action: str
    outcome: AuditOutcome
    error_code: str | None = None
    message: str | None = None
    namespace: str | None = None
    model: str | None = None
    model_id: str | None = None
    version: str | None = None
    target: str | None = None
    detail: dict[str, Any] | None = None
    client: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuditEvent(AuditEntry):
    """A stored entry; ``id`` grows with every entry (the event stream's position)."""

    id: int


@dataclass(frozen=True, kw_only=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    outcome: AuditOutcome | None = None
    namespace: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int | None = None
    page_size: int = 100
    page_token: str | None = None


class AuditStore(Protocol):
    def append_audit(self, entry: AuditEntry) -> int:
        """Store an entry; its id."""
        ...

    def list_audit(self, query: AuditQuery) -> Page[AuditEvent]:
        """Entries matching the query, newest first."""
        ...


# -- where a request came from ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RequestContext:
    client: str | None = None
    request_id: str | None = None


_NOWHERE = RequestContext()
_request: ContextVar[RequestContext | None] = ContextVar("modelyard_request", default=None)


@contextmanager
def request_context(*, client: str | None, request_id: str | None) -> Iterator[None]:
    """Bind the caller's address and request id for the audit entries made meanwhile."""
    token = _request.set(RequestContext(client=client, request_id=request_id))
    try:
        yield
    finally:
        _request.reset(token)


def current_request() -> RequestContext:
    return _request.get() or _NOWHERE


# -- what a use case touched ------------------------------------------------------------------


@dataclass
class _Touched:
    namespace: str | None = None
    model: str | None = None
    model_id: str | None = None
    version: str | None = None
    hidden: bool = False  # the model exists but the actor may not see it
    detail: dict[str, Any] = field(default_factory=dict)


_touched: ContextVar[_Touched | None] = ContextVar("modelyard_touched", default=None)


def touched_model(model: Model, *, hidden: bool = False) -> None:
    """Tell the audit entry being made which model the use case resolved (``hidden``: one the
    actor may not read, which makes a refusal a denied attempt rather than a miss)."""
    touched(model.namespace, model.name, model.id, hidden=hidden)


def touched(namespace: str, model: str, model_id: str, *, hidden: bool = False) -> None:
    """:func:`touched_model` by the model's names and id (e.g. from a deployment)."""
    holder = _touched.get()
    if holder is not None:
        holder.namespace, holder.model, holder.model_id = namespace, model, model_id
        holder.hidden = holder.hidden or hidden


def touched_version(version: ModelVersion) -> None:
    holder = _touched.get()
    if holder is not None:
        holder.version = str(version.number)


def note(**detail: Any) -> None:
    """Add details to the audit entry being made (e.g. the new access level)."""
    holder = _touched.get()
    if holder is not None:
        holder.detail.update(detail)


class Auditor:
    """Appends entries; a failure to record is logged and never fails the use case."""

    def __init__(self, store: AuditStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self._clock = clock
        #: Called with each stored entry's id after a successful model event (the event
        #: stream and the webhook dispatcher wake up on it).
        self.listeners: list[Callable[[int], None]] = []

    def record(
        self,
        actor: str | None,
        action: str,
        *,
        outcome: AuditOutcome = AuditOutcome.SUCCESS,
        error: RegistryError | None = None,
        namespace: str | None = None,
        model: str | None = None,
        model_id: str | None = None,
        version: str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int | None:
        request = current_request()
        entry = AuditEntry(
            at=self._clock(),
            actor=actor,
            action=action,
            outcome=outcome,
            error_code=str(error.code) if error is not None else None,
            message=str(error)[:2000] if error is not None else None,
            namespace=namespace,
            model=model,
            model_id=model_id,
            version=version,
            target=target,
            detail=dict(detail) if detail else None,
            client=request.client,
            request_id=request.request_id,
        )
        try:
            event_id = self.store.append_audit(entry)
        except Exception:
            log.exception("could not record audit entry %s by %s", action, actor)
            return None
        if outcome == AuditOutcome.SUCCESS and model_id is not None:
            for listener in self.listeners:
                try:
                    listener(event_id)
                except Exception:
                    log.exception("an audit listener failed")
        return event_id


class Audited(Protocol):
    auditor: Auditor | None


_TARGET_KEYS = (
    "namespace",
    "name",
    "model_name",
    "ref",
    "version",
    "tag",
    "path",
    "user",
    "team",
    "token_id",
    "key_id",
    "deployment_id",
)


def _target(bound: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    """(namespace, model, version, target text) from a use case's arguments."""
    namespace = bound.get("namespace")
    model = bound.get("model_name", bound.get("name") if namespace is not None else None)
    version = bound.get("ref")
    parts = [
        f"{key}={bound[key]}"
        for key in _TARGET_KEYS
        if isinstance(bound.get(key), str | int) and not isinstance(bound.get(key), bool)
    ]
    as_str = lambda v: str(v)[:128] if v is not None else None  # noqa: E731
    return as_str(namespace), as_str(model), as_str(version), " ".join(parts)[:1024] or None


def audited(
    action: str,
    *,
    when: Callable[[Mapping[str, Any]], bool] | None = None,
    successes: bool = True,
) -> Callable[[F], F]:
    """Record every call of a use case ``f(self, actor, ...)``: its outcome, the model and
    version it resolved, and the arguments that name its target. Only the outermost audited
    call of a request records (a use case built on another makes one entry). ``when`` picks
    the calls to record from their arguments; ``successes=False`` records refusals only (the
    use case records its own success later, e.g. when an upload's bytes are in place)."""

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(self: Audited, actor: User, *args: Any, **kwargs: Any) -> Any:
            auditor = self.auditor
            if auditor is None or _touched.get() is not None:
                return fn(self, actor, *args, **kwargs)
            if when is not None and not when(_arguments(signature, actor, args, kwargs)):
                return fn(self, actor, *args, **kwargs)
            holder = _Touched()
            token = _touched.set(holder)
            try:
                result = fn(self, actor, *args, **kwargs)
            except RegistryError as exc:
                outcome = AuditOutcome.FAILED
                if isinstance(exc, PermissionDenied) or (
                    isinstance(exc, NotFound) and holder.hidden
                ):
                    outcome = AuditOutcome.DENIED
                _record(auditor, holder, signature, action, actor, args, kwargs, outcome, exc)
                raise
            finally:
                _touched.reset(token)
            if not successes:
                return result
            # The holder directly: the context variable was reset above.
            if isinstance(result, Model) and holder.model_id is None:
                holder.namespace, holder.model, holder.model_id = (
                    result.namespace,
                    result.name,
                    result.id,
                )
            elif isinstance(result, ModelVersion):
                holder.version = str(result.number)
            _record(auditor, holder, signature, action, actor, args, kwargs, AuditOutcome.SUCCESS)
            return result

        return inner  # type: ignore[return-value]

    return wrap


def _arguments(
    signature: inspect.Signature, actor: User, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Mapping[str, Any]:
    try:
        return signature.bind_partial(None, actor, *args, **kwargs).arguments
    except TypeError:
        return {}


def _record(
    auditor: Auditor,
    holder: _Touched,
    signature: inspect.Signature,
    action: str,
    actor: User,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    outcome: AuditOutcome,
    error: RegistryError | None = None,
) -> None:
    namespace, model, version, target = _target(_arguments(signature, actor, args, kwargs))
    if holder.model_id is not None:
        namespace, model = holder.namespace, holder.model
    version = holder.version or version
    auditor.record(
        actor.name,
        action,
        outcome=outcome,
        error=error,
        namespace=namespace,
        model=model,
        model_id=holder.model_id,
        version=version,
        target=target,
        detail=holder.detail or None,
    )


__all__ = [
    "AuditEntry",
    "AuditEvent",
    "AuditOutcome",
    "AuditQuery",
    "Auditor",
    "DeliveryState",
    "RequestContext",
    "audited",
    "current_request",
    "note",
    "request_context",
    "touched",
    "touched_model",
    "touched_version",
]
