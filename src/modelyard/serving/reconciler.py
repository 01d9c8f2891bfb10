"""Serving on this server: the pools of the deployments it serves, whatever their backend,
kept in line with the database.

:class:`Serving` lives on the API server's event loop. The deploy task (a runner thread) calls
:meth:`Serving.bring_up`, which prepares the version (files, environment) in that thread and
brings the replicas up on the loop, through the deployment's backend (worker processes here,
:mod:`modelyard.serving.local`; Ray Serve replicas on a cluster,
:mod:`modelyard.serving.ray_backend`).
The reconciler, a loop task, makes what is served here follow the database every ``interval``
seconds:

- an ``ACTIVE`` deployment without a pool here (the server restarted, or another server
  deployed it) is prepared and started; its replica count and configuration are followed;
- pools of a deployment that is no longer live (undeployed, failed, deleted) are stopped;
- each backend gets its own pass (Ray's reads its replicas' states, removes apps no live
  deployment wants);
- the time of each deployment's last prediction is written back, and deployments idle past
  their ``idle_ttl_s`` are undeployed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sized
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from modelyard.domain.deployments import (
    LIVE,
    Deployment,
    DeploymentService,
    DeploymentState,
    ServingBackend,
)
from modelyard.domain.tasks import TaskFailed
from modelyard.runtime.schema import SchemaValidator
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.prepare import Prepared

log = logging.getLogger("modelyard.serving")


class ServedPool(Protocol):
    """One deployment's replicas as this server sees them, on one backend."""

    deployment: Deployment
    prepared: Prepared
    input_validator: SchemaValidator | None
    last_used: float  # time.time() of the last prediction through this server

    @property
    def id(self) -> str: ...

    def ready(self) -> Sized:
        """The replicas that answer now."""
        ...

    async def bring_up(self, timeout: float) -> None:
        """Start the replicas, and return once they answer (Unavailable saying why not)."""
        ...

    async def scale(self) -> None:
        """Start (or attach to) the replicas of a deployment that is already ACTIVE."""
        ...

    async def update(self, deployment: Deployment) -> None:
        """Follow a changed deployment: replica count and configuration, without dropping
        requests."""
        ...

    async def stop(self) -> None:
        """The deployment is no longer live: stop its replicas."""
        ...

    async def close(self) -> None:
        """This server stops: let go of the replicas (a backend whose replicas live outside
        the server keeps them)."""
        ...

    async def predict(self, data: Any) -> Any: ...


class Backend(Protocol):
    kind: ServingBackend

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def prepare(self, deployment: Deployment, heartbeat: Callable[[], None]) -> Prepared:
        """(In a thread) what the replicas need before they start."""
        ...

    def pool(
        self,
        deployment: Deployment,
        prepared: Prepared,
        *,
        on_change: Callable[[Any], None],
        on_restart: Callable[[Any], None],
    ) -> ServedPool: ...

    async def reconcile(self, wanted: dict[str, Deployment]) -> None:
        """The backend's own part of a reconciler pass; ``wanted``: its live deployments."""
        ...


