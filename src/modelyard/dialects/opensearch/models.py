"""Models (``/models``): an ML Commons model is a version of its group's modelyard model.

Registering takes the model's zip (a TorchScript ``.pt`` or an ``.onnx`` file and its
``tokenizer.json``) from a URL (``models/_register``: a URL import task) or in chunks
(``models/meta``, then ``models/{id}/chunk/{n}``: an upload session; after the last chunk the
zip's SHA-256 is checked and its members become the version's files). Either way the version's
runtime is the ``text_embedding`` flavor configured by ``model_format`` and ``model_config``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from modelyard.api.routes.uploads import receive_chunk
from modelyard.dialects.opensearch import query
from modelyard.dialects.opensearch.context import NAMESPACE, OpenSearch, OpenSearchDep
from modelyard.dialects.opensearch.documents import (
    ALGORITHM,
    METADATA_KEY,
    MODEL_INDEX,
    NODE,
    deleted,
    model_source,
)
from modelyard.dialects.opensearch.groups import access_fields, all_groups
from modelyard.dialects.opensearch.schemas import ModelMeta, ModelRegister, Predict
from modelyard.dialects.opensearch.searching import SEARCH_BODY, search_body
from modelyard.domain.deployments import Deployment, DeploymentState
from modelyard.domain.entities import Model, ModelVersion, every
from modelyard.domain.enums import VersionState
from modelyard.domain.ids import Digest
from modelyard.domain.uploads import Chunk, UploadSession
from modelyard.errors import (
    AlreadyExists,
    DeploymentNotFound,
    FailedPrecondition,
    IntegrityError,
    InvalidArgument,
)

router = APIRouter(prefix="/models", tags=["models"])

#: The size of every chunk but the last (opensearch-py-ml's ``MODEL_CHUNK_MAX_SIZE``).
CHUNK_SIZE = 10_000_000
#: The file name a chunked zip is staged under (its members become the files).
ZIP_PATH = "model.zip"

_CHUNK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Bytes [n * 10,000,000, (n + 1) * 10,000,000) of the zip, raw (clients "
        "label them application/json).",
        "content": {
            "application/json": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _refuse_unsupported(body: ModelRegister | ModelMeta) -> None:
    if body.connector is not None or body.connector_id is not None:
        field = "connector" if body.connector is not None else "connector_id"
        raise InvalidArgument(
            f"{field}: remote models (connectors) are not supported; register a TorchScript "
            "or ONNX text-embedding model",
            field=field,
        )
    if body.function_name is not None and body.function_name.upper() != ALGORITHM:
        raise InvalidArgument(
            f"function_name: expected {ALGORITHM}, got {body.function_name!r}",
            field="function_name",
        )


def _version_fields(body: ModelRegister | ModelMeta, recorded: dict[str, Any]) -> dict[str, Any]:
    """The version's fields: its runtime from ``model_format`` and ``model_config``, which is
    also kept as given; what ML Commons records of the zip in the version's metadata."""
    config = body.model_config_
    embedding: dict[str, Any] = {
        "model_format": body.model_format,
        "framework_type": config.framework_type,
        "embedding_dimension": config.embedding_dimension,
    }
    if config.pooling_mode is not None:
        embedding["pooling_mode"] = config.pooling_mode
    if config.normalize_result is not None:
        embedding["normalize_result"] = config.normalize_result
    if config.model_max_length is not None:
        embedding["max_sequence_length"] = config.model_max_length
    if body.version is not None:
        recorded["version"] = str(body.version)
    return {
        "name": body.name,
        "description": body.description,
        "framework": str(body.model_format).lower(),
        "task": "text_embedding",
        "meta_info": {
            "embedding_dimension": config.embedding_dimension,
            "model_config": config.model_dump(mode="json", exclude_none=True),
        },
        "metadata": {METADATA_KEY: {k: v for k, v in recorded.items() if v is not None}},
        "runtime": {"flavor": "text_embedding", "text_embedding": embedding},
    }


def _group_for(os: OpenSearch, body: ModelRegister | ModelMeta) -> tuple[Model, bool]:
    """The group the model goes to, and whether it was just created (named after the model,
    with the body's access fields) because the body names none."""
    if body.model_group_id:
        if body.given():
            raise InvalidArgument(
                "access_mode: the model group's access is set on the group, not on its models",
                field="access_mode",
            )
        return os.group(body.model_group_id), False
    group = os.service.create_model(
        os.caller.user,
        name=body.name,
        namespace=NAMESPACE,
        description=body.description,
        **access_fields(body),
    )
    return group, True


