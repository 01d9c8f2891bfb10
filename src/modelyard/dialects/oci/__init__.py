"""The OCI Data Science model catalog (``/20190101``), so that ADS's ``GenericModel.save()``
and ``GenericModel.from_model_catalog()`` and the ``oci`` SDK work against modelyard with a
service endpoint override (docs/oci.md).

- A project is a modelyard namespace (``projectId`` is its name), a model version set is a
  model (``modelVersionSetId`` its id), and a catalog model is a version (its ``id`` is the
  version's). Creating a catalog model makes a PENDING version; uploading its artifact (a zip)
  stores the members as the version's files and makes it READY, and the checks run on it as on
  any version; downloading it answers the files as a zip.
- Every request is signed with OCI's HTTP signature scheme by a key the user registered with
  modelyard (``POST /api/v1/users/me/keys``, ``modelyard keys add``); the request acts as that
  user, under the same permissions as on every other surface. Errors answer in OCI's shape,
  ``{"code", "message"}``, with the request's ``opc-request-id``.

The dialect translates and holds no rules of its own.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import modelyard
from modelyard.dialects.oci import errors, models
from modelyard.dialects.oci.errors import too_large

PREFIX = "/20190101"


class OpcRequestId:
    """Answers every request with an ``opc-request-id``: the client's, or the request's id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers", [])).get(b"opc-request-id", b"")[:128]
        rid = sent or str(scope.get("state", {}).get("request_id", "")).encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"opc-request-id", rid)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_oci_app(parent: FastAPI) -> FastAPI:
    """The dialect's app, to mount at :data:`PREFIX`; it shares ``parent``'s state (the
    service, bundles, signing keys), read at request time."""
    app = FastAPI(
        title="modelyard: OCI Data Science model catalog",
        version=modelyard.__version__,
        description=__doc__,
        openapi_url="/openapi.json",
    )
    app.state = parent.state
    app.include_router(models.router)
    errors.install(app)
    app.add_middleware(OpcRequestId)
    return app


__all__ = ["PREFIX", "create_oci_app", "too_large"]
