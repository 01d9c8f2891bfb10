"""The reconciler against deploys that run while it reads the database (no server around it:
a stand-in store and backend, so that the interleaving is exact)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from serving_support import deployment_entity

from modelyard.domain.deployments import Deployment, ServingBackend
from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.prepare import Prepared
from modelyard.serving.reconciler import Serving


@dataclass
class _Pool:
    deployment: Deployment
    prepared: Prepared
    input_validator: None = None
    last_used: float = field(default_factory=time.time)
    stopped: bool = False

    @property
    def id(self) -> str:
        return self.deployment.id

    def ready(self) -> list[int]:
        return [] if self.stopped else [1]

    async def bring_up(self, timeout: float) -> None:
        """Up at once: there is no process behind this pool."""

    async def stop(self) -> None:
        self.stopped = True

    async def close(self) -> None:
        await self.stop()


class _Backend:
    kind = ServingBackend.LOCAL

    async def start(self) -> None:
        """Nothing to start: the pools are in memory."""

    async def stop(self) -> None:
        """Nothing to stop."""

    def pool(self, deployment: Deployment, prepared: Prepared, **_: Any) -> _Pool:
        return _Pool(deployment, prepared)

    async def reconcile(self, wanted: dict[str, Deployment]) -> None:
        """Nothing runs outside the pools."""


class _SlowStore:
    """Lists no live deployment, and takes until told to answer: a read made just before a
    deploy-on-predict set the deployment PENDING."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.answer = threading.Event()

    def list_deployments(self, *_: Any, **__: Any) -> SimpleNamespace:
        self.reading.set()
        assert self.answer.wait(10)
        return SimpleNamespace(items=[])


def test_a_pool_brought_up_while_the_reconciler_reads_is_not_stopped_by_that_read(
    tmp_path: Path,
) -> None:
    store = _SlowStore()
    deployments = SimpleNamespace(store=store, serving={}, on_change=[], expire_idle=lambda: [])
    serving = Serving(deployments, [_Backend()], metrics=ServingMetrics())  # type: ignore[arg-type]
    prepared = Prepared(
        bundle=tmp_path,
        spec=RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py"),
        python="python",
        input_schema=None,
        environment=None,
    )
    deployment = deployment_entity()

    async def scenario() -> Any:
        reading = asyncio.create_task(serving.reconcile())
        await asyncio.to_thread(store.reading.wait, 10)
        await serving._bring_up(deployment, prepared)  # what the deploy task runs on the loop
        store.answer.set()
        await reading
        return serving.pool(deployment.id)

    pool = asyncio.run(scenario())
    assert pool is not None and not pool.stopped

    # The next read, made after the deploy, decides: a deployment no longer live is stopped.
    store.reading.clear()

    async def next_pass() -> Any:
        await serving.reconcile()
        return serving.pool(deployment.id)

    assert asyncio.run(next_pass()) is None
    assert pool.stopped