def _undo_group(os: OpenSearch, group: Model, created: bool) -> None:
    if created:
        os.service.delete_model(os.caller.user, group.namespace, group.name)


@router.post("/_register")
async def register_model(body: ModelRegister, os: OpenSearchDep) -> dict[str, Any]:
    """Register a model from the URL of its zip: answers a REGISTER_MODEL task to poll."""
    _refuse_unsupported(body)
    if not body.url:
        raise InvalidArgument(
            "url: required; the model's zip is fetched from it (or upload it in chunks with "
            "models/meta); pretrained models by name are not supported",
            field="url",
        )
    digest = body.model_content_hash_value
    if digest is not None:
        digest = Digest.parse(digest, "model_content_hash_value")
    imports = os.imports
    fields = _version_fields(body, {"model_content_hash_value": digest})

    def register() -> str:
        group, created = _group_for(os, body)
        try:
            _, task = imports.create_version_from_bundle(
                os.caller.user, NAMESPACE, group.name, body.url or "", digest, **fields
            )
        except InvalidArgument as exc:
            _undo_group(os, group, created)
            if exc.field and exc.field.startswith("files."):
                raise InvalidArgument(exc.message.split(": ", 1)[-1], field="url") from None
            raise
        except BaseException:
            _undo_group(os, group, created)
            raise
        return task.id

    return {"task_id": await run_in_threadpool(register), "status": "CREATED"}


@router.post("/meta")
async def register_meta(body: ModelMeta, os: OpenSearchDep) -> dict[str, Any]:
    """Register a model whose zip follows in chunks of 10,000,000 bytes
    (``models/{model_id}/chunk/{n}``); the model is REGISTERING until the last one."""
    _refuse_unsupported(body)
    size = body.model_content_size_in_bytes
    expected = max(1, math.ceil(size / CHUNK_SIZE))
    if body.total_chunks != expected:
        raise InvalidArgument(
            f"total_chunks: {size} bytes in chunks of {CHUNK_SIZE} bytes are {expected} "
            f"chunks, not {body.total_chunks}",
            field="total_chunks",
        )
    digest = Digest.parse(body.model_content_hash_value, "model_content_hash_value")
    uploads = os.uploads
    recorded = {
        "model_content_hash_value": digest,
        "model_content_size_in_bytes": size,
        "total_chunks": body.total_chunks,
    }
    fields = _version_fields(body, recorded)
    user = os.caller.user

    def register() -> str:
        group, created = _group_for(os, body)
        try:
            version = os.service.create_version(user, NAMESPACE, group.name, **fields)
            ref = str(version.number)
            try:
                uploads.start(
                    user, NAMESPACE, group.name, ref, path=ZIP_PATH, size=size, sha256=digest
                )
            except BaseException:
                os.service.delete_version(user, NAMESPACE, group.name, ref)
                raise
        except BaseException:
            _undo_group(os, group, created)
            raise
        return version.id

    return {"model_id": await run_in_threadpool(register), "status": "CREATED"}


