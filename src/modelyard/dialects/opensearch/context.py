"""What each request of the dialect works with: the authenticated caller and the server's use
cases, read from the parent app's state at request time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.datastructures import State

from modelyard.api.deps import Caller, authenticated
from modelyard.domain.bundles import Bundles
from modelyard.domain.deployments import DeploymentService
from modelyard.domain.entities import Model, ModelVersion
from modelyard.domain.imports import ImportService
from modelyard.domain.service import RegistryService
from modelyard.domain.uploads import UploadSessions
from modelyard.errors import FailedPrecondition, ModelNotFound, VersionNotFound
from modelyard.serving.gateway import Gateway

#: The namespace whose models are ML Commons' model groups (group names are unique in it).
NAMESPACE = "opensearch"

T = TypeVar("T")


def _enabled(value: T | None, what: str) -> T:
    if value is None:
        raise FailedPrecondition(f"{what} are not enabled on this server")
    return value


@dataclass(frozen=True, slots=True)
class OpenSearch:
    """The caller and the use cases of one request."""

    caller: Caller
    state: State

    @property
    def service(self) -> RegistryService:
        return self.caller.service

    @property
    def imports(self) -> ImportService:
        return _enabled(self.state.imports, "URL imports and tasks")

    @property
    def uploads(self) -> UploadSessions:
        return _enabled(self.state.uploads, "chunked uploads")

    @property
    def bundles(self) -> Bundles:
        bundles: Bundles = self.state.bundles
        return bundles

    @property
    def deployments(self) -> DeploymentService:
        return _enabled(self.state.deployments, "deployments")

    @property
    def gateway(self) -> Gateway:
        return _enabled(self.state.gateway, "deployments")

    async def __call__(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a use case as the caller, in the worker thread pool."""
        return await self.caller(method, *args, **kwargs)

    def group(self, group_id: str) -> Model:
        """The model group ``group_id`` (a model of :data:`NAMESPACE`), if the caller may
        see it; runs in a worker thread."""
        model = self.service.get_model_by_id(self.caller.user, group_id)
        if model.namespace != NAMESPACE:
            raise ModelNotFound(f"model group {group_id!r} not found")
        return model

    def model(self, model_id: str) -> tuple[Model, ModelVersion]:
        """ML Commons' model ``model_id`` (a version of a group), if the caller may see it;
        runs in a worker thread."""
        model, version = self.service.get_version_by_id(self.caller.user, model_id)
        if model.namespace != NAMESPACE:
            raise VersionNotFound(f"model {model_id!r} not found")
        return model, version


async def opensearch(request: Request) -> OpenSearch:
    """Authenticate the request: ``Authorization: Bearer <token>``, or HTTP Basic with a user
    name and one of that user's API tokens as the password."""
    state: State = request.app.state
    return OpenSearch(caller=authenticated(request, state.service, basic=True), state=state)


OpenSearchDep = Annotated[OpenSearch, Depends(opensearch)]
