"""/api/v1/admin: operator calls, admins only."""

from __future__ import annotations

from fastapi import APIRouter

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.post("/gc", response_model=s.GcOut)
async def collect_garbage(caller: CallerDep, dry_run: bool = False) -> s.GcOut:
    """Remove blobs no file references that are older than the grace period
    (``gc_grace_seconds``); ``dry_run=true`` only reports them."""
    report = await caller(caller.service.collect_garbage, dry_run=dry_run)
    return s.GcOut.from_report(report)
