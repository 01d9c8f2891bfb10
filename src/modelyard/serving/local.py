"""The local serving backend: each replica is a worker process on this server.

:class:`LocalServing` lives on the API server's event loop. The deploy task (a runner thread)
calls :meth:`LocalServing.bring_up`, which prepares the version (files, environment) in that
thread and starts the replicas on the loop. The reconciler, a loop task, makes what runs here
follow the database every ``interval`` seconds:

- an ``ACTIVE`` deployment without replicas here (the server restarted, or another server
  deployed it) is prepared and started; its replica count and configuration are followed;
- replicas of a deployment that is no longer live (undeployed, failed, deleted) are stopped;
- the time of each deployment's last prediction is written back, and deployments idle past
  their ``idle_ttl_s`` are undeployed.

Every server sharing one database runs the replicas of every ``ACTIVE`` local deployment, so a
load balancer in front of several servers spreads predictions over all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from modelyard.domain.deployments import (
    LIVE,
    Deployment,
    DeploymentService,
    DeploymentState,
    ServingBackend,
)
from modelyard.domain.tasks import TaskFailed
from modelyard.errors import VersionNotFound
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.pool import Pool
from modelyard.serving.prepare import Prepared, prepare

log = logging.getLogger("modelyard.serving")


class LocalServing:
    def __init__(
        self,
        deployments: DeploymentService,
        *,
        home: Path,
        metrics: ServingMetrics,
        interval: float = 1.0,
        ready_timeout: float = 300.0,
    ) -> None:
        self.deployments = deployments
        self.cache_dir = home / "serving" / "versions"
        self.envs_dir = home / "envs"
        self.socket_dir: Path | None = None
        self.metrics = metrics
        self.interval = interval
        self.ready_timeout = ready_timeout
        self.pools: dict[str, Pool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._starting: dict[str, asyncio.Task[None]] = {}
        deployments.serving[ServingBackend.LOCAL] = self
        deployments.on_change.append(self.follow)

    # -- life on the loop ------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # AF_UNIX paths are short (108 bytes): the sockets get a short directory of their own.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="modelyard-serving-", dir="/tmp"))
        self._reconciler = asyncio.create_task(self._reconcile_forever(), name="reconciler")

    async def stop(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
        pools, self.pools = list(self.pools.values()), {}
        await asyncio.gather(*(pool.stop() for pool in pools))
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        self._loop = None

    def pool(self, deployment_id: str) -> Pool | None:
        return self.pools.get(deployment_id)

    # -- the deploy task (a runner thread) -------------------------------------------------

    def bring_up(self, deployment: Deployment, heartbeat: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None:
            raise TaskFailed("the local serving backend is not running on this server")
        prepared = self._prepare(deployment, heartbeat)
        future = asyncio.run_coroutine_threadsafe(self._bring_up(deployment, prepared), loop)
        while True:
            try:
                future.result(timeout=1.0)
                return
            except TimeoutError:
                heartbeat()

    def _prepare(self, deployment: Deployment, heartbeat: Callable[[], None]) -> Prepared:
        registry = self.deployments.registry
        version = registry.store.get_version_by_id(deployment.version_id)
        if version is None:
            raise VersionNotFound(f"version {deployment.version} was deleted")
        return prepare(
            registry, version, cache_dir=self.cache_dir, envs_dir=self.envs_dir, heartbeat=heartbeat
        )

    async def _bring_up(self, deployment: Deployment, prepared: Prepared) -> None:
        old = self.pools.pop(deployment.id, None)
        if old is not None:
            await old.stop()
        pool = self._pool(deployment, prepared)
        self.pools[deployment.id] = pool
        try:
            await pool.bring_up(self.ready_timeout)
        except BaseException:
            self.pools.pop(deployment.id, None)
            await pool.stop()
            raise

    def _pool(self, deployment: Deployment, prepared: Prepared) -> Pool:
        assert self.socket_dir is not None, "start() first"
        self.metrics.name(deployment.id, deployment.name)
        return Pool(
            deployment,
            prepared,
            socket_dir=self.socket_dir,
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
            self.pools.pop(deployment.id, None)
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
        """One pass: make the replicas here follow the database (see the module's doc)."""
        store = self.deployments.store
        page = await run_in_threadpool(store.list_deployments, None, states=LIVE, page_size=10_000)
        wanted = {d.id: d for d in page.items if d.backend == ServingBackend.LOCAL}
        for deployment_id in list(self.pools):
            if deployment_id not in wanted:
                pool = self.pools.pop(deployment_id)
                await pool.stop()
        for deployment in wanted.values():
            pool = self.pools.get(deployment.id)
            if pool is not None:
                await pool.update(deployment)
            elif deployment.state == DeploymentState.ACTIVE and deployment.id not in self._starting:
                self._starting[deployment.id] = asyncio.create_task(self._restore(deployment))
        await self._record_use(wanted)
        await run_in_threadpool(self.deployments.expire_idle)

    async def _restore(self, deployment: Deployment) -> None:
        """Start an ACTIVE deployment's replicas here (after a restart, say)."""
        try:
            prepared = await run_in_threadpool(self._prepare, deployment, lambda: None)
            if deployment.id not in self.pools:
                pool = self._pool(deployment, prepared)
                self.pools[deployment.id] = pool
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
