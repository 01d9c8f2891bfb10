"""/api/v1/audit: the audit log, for admins. Read-only: no route changes it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep
from modelyard.domain.audit import AuditOutcome, AuditQuery

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=s.AuditList)
async def list_audit(
    caller: CallerDep,
    actor: str | None = None,
    action: Annotated[
        str | None, Query(description="An action, or a prefix ending in '.' (e.g. 'model.')")
    ] = None,
    outcome: AuditOutcome | None = None,
    namespace: str | None = None,
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> s.AuditList:
    """(Admins) who did what, when, from where and how it ended, newest first; refused
    attempts (outcome ``denied``) included."""
    query = AuditQuery(
        actor=actor,
        action=action,
        outcome=outcome,
        namespace=namespace,
        model=model,
        since=since,
        until=until,
        page_size=page_size,
        page_token=page_token,
    )
    page = await caller(caller.service.list_audit, query)
    return s.AuditList(
        events=[s.AuditEventOut.from_entity(e) for e in page.items],
        next_page_token=page.next_page_token,
    )
