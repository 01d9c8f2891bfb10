"""OpenSearch ML Commons' REST API (``/_plugins/_ml``), so its users and ``opensearch-py-ml``
work unchanged against modelyard (docs/opensearch.md).

- A model group is a modelyard model in the namespace ``opensearch`` (group names are unique
  there); ``access_mode`` is its access level, ``backend_roles`` its teams.
- An ML Commons model is a version of its group's model (``model_id`` is the version's id,
  ``model_version`` its number), registered from the URL of its zip (a URL import task) or in
  chunks (an upload session); its runtime is the ``text_embedding`` flavor.
- A task is a modelyard task; deploying is a deployment of the version; predictions go through
  modelyard's serving.
- Callers authenticate with ``Authorization: Bearer <token>`` or HTTP Basic with their user
  name and an API token as the password. Errors answer in OpenSearch's shape (``errors``).

The dialect translates and holds no rules: every call goes to the same service-layer use cases,
permissions and storage as the native API.
"""

from __future__ import annotations

from fastapi import FastAPI

import modelyard
from modelyard.dialects.opensearch import errors, groups, models, predict, tasks
from modelyard.dialects.opensearch.errors import too_large

PREFIX = "/_plugins/_ml"


def create_opensearch_app(parent: FastAPI) -> FastAPI:
    """The dialect's app, to mount at :data:`PREFIX`; it shares ``parent``'s state (the
    service, uploads, imports, bundles, gateway), read at request time."""
    app = FastAPI(
        title="modelyard: OpenSearch ML Commons API",
        version=modelyard.__version__,
        description=__doc__,
        openapi_url="/openapi.json",
    )
    app.state = parent.state
    for module in (groups, models, tasks, predict):
        app.include_router(module.router)
    errors.install(app)
    return app


__all__ = ["PREFIX", "create_opensearch_app", "too_large"]
