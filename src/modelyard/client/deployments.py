"""``Deployment``: a version served as an endpoint (``ModelVersion.deploy``), to predict with,
scale and undeploy."""

from __future__ import annotations

import time
from typing import Any

from modelyard.api import schemas as s
from modelyard.client._transport import Transport, segment
from modelyard.domain.deployments import DeploymentState
from modelyard.errors import FailedPrecondition

PATH = "/api/v1/deployments"


def deployment_body(
    *,
    replicas: int | None = None,
    max_batch_size: int | None = None,
    max_wait_ms: float | None = None,
    memory_mb: int | None = None,
    request_timeout_s: float | None = None,
    idle_ttl_s: float | None = None,
    deploy_on_predict: bool | None = None,
    public: bool | None = None,
) -> dict[str, Any]:
    """The settings part of a deployment request; unset ones are left out."""
    body: dict[str, Any] = {
        "replicas": replicas,
        "memory_mb": memory_mb,
        "request_timeout_s": request_timeout_s,
        "idle_ttl_s": idle_ttl_s,
        "deploy_on_predict": deploy_on_predict,
        "public": public,
    }
    batching = {"max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms}
    if any(v is not None for v in batching.values()):
        body["batching"] = {k: v for k, v in batching.items() if v is not None}
    return {k: v for k, v in body.items() if v is not None}


class Deployment:
    def __init__(self, transport: Transport, info: s.DeploymentOut) -> None:
        self._t = transport
        self.info = info

    def __repr__(self) -> str:
        i = self.info
        return f"Deployment({i.id!r}, {i.namespace}/{i.model}:{i.version}, {i.state})"

    @property
    def _path(self) -> str:
        return f"{PATH}/{segment(self.info.id)}"

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def state(self) -> DeploymentState:
        return self.info.state

    @property
    def replicas(self) -> int:
        return self.info.replicas

    def refresh(self) -> Deployment:
        self.info = self._t.call("GET", self._path, s.DeploymentOut)
        return self

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> Deployment:
        """Wait until ACTIVE with a replica answering; FailedPrecondition (with the reason)
        when it FAILED or was STOPPED, TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = min(poll, 0.05)
        while True:
            info = self.refresh().info
            if info.state == DeploymentState.ACTIVE and info.replicas_ready > 0:
                return self
            if info.state in (DeploymentState.FAILED, DeploymentState.STOPPED):
                raise FailedPrecondition(
                    f"deployment {info.name} is {info.state}: {info.status_message}",
                    details={"state": str(info.state)},
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"deployment {info.name} is still {info.state} after {timeout} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, poll)

    def predict(self, data: Any) -> Any:
        """The model's answer to ``data`` (JSON: rows, or an object of named inputs)."""
        out = self._t.call(
            "POST", self._path + "/predict", s.PredictOut, json={"data": data}, long=True
        )
        return out.predictions

    def update(
        self,
        *,
        replicas: int | None = None,
        max_batch_size: int | None = None,
        max_wait_ms: float | None = None,
        memory_mb: int | None = None,
        request_timeout_s: float | None = None,
        idle_ttl_s: float | None = None,
        deploy_on_predict: bool | None = None,
        public: bool | None = None,
    ) -> Deployment:
        """Scale or reconfigure; live replicas follow without dropping requests. ``public``
        lets anyone predict with it without a token."""
        body = deployment_body(
            replicas=replicas,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            memory_mb=memory_mb,
            request_timeout_s=request_timeout_s,
            idle_ttl_s=idle_ttl_s,
            deploy_on_predict=deploy_on_predict,
            public=public,
        )
        self.info = self._t.call("PATCH", self._path, s.DeploymentOut, json=body)
        return self

    def scale(self, replicas: int) -> Deployment:
        return self.update(replicas=replicas)

    def undeploy(self) -> Deployment:
        """Stop serving (STOPPED); the version can then be deleted."""
        self.info = self._t.call("DELETE", self._path, s.DeploymentOut)
        return self
