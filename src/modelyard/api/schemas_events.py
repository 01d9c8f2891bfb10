"""Wire models of the event stream and the webhooks (``/api/v1/events``,
``/api/v1/namespaces/{namespace}/webhooks``). The SDK imports these too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.domain.audit import AuditEvent, DeliveryState
from modelyard.domain.webhooks import CreatedWebhook, Delivery, EventPage, Webhook


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventOut(BaseModel):
    """One event: a successful change to a model. ``id`` is its position in the stream."""

    id: int
    at: datetime
    action: str = Field(description="What happened: model.create, version.finish, tag.set, ...")
    actor: str | None
    namespace: str | None
    model: str | None
    version: str | None
    detail: dict[str, Any] | None

    @classmethod
    def from_entity(cls, e: AuditEvent) -> EventOut:
        return cls(**{f: getattr(e, f) for f in cls.model_fields})


class EventPageOut(BaseModel):
    events: list[EventOut]
    last_id: int = Field(description="Pass as `since` to read on from here.")

    @classmethod
    def from_entity(cls, page: EventPage) -> EventPageOut:
        return cls(events=[EventOut.from_entity(e) for e in page.events], last_id=page.last_id)


class WebhookCreate(_In):
    url: str = Field(description="http:// or https:// URL the events are POSTed to.")
    events: list[str] | None = Field(
        default=None,
        description="Actions (model.create) or prefixes ending with '.' (version.); "
        "leave out for every event of the namespace.",
    )
    secret: str | None = Field(
        default=None,
        description="HMAC key of the signatures, 16-128 characters; made for you if left out.",
    )


class WebhookUpdate(_In):
    """Only the fields sent change; ``events: null`` means every event."""

    url: str | None = None
    events: list[str] | None = None
    active: bool | None = None


class WebhookOut(BaseModel):
    id: str
    namespace: str
    url: str
    events: list[str] | None
    active: bool
    created_by: str
    created_at: datetime

    @classmethod
    def from_entity(cls, w: Webhook) -> WebhookOut:
        return cls(
            id=w.id,
            namespace=w.namespace,
            url=w.url,
            events=list(w.events) if w.events is not None else None,
            active=w.active,
            created_by=w.created_by,
            created_at=w.created_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret; shown only in this answer.")

    @classmethod
    def from_created(cls, created: CreatedWebhook) -> WebhookCreated:
        out = WebhookOut.from_entity(created.webhook)
        return cls(**out.model_dump(), secret=created.secret)


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
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

    @classmethod
    def from_entity(cls, d: Delivery) -> DeliveryOut:
        return cls(**{f: getattr(d, f) for f in cls.model_fields})


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_page_token: str | None = None
