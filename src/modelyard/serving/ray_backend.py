"""The Ray serving backend: a deployment's replicas are Ray Serve replicas on a Ray cluster.

The API server connects to the cluster at ``ray_address`` (``MODELYARD_RAY_ADDRESS``) as a
driver, in the Ray namespace ``modelyard``, and starts Serve there without its HTTP proxy:
predictions keep going through modelyard's own routes (token, access, input schema, metrics)
and reach the replicas through Serve's deployment handles. Each deployment is one Serve
application, ``modelyard-<deployment id>``, of one :class:`~modelyard.serving.ray_replica.
ModelReplica` deployment.

- Deploying packs the version's files into the cluster's bundle store, then runs the app and
  waits until its replicas are ``RUNNING`` (an app that fails to deploy fails the deploy task
  with the replica's error).
- Scaling and batching changes update the app in place: Serve adds or drains replicas and
  passes the new batching settings to ``reconfigure``, without dropping requests.
- Serve restarts a replica that dies (a crash in ``predict``) or fails its health check (a
  prediction stuck past the request timeout).
- Apps are detached: they keep serving when the API server stops or dies. A server that
  starts finds an ACTIVE deployment's app and attaches to it; one that no live deployment
  wants (undeployed while no server ran) is deleted.

A version whose requirements the server's own environment does not meet is refused (the
replicas run in the cluster's environment, which the server takes to be its own).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.exceptions import RayActorError, RayError
from ray.serve.exceptions import RayServeException
from starlette.concurrency import run_in_threadpool

from modelyard.domain.deployments import Deployment, DeploymentStore, ServingBackend
from modelyard.domain.service import RegistryService
from modelyard.errors import DeadlineExceeded, InvalidArgument, ModelError, Unavailable
from modelyard.runtime.schema import SchemaValidator
from modelyard.serving.prepare import Prepared, prepare_deployment
from modelyard.serving.ray_replica import ModelReplica, bundle_store, pack

log = logging.getLogger("modelyard.serving.ray")

#: The Ray namespace of modelyard's actors (Serve keeps its own, ``serve``).
RAY_NAMESPACE = "modelyard"
APP_PREFIX = "modelyard-"
#: Requests one replica takes at a time: enough to fill the largest batch twice over.
MAX_ONGOING = 256


def app_name(deployment_id: str) -> str:
    return APP_PREFIX + deployment_id


class RayBackend:
    kind = ServingBackend.RAY

    def __init__(
        self, registry: RegistryService, store: DeploymentStore, *, home: Path, address: str
    ) -> None:
        self.registry = registry
        self.store = store
        self.address = address
        self.cache_dir = home / "serving" / "versions"
        self.pools: dict[str, RayPool] = {}

    async def start(self) -> None:
        # ray.init installs signal handlers: it runs on the loop's (main) thread, once.
        try:
            ray.init(
                address=self.address,
                namespace=RAY_NAMESPACE,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
            serve.start(proxy_location="Disabled")
        except (ConnectionError, RayError, RayServeException) as exc:
            raise RuntimeError(
                f"cannot serve on the Ray cluster at {self.address} (ray_address): {exc}"
            ) from exc
        log.info("serving on the Ray cluster at %s", self.address)

    async def stop(self) -> None:
        self.pools.clear()
        ray.shutdown()

    def prepare(self, deployment: Deployment, heartbeat: Callable[[], None]) -> Prepared:
        """(In a thread) the version's files, put in the cluster's bundle store once."""
        prepared = prepare_deployment(
            self.registry, deployment, self.cache_dir, envs_dir=None, heartbeat=heartbeat
        )
        store = bundle_store()
        if not ray.get(store.has.remote(deployment.version_id)):
            ray.get(store.put.remote(deployment.version_id, pack(prepared.bundle)))
        return prepared

    def pool(
        self,
        deployment: Deployment,
        prepared: Prepared,
        *,
        on_change: Callable[[Any], None],
        on_restart: Callable[[Any], None],
    ) -> RayPool:
        pool = RayPool(self, deployment, prepared, on_change=on_change)
        self.pools[deployment.id] = pool
        return pool

    async def reconcile(self, wanted: dict[str, Deployment]) -> None:
        """Read the replicas' states into the pools; delete apps no live deployment wants."""
        status = await run_in_threadpool(serve.status)
        for name, app in status.applications.items():
            if not name.startswith(APP_PREFIX):
                continue
            deployment_id = name.removeprefix(APP_PREFIX)
            pool = self.pools.get(deployment_id)
            if pool is not None:
                pool.observe(app)
            elif deployment_id not in wanted and app.status != "DELETING":
                await run_in_threadpool(self._delete_orphan, deployment_id)

    def _delete_orphan(self, deployment_id: str) -> None:
        deployment = self.store.get_deployment(deployment_id)
        if deployment is None or not deployment.live:  # not one deployed since the pass began
            log.info("deleting Ray app %s: its deployment is not live", app_name(deployment_id))
            serve.delete(app_name(deployment_id), _blocking=False)


