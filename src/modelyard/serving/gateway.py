"""Predictions: from a caller and a deployment to the model's answer, on the event loop.

The one path every inference route takes (native JSON, KServe V2, by deployment, name or
version tag): find the deployment and check the caller may read its model, bring it back when
it is STOPPED with ``deploy_on_predict``, refuse with 503 while it has no replica ready here,
validate the input against the version's input schema (422 naming the offending element),
then hand it to the least busy replica and count the outcome for ``/metrics``.

A deployment with replicas on this server is looked up in memory (the reconciler refreshes
it every second), so a prediction costs no database query beyond the caller's token.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from modelyard.domain.access import Action
from modelyard.domain.deployments import Deployment, DeploymentService, DeploymentState
from modelyard.domain.directory import can
from modelyard.domain.entities import ANONYMOUS, User
from modelyard.domain.ids import Name
from modelyard.domain.service import RegistryService
from modelyard.errors import (
    DeploymentNotFound,
    FieldError,
    InvalidArgument,
    RegistryError,
    Unavailable,
)
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.reconciler import ServedPool, Serving

#: Seconds between looks at the state of a deployment a prediction waits for.
_STATE_CHECK_S = 0.5


@dataclass(frozen=True, kw_only=True)
class Prediction:
    deployment: Deployment
    result: Any


class Gateway:
    def __init__(
        self, deployments: DeploymentService, serving: Serving, metrics: ServingMetrics
    ) -> None:
        self.deployments = deployments
        self.serving = serving
        self.metrics = metrics

    # -- finding the deployment ------------------------------------------------------------

    async def by_id(self, actor: User, deployment_id: str) -> Deployment:
        pool = self.serving.pool(deployment_id)
        if pool is not None:
            return self._readable(actor, pool.deployment, deployment_id)
        found = await self._stored(deployment_id)
        if found is not None and found.settings.public:
            return found
        return await run_in_threadpool(self.deployments.get, actor, deployment_id)

    async def _stored(self, deployment_id: str) -> Deployment | None:
        if not Name.valid(deployment_id):
            return None
        return await run_in_threadpool(self.deployments.store.get_deployment, deployment_id)

    async def by_name(self, actor: User, name: str) -> Deployment:
        for pool in self.serving.pools.values():
            if pool.deployment.name == name:
                return self._readable(actor, pool.deployment, name)
        return await run_in_threadpool(self.deployments.by_name, actor, name)

    async def public(self, service: RegistryService, deployment_id: str) -> Deployment:
        """For a caller without a token: the deployment, if it is public for predictions;
        else the 401 any route without a token gives (which tells nothing of it)."""
        pool = self.serving.pool(deployment_id)
        found = pool.deployment if pool is not None else await self._stored(deployment_id)
        if found is None or not found.settings.public:
            service.authenticate(None)  # raises Unauthenticated, counted and audited
        assert found is not None
        return found

    async def public_by_name(self, service: RegistryService, name: str) -> Deployment:
        """:meth:`public` for a KServe V2 model name."""
        for pool in self.serving.pools.values():
            if pool.deployment.name == name and pool.deployment.settings.public:
                return pool.deployment
        found = None
        if Name.valid(name):
            found = await run_in_threadpool(self.deployments.store.find_deployment, name)
        if found is None or not found.settings.public:
            service.authenticate(None)
        assert found is not None
        return found

    async def public_by_version(
        self, service: RegistryService, namespace: str, model: str, version: str
    ) -> Deployment:
        """:meth:`public` for a version's live deployment, by its label."""

        def wanted(d: Deployment) -> bool:
            return (d.namespace, d.model, d.version) == (namespace, model, version)

        for pool in self.serving.pools.values():
            if wanted(pool.deployment) and pool.deployment.settings.public:
                return pool.deployment
        found = None
        if Name.valid(model):  # the default deployment name is the model's
            found = await run_in_threadpool(self.deployments.store.find_deployment, model)
        if found is None or not (wanted(found) and found.live and found.settings.public):
            service.authenticate(None)
        assert found is not None
        return found

    async def by_version(self, actor: User, namespace: str, model: str, ref: str) -> Deployment:
        return await run_in_threadpool(self.deployments.for_version, actor, namespace, model, ref)

    @staticmethod
    def _readable(actor: User, deployment: Deployment, asked: str) -> Deployment:
        if not (deployment.settings.public or can(actor, deployment.guarded, Action.READ)):
            raise DeploymentNotFound(f"deployment {asked} not found")
        return deployment

    def ready_replicas(self, deployment: Deployment) -> int:
        return self.known_ready_replicas(deployment) or 0

    def known_ready_replicas(self, deployment: Deployment) -> int | None:
        """Ready replicas on this server; None when it runs none of the deployment's (another
        server sharing the database may)."""
        pool = self.serving.pool(deployment.id)
        return len(pool.ready()) if pool is not None else None

    # -- predicting ------------------------------------------------------------------------

    async def predict(self, actor: User, deployment: Deployment, data: Any) -> Prediction:
        started = time.perf_counter()
        outcome = "ok"
        try:
            pool = await self._pool(actor, deployment)
            self._validate(pool, data)
            result = await pool.predict(data)
            return Prediction(deployment=pool.deployment, result=result)
        except RegistryError as exc:
            outcome = str(exc.code)
            raise
        finally:
            self.metrics.observe(deployment.id, outcome, time.perf_counter() - started)

    async def _pool(self, actor: User, deployment: Deployment) -> ServedPool:
        pool = self.serving.pool(deployment.id)
        if pool is not None and pool.ready():
            return pool
        if (
            deployment.state == DeploymentState.STOPPED
            and deployment.settings.deploy_on_predict
            and actor is not ANONYMOUS  # a deploy is made by someone
        ):
            await run_in_threadpool(self.deployments.redeploy, actor, deployment)
            return await self._wait_ready(deployment)
        if deployment.state != DeploymentState.ACTIVE:
            why = f": {deployment.status_message}" if deployment.status_message else ""
            raise Unavailable(
                f"deployment {deployment.name} is {deployment.state}, not ACTIVE{why}",
                details={"state": str(deployment.state)},
            )
        if pool is None:
            raise Unavailable(
                f"deployment {deployment.name} is starting on this server; try again shortly"
            )
        return pool

    async def _wait_ready(self, deployment: Deployment) -> ServedPool:
        """Wait for a deployment brought back by a prediction, up to its request timeout;
        Unavailable with the reason as soon as its deploy failed (or it was undeployed)."""
        deadline = time.monotonic() + deployment.settings.request_timeout_s
        next_check = time.monotonic() + _STATE_CHECK_S
        while time.monotonic() < deadline:
            pool = self.serving.pool(deployment.id)
            if pool is not None and pool.ready():
                return pool
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + _STATE_CHECK_S
                now = await self._stored(deployment.id)
                if now is None or now.state in (DeploymentState.FAILED, DeploymentState.STOPPED):
                    state = "deleted" if now is None else str(now.state)
                    why = f": {now.status_message}" if now and now.status_message else ""
                    raise Unavailable(
                        f"deployment {deployment.name} was being deployed again and is {state}"
                        f"{why}",
                        details={"state": state},
                    )
            await asyncio.sleep(0.05)
        raise Unavailable(
            f"deployment {deployment.name} is being deployed again; it was not ready within "
            f"{deployment.settings.request_timeout_s:g} s, try again shortly"
        )

    @staticmethod
    def _validate(pool: ServedPool, data: Any) -> None:
        if pool.input_validator is None:
            return
        problems = pool.input_validator.problems(data, root="data", limit=5)
        if problems:
            errors = [
                FieldError(field=p.partition(": ")[0], message=p.partition(": ")[2] or p)
                for p in problems
            ]
            raise InvalidArgument(
                f"{problems[0]} (the input schema of version {pool.deployment.version})",
                errors=errors,
            )