class Serving:
    def __init__(
        self,
        deployments: DeploymentService,
        backends: list[Backend],
        *,
        metrics: ServingMetrics,
        interval: float = 1.0,
        ready_timeout: float = 300.0,
    ) -> None:
        self.deployments = deployments
        self.backends = {backend.kind: backend for backend in backends}
        self.metrics = metrics
        self.interval = interval
        self.ready_timeout = ready_timeout
        self.pools: dict[str, ServedPool] = {}
        #: When each pool was put in ``pools`` (a count of puts): a reconcile pass leaves alone
        #: the pools put there after it read the database.
        self._put_at: dict[str, int] = {}
        self._puts = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._starting: dict[str, asyncio.Task[None]] = {}
        for kind in self.backends:
            deployments.serving[kind] = self
        deployments.on_change.append(self.follow)

    # -- life on the loop ------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for backend in self.backends.values():
            await backend.start()
        self._reconciler = asyncio.create_task(self._reconcile_forever(), name="reconciler")

    async def stop(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
        pools, self.pools = list(self.pools.values()), {}
        self._put_at.clear()
        await asyncio.gather(*(pool.close() for pool in pools))
        for backend in self.backends.values():
            await backend.stop()
        self._loop = None

    def pool(self, deployment_id: str) -> ServedPool | None:
        return self.pools.get(deployment_id)

    # -- the deploy task (a runner thread) -------------------------------------------------

    def bring_up(self, deployment: Deployment, heartbeat: Callable[[], None]) -> None:
        loop = self._loop
        backend = self.backends.get(deployment.backend)
        if loop is None or backend is None:
            raise TaskFailed(f"the {deployment.backend} serving backend is not running here")
        prepared = backend.prepare(deployment, heartbeat)
        future = asyncio.run_coroutine_threadsafe(self._bring_up(deployment, prepared), loop)
        while True:
            try:
                future.result(timeout=1.0)
                return
            except TimeoutError:
                heartbeat()

    async def _bring_up(self, deployment: Deployment, prepared: Prepared) -> None:
        old = self._drop(deployment.id)
        if old is not None:
            await old.stop()
        pool = self._pool(deployment, prepared)
        self._put(deployment.id, pool)
        try:
            await pool.bring_up(self.ready_timeout)
        except BaseException:
            self._drop(deployment.id)
            await pool.stop()
            raise

    def _put(self, deployment_id: str, pool: ServedPool) -> None:
        self._puts += 1
        self.pools[deployment_id] = pool
        self._put_at[deployment_id] = self._puts

    def _drop(self, deployment_id: str) -> ServedPool | None:
        self._put_at.pop(deployment_id, None)
        return self.pools.pop(deployment_id, None)

    def _pool(self, deployment: Deployment, prepared: Prepared) -> ServedPool:
        self.metrics.name(deployment.id, deployment.name)
        return self.backends[deployment.backend].pool(
            deployment,
            prepared,
            on_change=lambda p: self.metrics.replicas(p.id, len(p.ready())),
            on_restart=lambda p: self.metrics.restarted(p.id),
        )

    def follow(self, deployment: Deployment) -> None:
        """(From a thread) apply a change made on this server now: stop a pool that is no
        longer live, scale or reconfigure one that is."""
        loop = self._loop
        if loop is None or deployment.id not in self.pools:
            return
        asyncio.run_coroutine_threadsafe(self._follow(deployment), loop).result()

    async def _follow(self, deployment: Deployment) -> None:
        pool = self.pools.get(deployment.id)
        if pool is None:
            return
        if deployment.live:
            await pool.update(deployment)
        else:
            self._drop(deployment.id)
            await pool.stop()

    # -- the reconciler --------------------------------------------------------------------

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable, say: again at the next interval
                log.exception("reconciling deployments failed")
            await asyncio.sleep(self.interval)

    async def reconcile(self) -> None:
        """One pass: make what is served here follow the database (see the module's doc)."""
        store = self.deployments.store
        read_at = self._puts
        page = await run_in_threadpool(store.list_deployments, None, states=LIVE, page_size=10_000)
        wanted = {d.id: d for d in page.items if d.backend in self.backends}
        for deployment_id in list(self.pools):
            # A pool put there while the database was read belongs to a deploy this read may
            # not have seen (deploy-on-predict right after an idle stop, say).
            if deployment_id not in wanted and self._put_at.get(deployment_id, 0) <= read_at:
                dropped = self._drop(deployment_id)
                if dropped is not None:
                    await dropped.stop()
        for deployment in wanted.values():
            pool = self.pools.get(deployment.id)
            if pool is not None:
                await pool.update(deployment)
            elif deployment.state == DeploymentState.ACTIVE and deployment.id not in self._starting:
                self._starting[deployment.id] = asyncio.create_task(self._restore(deployment))
        for kind, backend in self.backends.items():
            await backend.reconcile({i: d for i, d in wanted.items() if d.backend == kind})
        await self._record_use(wanted)
        await run_in_threadpool(self.deployments.expire_idle)

    async def _restore(self, deployment: Deployment) -> None:
        """Serve an ACTIVE deployment here (after a restart, say)."""
        try:
            backend = self.backends[deployment.backend]
            prepared = await run_in_threadpool(backend.prepare, deployment, lambda: None)
            if deployment.id not in self.pools:
                pool = self._pool(deployment, prepared)
                self._put(deployment.id, pool)
                await pool.scale()
        except Exception as exc:
            log.error("deployment %s cannot be restored here: %s", deployment.id, exc)
        finally:
            self._starting.pop(deployment.id, None)

    async def _record_use(self, wanted: dict[str, Deployment]) -> None:
        for deployment_id, pool in self.pools.items():
            deployment = wanted.get(deployment_id)
            if deployment is None:
                continue
            used = datetime.fromtimestamp(pool.last_used, UTC)
            recorded = deployment.last_used_at
            if recorded is None or (used - recorded).total_seconds() >= 1.0:
                await run_in_threadpool(
                    self.deployments.store.update_deployment,
                    deployment_id,
                    {"last_used_at": used},
                )