def _chunk_number(value: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise InvalidArgument(
            f"chunk_number: expected a chunk number from 0, got {value!r}", field="chunk_number"
        )
    return int(value)


def _check_range(number: int, total: int) -> None:
    if not 0 <= number < total:
        raise InvalidArgument(
            f"chunk_number: expected 0 to {total - 1} (the model has {total} chunks), got {number}",
            field="chunk_number",
        )


@router.post("/{model_id}/chunk/{chunk_number}", openapi_extra=_CHUNK_BODY)
async def upload_chunk(
    request: Request, model_id: str, chunk_number: str, os: OpenSearchDep
) -> Any:
    """Store chunk ``n`` of a model registered with ``models/meta``; after the last one the
    zip's SHA-256 is checked (a mismatch fails the model: REGISTER_FAILED) and its members
    become the model's files (REGISTERED). Sending a chunk again changes nothing."""
    number = _chunk_number(chunk_number)
    uploads = os.uploads
    user = os.caller.user

    def begin() -> tuple[Model, ModelVersion, Chunk | None]:
        model, version = os.model(model_id)
        ref = str(version.number)
        total = (version.metadata.get(METADATA_KEY) or {}).get("total_chunks")
        if version.state == VersionState.READY and isinstance(total, int):
            _check_range(number, total)
            return model, version, None  # a chunk sent again after the last one
        sessions = []
        if version.state == VersionState.PENDING:
            sessions = uploads.list_open(user, NAMESPACE, model.name, ref, path=ZIP_PATH)
        if not sessions:
            raise FailedPrecondition(
                f"model {model_id} takes no chunks: it is {version.state}, and only a model "
                "registered with models/meta takes them, from its registering user"
            )
        session = sessions[-1]
        _check_range(number, max(1, math.ceil(session.size / CHUNK_SIZE)))
        start = number * CHUNK_SIZE
        end = min(start + CHUNK_SIZE, session.size)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) != end - start:
            raise InvalidArgument(
                f"body: chunk {number} has {end - start} bytes, the request has {length}",
                field="body",
            )
        chunk = uploads.begin_chunk(
            user, NAMESPACE, model.name, ref, session.id, start=start, end=end, total=session.size
        )
        return model, version, chunk

    model, version, chunk = await run_in_threadpool(begin)
    if chunk is None:
        return {"status": "Uploaded"}
    session = await receive_chunk(request, chunk)
    if isinstance(session, Response):
        return session
    if session.complete:
        await run_in_threadpool(_complete, os, model, version, session)
    return {"status": "Uploaded"}


def _complete(os: OpenSearch, model: Model, version: ModelVersion, session: UploadSession) -> None:
    """After the last chunk: check the zip and store its members, then READY (or FAILED)."""
    user = os.caller.user
    ref = str(version.number)
    bundles = os.bundles

    def unpack(archive: Any) -> Any:
        return bundles.upload(user, NAMESPACE, model.name, ref, archive, locate_model_file=True)

    try:
        os.uploads.finish_archive(user, NAMESPACE, model.name, ref, session.id, unpack)
    except (IntegrityError, InvalidArgument) as exc:
        message = exc.message
        if isinstance(exc, IntegrityError):
            message = "model_content_hash_value: " + message.removeprefix("sha256: ")
            exc = IntegrityError(message, field="model_content_hash_value")
        os.service.fail_version(user, NAMESPACE, model.name, ref, message)
        raise exc from None
    os.service.finish_version(user, NAMESPACE, model.name, ref)


def model_document(
    os: OpenSearch, version: ModelVersion, newest: Mapping[str, Deployment] | None = None
) -> dict[str, Any]:
    """The model's ML Commons document; runs in a worker thread. ``newest``: the newest
    deployment of each version, when the caller has read them all at once (a search)."""
    deployment = None
    ready = None
    if newest is not None:
        deployment = newest.get(version.id)
    elif os.state.deployments is not None:
        deployment = os.deployments.newest_of_version(os.caller.user, version.id)
    if deployment is not None and os.state.gateway is not None:
        ready = os.gateway.known_ready_replicas(deployment)
    return model_source(version, deployment, ready)


def newest_deployments(os: OpenSearch) -> dict[str, Deployment]:
    """The newest deployment of each version the caller may see, read in pages of 1,000."""
    newest: dict[str, Deployment] = {}
    if os.state.deployments is None:
        return newest
    listing = every(
        lambda token: os.deployments.list(os.caller.user, page_size=1000, page_token=token)
    )
    for deployment in listing:  # newest first
        newest.setdefault(deployment.version_id, deployment)
    return newest


async def _search(request: Request, os: OpenSearch) -> dict[str, Any]:
    body = await search_body(request)
    user = os.caller.user

    def documents() -> list[query.Doc]:
        newest = newest_deployments(os)
        groups = all_groups(os.service, user)
        versions = os.service.versions_of(user, groups)
        return [
            query.Doc(id=v.id, source=model_document(os, v, newest))
            for group in groups
            for v in versions.get(group.id, ())
        ]

    return query.search(await run_in_threadpool(documents), body, index=MODEL_INDEX)


