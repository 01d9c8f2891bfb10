"""Builders for the entities SqlMetadataStore takes, shared by the store contract tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelyard.domain.entities import MetaInfo, Model, ModelVersion, Provenance, User
from modelyard.domain.enums import AccessLevel, VersionState
from modelyard.domain.ids import new_id
from modelyard.store.sql import SqlMetadataStore


def now() -> datetime:
    return datetime.now(UTC)


def make_model(
    store: SqlMetadataStore,
    owner: User,
    name: str,
    *,
    namespace: str = "default",
    access: AccessLevel = AccessLevel.PRIVATE,
    task: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Model:
    at = now()
    model = Model(
        id=new_id(),
        namespace=namespace,
        name=name,
        owner=owner.name,
        task=task,
        description=None,
        metadata=metadata or {},
        model_card=None,
        access=access,
        created_at=at,
        updated_at=at,
    )
    return store.create_model(model, owner_id=owner.id)


def make_version(
    store: SqlMetadataStore,
    model: Model,
    actor: User,
    *,
    label: str = "",
    tags: tuple[str, ...] = (),
    metadata: dict[str, Any] | None = None,
) -> ModelVersion:
    at = now()
    draft = ModelVersion(
        id=new_id(),
        model_id=model.id,
        namespace=model.namespace,
        model=model.name,
        number=0,
        label=label,
        name=None,
        description=None,
        framework=None,
        task=None,
        input_schema=None,
        output_schema=None,
        meta_info=MetaInfo(),
        provenance=Provenance(),
        metadata=metadata or {},
        runtime=None,
        checks=None,
        tags=tags,
        state=VersionState.PENDING,
        status_message=None,
        content_digest=None,
        created_by=actor.name,
        created_at=at,
        updated_at=at,
        finished_at=None,
    )
    return store.create_version(draft, actor_id=actor.id)
