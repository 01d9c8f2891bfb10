"""The replicas of one deployment on this server, each kept alive by its own slot.

A slot is an asyncio task that starts a replica (a worker process, :mod:`.replica`), waits for
it to exit, and starts it again with backoff (1 s doubling to 30 s; reset once a replica has
run for a minute). Predictions go to the ready replica with the fewest requests in flight.

- **Scaling up** adds slots; their replicas take requests once ready.
- **Scaling down** takes slots out of the rotation first, lets their requests finish (drain),
  then stops their replicas, so no request is dropped.
- **A new configuration** (batching, memory) replaces replicas one at a time: the new one is
  ready before the old one leaves the rotation.
- **A hung replica**: when a request times out, the replica is asked how long its current
  prediction has been running; past the request timeout it is killed (its slot restarts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.domain.deployments import Deployment, DeploymentSettings
from modelyard.errors import DeadlineExceeded, InvalidArgument, ModelError, Unavailable
from modelyard.runtime.schema import SchemaValidator
from modelyard.serving.errors import (
    PredictionFailed,
    PredictionTimeout,
    ReplicaFailed,
    ReplicaGone,
)
from modelyard.serving.prepare import Prepared
from modelyard.serving.replica import Replica, start_replica

#: Numbers every replica start in this process: a deployment undeployed and deployed again
#: gets a new pool while the old one may still be stopping, and the old replicas' clean-up
#: must not remove the new ones' socket and spec files.
_STARTS = itertools.count(1)
log = logging.getLogger("modelyard.serving")

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
#: A replica that ran this long before it died is restarted without waiting.
HEALTHY_RUN = 60.0
DRAIN_TIMEOUT = 60.0


@dataclass(frozen=True)
class _Config:
    """What a replica is started with; a change replaces the replicas."""

    max_batch_size: int
    max_wait_ms: float
    memory_mb: int | None

    @classmethod
    def of(cls, settings: DeploymentSettings) -> _Config:
        return cls(
            max_batch_size=settings.batching.max_batch_size,
            max_wait_ms=settings.batching.max_wait_ms,
            memory_mb=settings.memory_mb,
        )


class _Slot:
    def __init__(self, pool: Pool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.replica: Replica | None = None
        self.config: _Config | None = None
        self.retiring = False
        self.restart_now = False
        self.last_error: str | None = None
        self.started_ok = asyncio.Event()
        self.task = asyncio.create_task(self._keep(), name=f"replica-{pool.deployment.id}-{index}")

    async def _keep(self) -> None:
        backoff = BACKOFF_START
        while not self.retiring:
            config = self.pool.config
            started = time.monotonic()
            try:
                replica = await self.pool.start(self.index, config)
            except ReplicaFailed as exc:
                self.last_error = str(exc)
                log.warning("deployment %s: replica failed to start: %s", self.pool.id, exc)
                self.pool.changed()
            else:
                self.replica, self.config, self.last_error = replica, config, None
                self.started_ok.set()
                self.pool.changed()
                code = await replica.exited()
                self.replica = None
                self.pool.changed()
                if self.retiring:
                    return
                log.warning("deployment %s: replica %d exited (%s)", self.pool.id, self.index, code)
                self.last_error = f"the worker process exited ({code})"
                self.pool.metrics_restart()
                if self.restart_now or time.monotonic() - started >= HEALTHY_RUN:
                    self.restart_now = False
                    backoff = BACKOFF_START
                    continue
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def retire(self) -> None:
        """Out of the rotation, drain, stop."""
        self.retiring = True
        replica = self.replica
        if replica is not None:
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while replica.in_flight and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await replica.stop()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Pool:
    def __init__(
        self,
        deployment: Deployment,
        prepared: Prepared,
        *,
        socket_dir: Path,
        on_change: Callable[[Pool], None] = lambda pool: None,
        on_restart: Callable[[Pool], None] = lambda pool: None,
    ) -> None:
        self.deployment = deployment
        self.prepared = prepared
        schema = prepared.input_schema
        self.input_validator = SchemaValidator(schema) if schema is not None else None
        self.socket_dir = socket_dir
        self.config = _Config.of(deployment.settings)
        self._on_change = on_change
        self._on_restart = on_restart
        self._slots: list[_Slot] = []
        self._reconfiguring: asyncio.Task[None] | None = None
        self.last_used = time.time()

    @property
    def id(self) -> str:
        return self.deployment.id

    # -- replicas --------------------------------------------------------------------------

    async def start(self, index: int, config: _Config) -> Replica:
        socket = self.socket_dir / f"{self.id[-12:]}-{index}-{next(_STARTS)}.sock"
        return await start_replica(
            self.prepared.bundle,
            self.prepared.spec,
            socket_path=socket,
            python=self.prepared.python,
            max_batch_size=config.max_batch_size,
            max_wait_ms=config.max_wait_ms,
            memory_mb=config.memory_mb,
        )

    def changed(self) -> None:
        self._on_change(self)

    def metrics_restart(self) -> None:
        self._on_restart(self)

    def ready(self) -> list[Replica]:
        return [
            s.replica
            for s in self._slots
            if not s.retiring and s.replica is not None and s.replica.alive
        ]

    @property
    def wanted(self) -> int:
        return self.deployment.settings.replicas

    async def bring_up(self, timeout: float) -> None:
        """Start the wanted replicas and wait until each answered once; raises Unavailable
        with the workers' reason if one does not come up."""
        await self.scale()
        deadline = time.monotonic() + timeout
        for slot in list(self._slots):
            while not slot.started_ok.is_set():
                if slot.last_error is not None:
                    raise Unavailable(f"the model's worker did not start: {slot.last_error}")
                if time.monotonic() > deadline:
                    raise Unavailable(f"the model's worker did not start within {timeout:g} s")
                await asyncio.sleep(0.05)

    async def scale(self) -> None:
        active = [s for s in self._slots if not s.retiring]
        while len(active) < self.wanted:
            used = {s.index for s in active}
            index = next(i for i in range(len(active) + 1) if i not in used)
            slot = _Slot(self, index)
            self._slots.append(slot)
            active.append(slot)
        extra = active[self.wanted :]
        for slot in extra:
            self._slots.remove(slot)
        await asyncio.gather(*(slot.retire() for slot in extra))
        self.changed()

    async def update(self, deployment: Deployment) -> None:
        """Follow a changed deployment: its replica count, then its configuration."""
        self.deployment = deployment
        await self.scale()
        config = _Config.of(deployment.settings)
        if config != self.config and (self._reconfiguring is None or self._reconfiguring.done()):
            self.config = config
            self._reconfiguring = asyncio.create_task(self._replace_all())

    async def _replace_all(self) -> None:
        for old in [s for s in self._slots if not s.retiring and s.config != self.config]:
            new = _Slot(self, old.index)
            self._slots.append(new)
            while not new.started_ok.is_set() and not new.retiring:
                await asyncio.sleep(0.05)
            self._slots.remove(old)
            await old.retire()

    async def stop(self) -> None:
        slots, self._slots = self._slots, []
        if self._reconfiguring is not None:
            self._reconfiguring.cancel()
        await asyncio.gather(*(slot.retire() for slot in slots))
        self.changed()

    async def close(self) -> None:
        """The server stops: so do its worker processes."""
        await self.stop()

    # -- predicting ------------------------------------------------------------------------

    async def predict(self, data: Any) -> Any:
        replicas = self.ready()
        if not replicas:
            errors = [s.last_error for s in self._slots if s.last_error]
            why = f": {errors[0]}" if errors else " yet"
            raise Unavailable(
                f"deployment {self.deployment.name} has no replica ready on this server{why}"
            )
        replica = min(replicas, key=lambda r: r.in_flight)
        timeout = self.deployment.settings.request_timeout_s
        self.last_used = time.time()
        try:
            return await replica.predict(data, timeout)
        except PredictionFailed as exc:
            if exc.kind == "invalid":
                raise InvalidArgument(exc.message, field="data") from None
            raise ModelError(f"the model raised: {exc.message}") from None
        except PredictionTimeout as exc:
            await self._unstick(replica, timeout)
            raise DeadlineExceeded(
                f"{exc.message} (request_timeout_s of deployment {self.deployment.name})"
            ) from None
        except ReplicaGone as exc:
            raise Unavailable(f"{exc.message}; it is being restarted") from None

    async def _unstick(self, replica: Replica, timeout: float) -> None:
        """Kill a replica whose current prediction has run past the timeout; its slot starts
        a new one at once (no backoff: it did not crash)."""
        try:
            status = await replica.ping(timeout=1.0)
        except Exception:  # no answer at all: as stuck as it gets
            status = {"busy_for": float("inf")}
        if status.get("busy_for", 0) >= timeout:
            log.warning("deployment %s: killing replica %s, stuck predicting", self.id, replica.pid)
            for slot in self._slots:
                if slot.replica is replica:
                    slot.restart_now = True
            await replica.kill()
