"""Deployments: desired state for serving one version, carried out by a serving backend.

A deployment is created ``PENDING`` together with a ``DEPLOY`` task. The task (run by the
task runner) makes it ``DEPLOYING``, asks the backend to bring up its replicas, and ends it
``ACTIVE``, or ``FAILED`` with a message a person can act on. Undeploying makes it ``STOPPED``.
The database holds what is wanted; each server's reconciler (``modelyard.serving``) drives what
runs towards it: replicas of ``ACTIVE`` deployments come back after a restart, crashed ones are
restarted, scaled ones gain or lose replicas, stopped ones go away.

Only the model's owner (or an admin) deploys, changes or undeploys; anyone who may read the
model may read its deployments and predict with them. A version with a live deployment cannot
be deleted, nor its model, until it is undeployed (:meth:`DeploymentService.guard_delete`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from modelyard.domain.access import Action, Guarded
from modelyard.domain.audit import Auditor, audited, touched
from modelyard.domain.directory import can, writable_token
from modelyard.domain.entities import ModelVersion, Page, User
from modelyard.domain.enums import AccessLevel, VersionState
from modelyard.domain.ids import Name, Tag, new_id
from modelyard.domain.runtime import CheckState
from modelyard.domain.service import RegistryService, validated
from modelyard.domain.tasks import Interrupted, NewTask, Task, TaskFailed, TaskKind, TaskStore
from modelyard.errors import (
    AlreadyExists,
    DeploymentNotFound,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    RegistryError,
    TagNotFound,
    VersionNotFound,
)

log = logging.getLogger("modelyard.deployments")

MAX_REPLICAS = 64


class DeploymentState(StrEnum):
    PENDING = "PENDING"
    DEPLOYING = "DEPLOYING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


#: States in which a deployment holds (or is about to hold) replicas.
LIVE = (DeploymentState.PENDING, DeploymentState.DEPLOYING, DeploymentState.ACTIVE)


class ServingBackend(StrEnum):
    LOCAL = "local"
    RAY = "ray"


class Batching(BaseModel):
    """Adaptive micro-batching: concurrent requests are grouped into one model call of at most
    ``max_batch_size`` requests, waiting at most ``max_wait_ms`` for a batch to fill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_size: int = Field(default=1, ge=1, le=1024)
    max_wait_ms: float = Field(default=0.0, ge=0, le=1000)


