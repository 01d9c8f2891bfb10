"""The local serving backend: each replica is a worker process on this server, started and
watched by a :class:`~modelyard.serving.pool.Pool` (see :mod:`modelyard.serving.worker`).

Every server sharing one database runs the replicas of every ``ACTIVE`` local deployment, so a
load balancer in front of several servers spreads predictions over all of them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from modelyard.domain.deployments import Deployment, ServingBackend
from modelyard.domain.service import RegistryService
from modelyard.serving.pool import Pool
from modelyard.serving.prepare import Prepared, prepare_deployment


class LocalBackend:
    kind = ServingBackend.LOCAL

    def __init__(self, registry: RegistryService, *, home: Path) -> None:
        self.registry = registry
        self.cache_dir = home / "serving" / "versions"
        self.envs_dir = home / "envs"
        self.socket_dir: Path | None = None

    async def start(self) -> None:
        # AF_UNIX paths are short (108 bytes): the sockets get a short directory of their own.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="modelyard-serving-", dir="/tmp"))

    async def stop(self) -> None:
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def prepare(self, deployment: Deployment, heartbeat: Callable[[], None]) -> Prepared:
        """(In a thread) the version's files, and an environment built for it when the
        server's own does not meet its requirements."""
        return prepare_deployment(
            self.registry, deployment, self.cache_dir, envs_dir=self.envs_dir, heartbeat=heartbeat
        )

    def pool(
        self,
        deployment: Deployment,
        prepared: Prepared,
        *,
        on_change: Callable[[Pool], None],
        on_restart: Callable[[Pool], None],
    ) -> Pool:
        assert self.socket_dir is not None, "start() first"
        return Pool(
            deployment,
            prepared,
            socket_dir=self.socket_dir,
            on_change=on_change,
            on_restart=on_restart,
        )

    async def reconcile(self, wanted: dict[str, Deployment]) -> None:
        """Nothing runs here that the pools do not know of."""
