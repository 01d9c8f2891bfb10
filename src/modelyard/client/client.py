"""``Client``: the entry point of the Python SDK."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from modelyard.api import schemas as s
from modelyard.client._files import PathLike
from modelyard.client._transport import (
    DEFAULT_TIMEOUT,
    Transport,
    default_token,
    default_url,
    paginate,
    segment,
)
from modelyard.client.access import AccessCalls
from modelyard.client.deployments import PATH as DEPLOYMENTS
from modelyard.client.deployments import Deployment
from modelyard.client.events import EventCalls
from modelyard.client.resources import Model
from modelyard.client.tasks import get_task, wait_for
from modelyard.domain.enums import AccessLevel


def split_name(name: str, namespace: str = "default") -> tuple[str, str]:
    """``"ns/name"`` -> ``("ns", "name")``; a bare name is in ``namespace``."""
    if "/" in name:
        ns, _, bare = name.partition("/")
        return ns, bare
    return namespace, name


class Client(AccessCalls, EventCalls):
    """A connection to one modelyard server.

    ``url`` defaults to ``MODELYARD_URL``, else ``http://127.0.0.1:8700``; ``token`` to
    ``MODELYARD_TOKEN``, else the file ``$MODELYARD_HOME/token`` (``~/.modelyard/token``) that
    the server writes on first start. ``timeout`` (seconds or an ``httpx.Timeout``) bounds
    ordinary calls; file transfers have no read or write limit. Close it, or use ``with``.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or default_url()).rstrip("/")
        self._t = Transport(self.url, token or default_token(), timeout, transport)

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<modelyard.Client {self.url}>"

    # -- models ------------------------------------------------------------------------

    def new_model(
        self,
        name: str,
        owner: str | None = None,
        namespace: str = "default",
        task: str | None = None,
        description: str | None = None,
        artifacts: Iterable[PathLike] | None = None,
        metadata: Mapping[str, Any] | None = None,
        access: AccessLevel | str = "private",
        model_card: str | None = None,
        teams: Iterable[str] | None = None,
        add_all_backend_roles: bool = False,
        protected_tags: Iterable[str] = (),
    ) -> Model:
        """Create a model; ``artifacts`` (local files or directories, or URIs to track) become
        model-level files. A ``restricted`` model lists ``teams`` that may read it (or, with
        ``add_all_backend_roles``, all of its owner's teams); ``protected_tags`` move only by
        the owner's (or an admin's) hand."""
        namespace, name = split_name(name, namespace)
        body = s.ModelCreate(
            name=name,
            namespace=namespace,
            owner=owner,
            task=task,
            description=description,
            metadata=dict(metadata or {}),
            model_card=model_card,
            access=AccessLevel(access),
            teams=list(teams) if teams is not None else None,
            add_all_backend_roles=add_all_backend_roles,
            protected_tags=list(protected_tags),
        )
        info = self._t.call("POST", "/api/v1/models", s.ModelOut, json=body.model_dump(mode="json"))
        model = Model(self._t, info)
        model._add_artifacts(artifacts)
        return model

    def get_model(self, name: str, namespace: str = "default") -> Model:
        """A model by name (``"name"`` in ``namespace``, or ``"ns/name"``)."""
        namespace, name = split_name(name, namespace)
        path = f"/api/v1/models/{segment(namespace)}/{segment(name)}"
        return Model(self._t, self._t.call("GET", path, s.ModelOut))

    def list_models(
        self,
        namespace: str | None = None,
        name_prefix: str | None = None,
        name_contains: str | None = None,
        owner: str | None = None,
        task: str | None = None,
        tag: str | None = None,
        page_size: int = 50,
    ) -> Iterator[Model]:
        """Models you can see, matching every filter given; pages are fetched lazily."""
        filters = {
            "namespace": namespace,
            "name_prefix": name_prefix,
            "name_contains": name_contains,
            "owner": owner,
            "task": task,
            "tag": tag,
            "page_size": page_size,
        }

        def fetch(token: str | None) -> tuple[list[Model], str | None]:
            params = {**filters, "page_token": token}
            page = self._t.call("GET", "/api/v1/models", s.ModelList, params=params)
            return [Model(self._t, m) for m in page.models], page.next_page_token

        return paginate(fetch)

    # -- users and tokens --------------------------------------------------------------

    def whoami(self) -> s.MeOut:
        """You: name, teams, namespace roles, and whether this token is read-only."""
        return self._t.call("GET", "/api/v1/me", s.MeOut)

    def create_user(self, name: str, is_admin: bool = False) -> s.UserOut:
        """Admins only."""
        body = {"name": name, "is_admin": is_admin}
        return self._t.call("POST", "/api/v1/users", s.UserOut, json=body)

    def list_users(self) -> list[s.UserOut]:
        return self._t.call("GET", "/api/v1/users", s.UserList).users

    # -- tasks -------------------------------------------------------------------------

    def get_task(self, task_id: str) -> s.TaskOut:
        """A task (such as a URL import) on a model you can read."""
        return get_task(self._t, task_id)

    def wait_task(self, task_id: str, timeout: float | None = None) -> s.TaskOut:
        """Poll a task until it ends; a FAILED task raises FailedPrecondition with its error."""
        return wait_for(self._t, task_id, timeout)

    def list_tasks(self, state: str | None = None, page_size: int = 50) -> Iterator[s.TaskOut]:
        """Tasks on models you can see, newest first; ``state`` filters."""

        def fetch(token: str | None) -> tuple[list[s.TaskOut], str | None]:
            params = {"state": state, "page_size": page_size, "page_token": token}
            page = self._t.call("GET", "/api/v1/tasks", s.TaskList, params=params)
            return page.tasks, page.next_page_token

        return paginate(fetch)

    # -- deployments -------------------------------------------------------------------

    def get_deployment(self, deployment_id: str) -> Deployment:
        return Deployment(
            self._t, self._t.call("GET", f"{DEPLOYMENTS}/{segment(deployment_id)}", s.DeploymentOut)
        )

    def list_deployments(
        self, state: str | None = None, page_size: int = 100
    ) -> Iterator[Deployment]:
        """Deployments of models you can see, newest first; ``state`` filters."""

        def fetch(token: str | None) -> tuple[list[Deployment], str | None]:
            params = {"state": state, "page_size": page_size, "page_token": token}
            page = self._t.call("GET", DEPLOYMENTS, s.DeploymentList, params=params)
            return [Deployment(self._t, d) for d in page.deployments], page.next_page_token

        return paginate(fetch)