class DeploymentSettings(BaseModel):
    """What a deployer chooses; every field can change on a live deployment but ``backend``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    batching: Batching = Field(default_factory=Batching)
    memory_mb: int | None = Field(
        default=None, ge=256, le=1 << 20, description="Memory limit of each replica, in MiB."
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Longest a prediction may take, in seconds."
    )
    idle_ttl_s: float | None = Field(
        default=None,
        gt=0,
        description="Undeploy after this many seconds without a prediction; unset: never.",
    )
    deploy_on_predict: bool = Field(
        default=False,
        description="A prediction to this deployment while it is STOPPED deploys it again.",
    )
    public: bool = Field(
        default=False,
        description="Anyone may predict with it by its id or V2 name, without a token; the "
        "model itself stays as visible as its access level says.",
    )


@dataclass(frozen=True, kw_only=True)
class Deployment:
    id: str
    name: str
    model_id: str
    namespace: str
    model: str
    model_owner: str
    model_access: AccessLevel
    model_teams: tuple[str, ...]
    version_id: str
    version: str
    version_number: int
    backend: ServingBackend
    settings: DeploymentSettings
    forced: bool
    state: DeploymentState
    status_message: str | None
    task_id: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None

    @property
    def guarded(self) -> Guarded:
        return Guarded(
            id=self.model_id,
            namespace=self.namespace,
            owner=self.model_owner,
            access=self.model_access,
            teams=frozenset(self.model_teams),
        )

    @property
    def live(self) -> bool:
        return self.state in LIVE


@dataclass(frozen=True, kw_only=True)
class NewDeployment:
    id: str
    name: str
    model_id: str
    version_id: str
    backend: ServingBackend
    settings: DeploymentSettings
    forced: bool
    created_by_id: str
    created_at: datetime


class DeploymentStore(Protocol):
    """Persistence of deployments (the desired state)."""

    def create_deployment(self, deployment: NewDeployment) -> Deployment:
        """Insert ``PENDING``; raises AlreadyExists when ``name`` is held by a live one."""
        ...

    def get_deployment(self, deployment_id: str) -> Deployment | None: ...

    def find_deployment(self, name: str) -> Deployment | None:
        """The live deployment of that name, else the newest of that name."""
        ...

    def list_deployments(
        self,
        viewer: User | None,
        *,
        version_id: str | None = None,
        model_id: str | None = None,
        states: tuple[DeploymentState, ...] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Deployment]:
        """Newest first; ``viewer`` None lists every deployment (the reconciler's view)."""
        ...

    def update_deployment(
        self,
        deployment_id: str,
        changes: Mapping[str, Any],
        *,
        only_in: tuple[DeploymentState, ...] | None = None,
    ) -> Deployment | None:
        """Apply ``changes`` (columns: state, status_message, settings, task_id, last_used_at)
        if the deployment is in one of ``only_in``; the result, or None when it was not."""
        ...


class Serving(Protocol):
    """What the deploy task needs of the backend that runs replicas."""

    def bring_up(self, deployment: Deployment, heartbeat: Callable[[], None]) -> None:
        """Prepare the version (files, environment) and start the deployment's replicas;
        returns once they answer, raises RegistryError (or TaskFailed) saying why not."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeploymentService:
    def __init__(
        self,
        registry: RegistryService,
        store: DeploymentStore,
        tasks: TaskStore,
        *,
        default_backend: ServingBackend = ServingBackend.LOCAL,
        backends: tuple[ServingBackend, ...] = (ServingBackend.LOCAL,),
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.registry = registry
        self.store = store
        self.tasks = tasks
        self.default_backend = default_backend
        self.backends = backends
        self.serving: dict[ServingBackend, Serving] = {}
        #: Called with a deployment right after it was changed or stopped (on this server).
        self.on_change: list[Callable[[Deployment], None]] = []
        self._wake = wake
        self._clock = clock
        registry.delete_guards.append(self.guard_delete)

    @property
    def auditor(self) -> Auditor | None:
        return self.registry.auditor

    # -- deploying -------------------------------------------------------------------------

    @audited("deployment.create")
    def deploy(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        *,
        version: str | None = None,
        tag: str | None = None,
        name: str | None = None,
        backend: ServingBackend | str | None = None,
        settings: DeploymentSettings | Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> tuple[Deployment, Task]:
        """(Owner or admin) deploy a READY version, named by label/number or by tag; the
        deployment (PENDING) and the task that deploys it."""
        if (version is None) == (tag is None):
            raise InvalidArgument("give exactly one of version or tag", field="version")
        if tag is not None:
            version = self.registry.version_by_tag(actor, namespace, model_name, tag).label
        assert version is not None
        model, found = self.registry.writable_version(
            actor, namespace, model_name, version, Action.DEPLOY
        )
        self._deployable(found, force)
        chosen = self._backend(backend)
        deployment = self.store.create_deployment(
            NewDeployment(
                id=new_id(),
                name=self._name(name, model.name),
                model_id=model.id,
                version_id=found.id,
                backend=chosen,
                settings=self._settings(settings),
                forced=force,
                created_by_id=actor.id,
                created_at=self._clock(),
            )
        )
        return self._submit(actor, deployment)

    @staticmethod
    def _deployable(version: ModelVersion, force: bool) -> None:
        if version.state != VersionState.READY:
            raise FailedPrecondition(
                f"version {version.label} is {version.state}; only READY versions are deployed "
                f"(finish it first: `modelyard versions finish {version.namespace}/"
                f"{version.model} {version.label}`)",
                details={"state": str(version.state)},
            )
        if version.checks is not None and version.checks.state == CheckState.FAILED and not force:
            failed = ", ".join(r.id for r in version.checks.failures())
            raise FailedPrecondition(
                f"version {version.label} failed its checks ({failed}); fix the bundle, or "
                "deploy anyway with force=true",
                details={"checks": str(version.checks.state)},
            )

    def _backend(self, value: ServingBackend | str | None) -> ServingBackend:
        if value is None:
            return self.default_backend
        try:
            backend = ServingBackend(value)
        except ValueError:
            raise InvalidArgument(
                f"backend must be one of {', '.join(b.value for b in ServingBackend)}, "
                f"got {value!r}",
                field="backend",
            ) from None
        if backend not in self.backends:
            raise InvalidArgument(
                f"backend {backend} is not configured on this server (it runs: "
                f"{', '.join(self.backends)})",
                field="backend",
            )
        return backend

    @staticmethod
    def _name(value: str | None, default: str) -> str:
        if value is None:
            return default
        return str(Name.parse(value, "name"))

    @staticmethod
    def _settings(value: DeploymentSettings | Mapping[str, Any] | None) -> DeploymentSettings:
        if isinstance(value, DeploymentSettings):
            return value
        return validated(DeploymentSettings, dict(value or {}), "settings")

    def _submit(self, actor: User, deployment: Deployment) -> tuple[Deployment, Task]:
        task = self.tasks.create_task(
            NewTask(
                id=new_id(),
                kind=TaskKind.DEPLOY,
                created_by_id=actor.id,
                model_id=deployment.model_id,
                version_id=deployment.version_id,
                params={"deployment": deployment.id},
                created_at=self._clock(),
            )
        )
        submitted = self.store.update_deployment(deployment.id, {"task_id": task.id})
        self._wake()
        return submitted or deployment, task

    # -- reading ---------------------------------------------------------------------------

    def get(self, actor: User, deployment_id: str) -> Deployment:
        deployment = self.store.get_deployment(deployment_id) if Name.valid(deployment_id) else None
        if deployment is not None:
            touched(
                deployment.namespace,
                deployment.model,
                deployment.model_id,
                hidden=not can(actor, deployment.guarded, Action.READ),
            )
        if deployment is None or not can(actor, deployment.guarded, Action.READ):
            raise DeploymentNotFound(
                f"deployment {deployment_id} not found; `modelyard deployments` lists the "
                "deployments you can see"
            )
        return deployment

    def by_name(self, actor: User, name: str) -> Deployment:
        """The live deployment named ``name`` (the KServe V2 model name), else its newest."""
        deployment = self.store.find_deployment(name) if Name.valid(name) else None
        if deployment is None or not can(actor, deployment.guarded, Action.READ):
            raise DeploymentNotFound(f"no deployment named {name!r}")
        return deployment

    def for_version(self, actor: User, namespace: str, model_name: str, ref: str) -> Deployment:
        """The live deployment of a version (by label, number or tag, e.g. ``production``)."""
        try:
            version = self.registry.get_version(actor, namespace, model_name, ref)
        except VersionNotFound:
            if not Tag.valid(ref):
                raise
            try:
                version = self.registry.version_by_tag(actor, namespace, model_name, ref)
            except TagNotFound:
                raise VersionNotFound(
                    f"no version of {namespace}/{model_name} is labelled or tagged {ref!r}"
                ) from None
        page = self.store.list_deployments(None, version_id=version.id, states=LIVE, page_size=1)
        if not page.items:
            raise DeploymentNotFound(
                f"version {version.label} of {namespace}/{model_name} is not deployed; "
                f"`modelyard deploy {namespace}/{model_name} {version.label}` deploys it"
            )
        return page.items[0]

    def newest_of_version(self, actor: User, version_id: str) -> Deployment | None:
        """The newest deployment (live or not) of a version, if ``actor`` may read its model;
        None when it was never deployed or is not visible."""
        page = self.store.list_deployments(actor, version_id=version_id, page_size=1)
        return page.items[0] if page.items else None

    def list(
        self,
        actor: User,
        *,
        state: DeploymentState | str | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Deployment]:
        states = None
        if state is not None:
            try:
                states = (DeploymentState(state),)
            except ValueError:
                raise InvalidArgument(
                    f"state must be one of {', '.join(DeploymentState)}, got {state!r}",
                    field="state",
                ) from None
        if not 1 <= page_size <= 1000:
            raise InvalidArgument("page_size must be between 1 and 1000", field="page_size")
        return self.store.list_deployments(
            actor, states=states, page_size=page_size, page_token=page_token
        )

    # -- changing --------------------------------------------------------------------------

    def _writable(self, actor: User, deployment_id: str) -> Deployment:
        deployment = self.get(actor, deployment_id)
        if actor.read_only:
            writable_token(actor)
        if not can(actor, deployment.guarded, Action.DEPLOY):
            raise PermissionDenied(
                f"only the owner ({deployment.model_owner}), namespace admins and admins may "
                f"change the deployments of {deployment.namespace}/{deployment.model}"
            )
        return deployment

    @audited("deployment.update")
    def update(self, actor: User, deployment_id: str, changes: Mapping[str, Any]) -> Deployment:
        """(Owner or admin) change replicas, batching, limits or policies; a live deployment's
        replicas follow within a reconcile interval, without dropping requests."""
        deployment = self._writable(actor, deployment_id)
        merged = {**deployment.settings.model_dump(), **dict(changes)}
        if "batching" in changes and isinstance(changes["batching"], Mapping):
            merged["batching"] = {
                **deployment.settings.batching.model_dump(),
                **dict(changes["batching"]),
            }
        settings = self._settings(merged)
        updated = self.store.update_deployment(deployment.id, {"settings": settings})
        assert updated is not None
        return self._changed(updated)

    @audited("deployment.undeploy")
    def undeploy(self, actor: User, deployment_id: str) -> Deployment:
        """(Owner or admin) stop serving: STOPPED at once; replicas are stopped by the
        reconciler (within a second on this server)."""
        deployment = self._writable(actor, deployment_id)
        return self._stop(deployment, "undeployed by " + actor.name)

    def _stop(self, deployment: Deployment, why: str) -> Deployment:
        stopped = self.store.update_deployment(
            deployment.id,
            {"state": DeploymentState.STOPPED, "status_message": why},
            only_in=LIVE,
        )
        return self._changed(stopped or self.store.get_deployment(deployment.id) or deployment)

    def _changed(self, deployment: Deployment) -> Deployment:
        """Tell this server's backends at once (the reconciler would, within its interval)."""
        for hook in self.on_change:
            try:
                hook(deployment)
            except Exception:
                log.exception("following a change of deployment %s failed", deployment.id)
        return deployment

    def redeploy(self, actor: User, deployment: Deployment) -> tuple[Deployment, Task] | None:
        """Deploy a STOPPED deployment again (deploy-on-predict); None if it is not STOPPED."""
        again = self.store.update_deployment(
            deployment.id,
            {"state": DeploymentState.PENDING, "status_message": "deploying on a prediction"},
            only_in=(DeploymentState.STOPPED,),
        )
        if again is None:
            return None
        return self._submit(actor, again)

    def expire_idle(self, now: datetime | None = None) -> list[Deployment]:
        """Undeploy ACTIVE deployments whose idle time-to-live has passed."""
        now = now or self._clock()
        stopped = []
        active = self.store.list_deployments(None, states=(DeploymentState.ACTIVE,), page_size=1000)
        for deployment in active.items:
            ttl = deployment.settings.idle_ttl_s
            since = deployment.last_used_at or deployment.updated_at
            if ttl is not None and (now - since).total_seconds() > ttl:
                stopped.append(self._stop(deployment, f"idle for more than {ttl:g} s"))
        return stopped

    def guard_delete(self, model_id: str, version_id: str | None) -> None:
        """Refuse deleting a model or version that a live deployment serves."""
        live = self.store.list_deployments(
            None, model_id=model_id, version_id=version_id, states=LIVE, page_size=1
        ).items
        if live:
            d = live[0]
            what = f"version {d.version}" if version_id else f"model {d.namespace}/{d.model}"
            raise FailedPrecondition(
                f"{what} is deployed (deployment {d.id}, {d.state}); undeploy it first: "
                f"`modelyard deployments undeploy {d.id}`",
                details={"deployment": d.id},
            )

    # -- the deploy task -------------------------------------------------------------------

    def run(self, task: Task, heartbeat: Callable[[], None]) -> dict[str, Any]:
        """Run a DEPLOY task: PENDING -> DEPLOYING -> ACTIVE, or FAILED with the reason."""
        deployment_id = task.params.get("deployment", "")
        deployment = self.store.update_deployment(
            deployment_id,
            {"state": DeploymentState.DEPLOYING, "status_message": None},
            only_in=(DeploymentState.PENDING, DeploymentState.DEPLOYING),
        )
        if deployment is None:
            current = self.store.get_deployment(deployment_id)
            state = current.state if current else "deleted"
            raise TaskFailed(f"deployment {deployment_id} is {state}; nothing to deploy")
        serving = self.serving.get(deployment.backend)
        try:
            if serving is None:
                raise TaskFailed(f"this server cannot run {deployment.backend} deployments")
            serving.bring_up(deployment, heartbeat)
        except Interrupted:
            raise  # the server is stopping: the task is handed back and run again
        except Exception as exc:
            if isinstance(exc, RegistryError):
                message = exc.message
            elif isinstance(exc, TaskFailed):
                message = str(exc)
            else:
                log.exception("deploying %s failed", deployment.id)
                message = f"internal error: {type(exc).__name__}: {exc}"
            self.store.update_deployment(
                deployment.id,
                {"state": DeploymentState.FAILED, "status_message": message},
                only_in=(DeploymentState.DEPLOYING,),
            )
            raise TaskFailed(message) from exc
        active = self.store.update_deployment(
            deployment.id,
            # Its idle time starts now, not at a prediction before an earlier undeploy.
            {
                "state": DeploymentState.ACTIVE,
                "status_message": None,
                "last_used_at": self._clock(),
            },
            only_in=(DeploymentState.DEPLOYING,),
        )
        if active is None:
            raise TaskFailed("the deployment was undeployed while it was being deployed")
        return {"deployment": deployment.id, "state": str(DeploymentState.ACTIVE)}


def name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"a live deployment is already named {name!r}; give another name, or undeploy it",
        field="name",
    )