@router.post("/_search", openapi_extra=SEARCH_BODY)
async def search_models_post(request: Request, os: OpenSearchDep) -> dict[str, Any]:
    """Search the models the caller may see (the query DSL of ``query``)."""
    return await _search(request, os)


@router.get("/_search", openapi_extra=SEARCH_BODY)
async def search_models_get(request: Request, os: OpenSearchDep) -> dict[str, Any]:
    """The same search, as a GET with a body."""
    return await _search(request, os)


@router.get("/{model_id}")
async def get_model(model_id: str, os: OpenSearchDep) -> dict[str, Any]:
    def get() -> dict[str, Any]:
        return model_document(os, os.model(model_id)[1])

    return await run_in_threadpool(get)


@router.delete("/{model_id}")
async def delete_model(model_id: str, os: OpenSearchDep) -> dict[str, Any]:
    """Delete a model (its owner or an admin); refused while it is deployed."""

    def delete() -> None:
        model, version = os.model(model_id)
        os.service.delete_version(os.caller.user, NAMESPACE, model.name, str(version.number))

    await run_in_threadpool(delete)
    return deleted(MODEL_INDEX, model_id)


@router.post("/{model_id}/_deploy")
async def deploy_model(model_id: str, os: OpenSearchDep) -> dict[str, Any]:
    """Deploy a REGISTERED model (its owner or an admin): answers a DEPLOY_MODEL task; the
    model is DEPLOYED once it is done. Deploying a deployed model answers its task again."""
    deployments = os.deployments
    user = os.caller.user

    def deploy() -> tuple[str | None, str]:
        model, version = os.model(model_id)
        ref = str(version.number)
        try:
            _, task = deployments.deploy(user, NAMESPACE, model.name, version=ref, name=version.id)
        except AlreadyExists:
            live = deployments.for_version(user, NAMESPACE, model.name, ref)
            return live.task_id, "COMPLETED" if live.state == DeploymentState.ACTIVE else "RUNNING"
        return task.id, "CREATED"

    task_id, status = await run_in_threadpool(deploy)
    return {"task_id": task_id, "task_type": "DEPLOY_MODEL", "status": status}


@router.post("/{model_id}/_undeploy")
async def undeploy_model(model_id: str, os: OpenSearchDep) -> dict[str, Any]:
    """Undeploy a model (its owner or an admin); answers, as ML Commons, the nodes it was
    undeployed from (none: ``{}``, when it was not deployed)."""
    deployments = os.deployments
    user = os.caller.user

    def undeploy() -> bool:
        model, version = os.model(model_id)
        try:
            live = deployments.for_version(user, NAMESPACE, model.name, str(version.number))
        except DeploymentNotFound:
            return False
        deployments.undeploy(user, live.id)
        return True

    if not await run_in_threadpool(undeploy):
        return {}
    return {NODE: {"stats": {model_id: "UNDEPLOYED"}}}


async def predict(os: OpenSearch, model_id: str, body: Predict) -> dict[str, Any]:
    """Embeddings of ``text_docs`` by a deployed model, in ML Commons' shape."""
    gateway = os.gateway
    user = os.caller.user
    model, version = await run_in_threadpool(os.model, model_id)
    try:
        deployment = await gateway.by_version(user, NAMESPACE, model.name, str(version.number))
    except DeploymentNotFound:
        raise FailedPrecondition(
            f"Model not ready yet. Please run this first: POST /_plugins/_ml/models/{model_id}"
            "/_deploy"
        ) from None
    done = await gateway.predict(user, deployment, {"text_docs": body.text_docs})
    return {
        "inference_results": [
            {
                "output": [
                    {
                        "name": "sentence_embedding",
                        "data_type": "FLOAT32",
                        "shape": [len(vector)],
                        "data": vector,
                    }
                ]
            }
            for vector in done.result
        ]
    }


@router.post("/{model_id}/_predict")
async def predict_model(model_id: str, body: Predict, os: OpenSearchDep) -> dict[str, Any]:
    """Text embeddings: ``{"text_docs": [...]}`` in, ``inference_results`` out."""
    return await predict(os, model_id, body)


@router.post("/{model_id}/_predict/")
async def predict_model_slash(model_id: str, body: Predict, os: OpenSearchDep) -> dict[str, Any]:
    """The same, as opensearch-py-ml calls it (with a trailing slash)."""
    return await predict(os, model_id, body)