class RayPool:
    """One deployment's Serve app, as this server sees it."""

    def __init__(
        self,
        backend: RayBackend,
        deployment: Deployment,
        prepared: Prepared,
        *,
        on_change: Callable[[RayPool], None],
    ) -> None:
        self.backend = backend
        self.deployment = deployment
        self.prepared = prepared
        schema = prepared.input_schema
        self.input_validator = SchemaValidator(schema) if schema is not None else None
        self.app = app_name(deployment.id)
        self.last_used = time.time()
        self._on_change = on_change
        self._handle: Any = None
        self._running = 0
        self._applied = deployment.settings

    @property
    def id(self) -> str:
        return self.deployment.id

    def ready(self) -> list[str]:
        """The running replicas (by number: Serve places them, the server does not see them)."""
        count = self._running if self._handle is not None else 0
        return [f"{self.app}#{i}" for i in range(count)]

    # -- the app ---------------------------------------------------------------------------

    def _run(self) -> None:
        """(In a thread) create or update the app; Serve applies a changed replica count or
        user_config to the running replicas without restarting them."""
        settings = self.deployment.settings
        options: dict[str, Any] = {"num_cpus": 1}
        if settings.memory_mb is not None:  # a scheduling reservation, as Ray's memory is
            options["memory"] = settings.memory_mb * 1024 * 1024
        app = ModelReplica.options(
            name="model",
            num_replicas=settings.replicas,
            max_ongoing_requests=MAX_ONGOING,
            user_config={
                "max_batch_size": settings.batching.max_batch_size,
                "max_wait_ms": settings.batching.max_wait_ms,
                "request_timeout_s": settings.request_timeout_s,
            },
            ray_actor_options=options,
        ).bind(self.deployment.version_id, self.prepared.spec.model_dump(mode="json"))
        self._handle = serve.run(app, name=self.app, route_prefix=None, blocking=False)
        self._applied = settings

    async def bring_up(self, timeout: float) -> None:
        await run_in_threadpool(self._run)
        deadline = time.monotonic() + timeout
        while True:
            status = await run_in_threadpool(serve.status)
            app = status.applications.get(self.app)
            if app is not None:
                self.observe(app)
                if app.status == "RUNNING" and self._running >= self.deployment.settings.replicas:
                    return
                if app.status == "DEPLOY_FAILED":
                    raise Unavailable(f"the model's Ray replicas did not start: {_why(app)}")
            if time.monotonic() > deadline:
                raise Unavailable(f"the model's Ray replicas did not start within {timeout:g} s")
            await asyncio.sleep(0.25)

    async def scale(self) -> None:
        """Attach to the app of an ACTIVE deployment, as it runs (its replicas go on
        serving); create it when it is gone (the cluster was restarted, say)."""
        await run_in_threadpool(self._attach_or_run)
        self._on_change(self)

    def _attach_or_run(self) -> None:
        app = serve.status().applications.get(self.app)
        if app is not None and app.status in ("RUNNING", "DEPLOYING", "UNHEALTHY"):
            self._handle = serve.get_app_handle(self.app)
            self._applied = self.deployment.settings
            self.observe(app)
        else:
            self._run()

    async def update(self, deployment: Deployment) -> None:
        self.deployment = deployment
        if deployment.settings != self._applied:
            await run_in_threadpool(self._run)

    def observe(self, app: Any) -> None:
        """Take the replica count from an app's status (the reconciler's, each pass)."""
        running = sum(d.replica_states.get("RUNNING", 0) for d in app.deployments.values())
        if running != self._running:
            self._running = running
            self._on_change(self)

    async def stop(self) -> None:
        self.backend.pools.pop(self.id, None)
        self._handle = None
        await run_in_threadpool(serve.delete, self.app, False)
        self._on_change(self)

    async def close(self) -> None:
        """The server stops; the app keeps serving (other servers, or this one restarted)."""
        self.backend.pools.pop(self.id, None)
        self._handle = None

    # -- predicting ------------------------------------------------------------------------

    async def predict(self, data: Any) -> Any:
        handle = self._handle
        if handle is None:
            raise Unavailable(f"deployment {self.deployment.name} is not attached here yet")
        # With no replica RUNNING (Serve restarting one), the handle holds the request until
        # one is, within the request's timeout.
        timeout = self.deployment.settings.request_timeout_s
        self.last_used = time.time()
        response = handle.remote(data)
        try:
            outcome = await asyncio.wait_for(_awaited(response), timeout)
        except TimeoutError:
            response.cancel()
            raise DeadlineExceeded(
                f"the model did not answer within {timeout:g} s (request_timeout_s of "
                f"deployment {self.deployment.name})"
            ) from None
        except RayActorError:
            raise Unavailable(
                f"the Ray replica of deployment {self.deployment.name} died; Serve restarts it"
            ) from None
        except (RayError, RayServeException) as exc:
            raise Unavailable(f"the Ray cluster did not answer: {exc}") from None
        if outcome["error"] is None:
            return outcome["result"]
        if outcome["kind"] == "invalid":
            raise InvalidArgument(outcome["error"], field="data")
        raise ModelError(f"the model raised: {outcome['error']}")


async def _awaited(response: Any) -> Any:
    return await response


def _why(app: Any) -> str:
    """The last line of an app's failure (the replica's exception), or its whole message."""
    messages = [app.message, *(d.message for d in app.deployments.values())]
    text = next((m for m in reversed(messages) if m), "no reason given")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text
