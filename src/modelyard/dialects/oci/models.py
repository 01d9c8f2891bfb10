"""The model catalog routes (``/20190101/models``), each a service call or two and a
translation of the answer.

A catalog model is a modelyard version; its project is the namespace (``projectId`` is the
namespace's name); its model version set is the model (``modelVersionSetId`` the model's id).
A catalog model created without a version set becomes a version of the model named after its
``displayName`` (made on first use), so models saved under one name collect as its versions.
What has no modelyard field (compartment, tags, metadata lists, ADS's schemas) is kept in the
version's metadata under ``oci``, the provenance under ``oci.provenance``.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from modelyard.api.routes.bundles import received_zip
from modelyard.dialects.oci import schemas as s
from modelyard.dialects.oci.context import SignedDep, SignedUploadDep
from modelyard.dialects.oci.errors import EtagMismatch
from modelyard.domain.bundles import Bundles
from modelyard.domain.entities import Model, ModelVersion, Provenance, User
from modelyard.domain.enums import VersionState
from modelyard.domain.service import RegistryService
from modelyard.errors import InvalidArgument, ModelNotFound

router = APIRouter(tags=["models"])

#: The version metadata keys that hold what modelyard has no field for.
META = "oci"
PROVENANCE = "oci.provenance"
MODEL = "/models/{model_id}"
_STATES = {
    VersionState.PENDING: "ACTIVE",
    VersionState.READY: "ACTIVE",
    VersionState.FAILED: "FAILED",
}
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


def _name_for(display_name: str | None) -> str:
    """The model a catalog model without a version set joins: its display name made a
    modelyard name (letters, digits, '.', '_', '-')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", display_name or "").strip("-._")[:128]
    return name or "model"


def etag(version: ModelVersion) -> str:
    """Changes whenever the catalog model does."""
    seed = f"{version.id}|{version.updated_at.isoformat()}|{version.state}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def _meta(version: ModelVersion) -> dict[str, Any]:
    found = version.metadata.get(META)
    return found if isinstance(found, dict) else {}


def to_wire(model: Model, version: ModelVersion) -> s.Model:
    meta = _meta(version)
    return s.Model(
        id=version.id,
        compartment_id=meta.get("compartmentId"),
        project_id=model.namespace,
        display_name=version.name,
        description=version.description,
        created_by=version.created_by,
        time_created=version.created_at,
        lifecycle_state=_STATES.get(version.state, str(version.state)),
        lifecycle_details=version.status_message,
        model_version_set_id=model.id,
        model_version_set_name=model.name,
        version_id=version.number,
        version_label=version.label,
        freeform_tags=meta.get("freeformTags") or {},
        defined_tags=meta.get("definedTags") or {},
        custom_metadata_list=meta.get("customMetadataList") or [],
        defined_metadata_list=meta.get("definedMetadataList") or [],
        input_schema=meta.get("inputSchema"),
        output_schema=meta.get("outputSchema"),
    )


def _answer(response: Response, model: Model, version: ModelVersion) -> s.Model:
    response.headers["etag"] = etag(version)
    return to_wire(model, version)


def _matching(version: ModelVersion, if_match: str | None) -> None:
    if if_match is not None and if_match.strip('"') != etag(version):
        raise EtagMismatch(f"if-match {if_match} is not the model's current etag")


# -- create, read, update, delete ---------------------------------------------------------


def _create(
    actor: User, service: RegistryService, body: s.ModelCreate
) -> tuple[Model, ModelVersion]:
    namespace = body.project_id
    if body.model_version_set_id:
        model = service.get_model_by_id(actor, body.model_version_set_id)
        if model.namespace != namespace:
            raise InvalidArgument(
                f"modelVersionSetId: the model version set is in project {model.namespace}, "
                f"not {namespace}",
                field="modelVersionSetId",
            )
    else:
        name = _name_for(body.display_name)
        try:
            model = service.get_model(actor, namespace, name)
        except ModelNotFound:
            model = service.create_model(actor, name=name, namespace=namespace)
    kept = body.model_dump(
        by_alias=True,
        mode="json",
        exclude_none=True,
        include={
            "compartment_id",
            "freeform_tags",
            "defined_tags",
            "custom_metadata_list",
            "defined_metadata_list",
            "input_schema",
            "output_schema",
        },
    )
    version = service.create_version(
        actor,
        namespace,
        model.name,
        label=body.version_label,
        name=body.display_name,
        description=body.description,
        metadata={META: kept},
    )
    return model, version


@router.post("/models", response_model=s.Model)
async def create_model(body: s.ModelCreate, response: Response, caller: SignedDep) -> s.Model:
    """Create a catalog model: a PENDING version (of the version set's model, or of the model
    named after ``displayName``) in the namespace ``projectId``; its artifact comes next."""
    model, version = await caller(_create, caller.service, body)
    return _answer(response, model, version)


@router.get(MODEL, response_model=s.Model)
async def get_model(model_id: str, response: Response, caller: SignedDep) -> s.Model:
    model, version = await caller(caller.service.get_version_by_id, model_id)
    return _answer(response, model, version)


def _update(
    actor: User, service: RegistryService, model_id: str, body: s.ModelUpdate, if_match: str | None
) -> tuple[Model, ModelVersion]:
    model, version = service.get_version_by_id(actor, model_id)
    _matching(version, if_match)
    if body.version_label is not None and body.version_label != version.label:
        raise InvalidArgument(
            "versionLabel: a catalog model's version label cannot change", field="versionLabel"
        )
    changes: dict[str, Any] = {}
    if body.display_name is not None:
        changes["name"] = body.display_name
    if body.description is not None:
        changes["description"] = body.description
    sent = body.model_dump(
        by_alias=True,
        mode="json",
        exclude_none=True,
        include={"freeform_tags", "defined_tags", "custom_metadata_list", "defined_metadata_list"},
    )
    if sent:
        changes["metadata"] = {META: {**_meta(version), **sent}}
    if changes:
        version = service.update_version(actor, model.namespace, model.name, version.label, changes)
    return model, version


@router.put(MODEL, response_model=s.Model)
async def update_model(
    model_id: str,
    body: s.ModelUpdate,
    response: Response,
    caller: SignedDep,
    if_match: Annotated[str | None, Header()] = None,
) -> s.Model:
    """Change the display name, description, tags or metadata lists (the fields sent)."""
    model, version = await caller(_update, caller.service, model_id, body, if_match)
    return _answer(response, model, version)


def _delete(actor: User, service: RegistryService, model_id: str, if_match: str | None) -> None:
    model, version = service.get_version_by_id(actor, model_id)
    _matching(version, if_match)
    service.delete_version(actor, model.namespace, model.name, version.label)


@router.delete(MODEL, status_code=204)
async def delete_model(
    model_id: str, caller: SignedDep, if_match: Annotated[str | None, Header()] = None
) -> Response:
    """(Owner or admin) delete the catalog model: the version."""
    await caller(_delete, caller.service, model_id, if_match)
    return Response(status_code=204)


def _list(
    actor: User,
    service: RegistryService,
    project: str | None,
    display_name: str | None,
    state: str | None,
    model_id: str | None,
) -> list[s.ModelSummary]:
    found: list[s.ModelSummary] = []
    token = None
    while True:
        page = service.list_models(actor, namespace=project, page_size=1000, page_token=token)
        versions = service.versions_of(actor, page.items)
        for model in page.items:
            for version in versions.get(model.id, ()):
                wire = to_wire(model, version)
                if (
                    (display_name is None or wire.display_name == display_name)
                    and (state is None or wire.lifecycle_state == state)
                    and (model_id is None or wire.id == model_id)
                ):
                    found.append(s.ModelSummary(**wire.model_dump(exclude=_DETAIL)))
        token = page.next_page_token
        if token is None:
            return found


_DETAIL = {
    "description",
    "custom_metadata_list",
    "defined_metadata_list",
    "input_schema",
    "output_schema",
}


@router.get("/models", response_model=list[s.ModelSummary])
async def list_models(
    response: Response,
    caller: SignedDep,
    compartment_id: Annotated[str, Query(alias="compartmentId")],
    project_id: Annotated[str | None, Query(alias="projectId")] = None,
    display_name: Annotated[str | None, Query(alias="displayName")] = None,
    lifecycle_state: Annotated[str | None, Query(alias="lifecycleState")] = None,
    model_id: Annotated[str | None, Query(alias="id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: Annotated[str | None, Query()] = None,
) -> list[s.ModelSummary]:
    """The catalog models the caller may see, newest model first; ``compartmentId`` is
    required, as by OCI, but modelyard has no compartments: it does not filter."""
    start = int(page) if page and page.isdigit() else 0
    found = await caller(_list, caller.service, project_id, display_name, lifecycle_state, model_id)
    if start + limit < len(found):
        response.headers["opc-next-page"] = str(start + limit)
    return found[start : start + limit]


# -- provenance ---------------------------------------------------------------------------


def _provenance(version: ModelVersion) -> s.Provenance:
    kept = version.metadata.get(PROVENANCE)
    return s.Provenance.model_validate(kept if isinstance(kept, dict) else {})


def _set_provenance(
    actor: User, service: RegistryService, model_id: str, body: s.Provenance
) -> s.Provenance:
    model, version = service.get_version_by_id(actor, model_id)
    native = Provenance(
        repo=body.repository_url,
        commit=body.git_commit,
        script=body.training_script,
        parent_run=body.training_id,
    )
    changes = {
        "provenance": native,
        "metadata": {PROVENANCE: body.model_dump(by_alias=True, exclude_none=True)},
    }
    version = service.update_version(actor, model.namespace, model.name, version.label, changes)
    return _provenance(version)


@router.post(MODEL + "/provenance", response_model=s.Provenance, response_model_exclude_none=True)
async def create_provenance(model_id: str, body: s.Provenance, caller: SignedDep) -> s.Provenance:
    """Where the model came from: the repository, branch, commit, script and training run."""
    return await caller(_set_provenance, caller.service, model_id, body)


@router.put(MODEL + "/provenance", response_model=s.Provenance, response_model_exclude_none=True)
async def update_provenance(model_id: str, body: s.Provenance, caller: SignedDep) -> s.Provenance:
    return await caller(_set_provenance, caller.service, model_id, body)


def _read_provenance(actor: User, service: RegistryService, model_id: str) -> s.Provenance:
    return _provenance(service.get_version_by_id(actor, model_id)[1])


@router.get(MODEL + "/provenance", response_model=s.Provenance, response_model_exclude_none=True)
async def get_provenance(model_id: str, caller: SignedDep) -> s.Provenance:
    return await caller(_read_provenance, caller.service, model_id)


# -- the artifact -------------------------------------------------------------------------


def _bundles(request: Request) -> Bundles:
    bundles: Bundles = request.app.state.bundles
    return bundles


def _store_artifact(
    actor: User,
    service: RegistryService,
    bundles: Bundles,
    version: ModelVersion,
    archive: IO[bytes],
) -> ModelVersion:
    bundles.upload(actor, version.namespace, version.model, version.label, archive)
    return service.finish_version(actor, version.namespace, version.model, version.label)


@router.post(MODEL + "/artifact")
async def create_artifact(model_id: str, request: Request, caller: SignedUploadDep) -> Response:
    """Upload the artifact, a zip (its body is not signed, as the SDK sends it): its members
    become the version's files, and the version becomes READY (the checks then run on it)."""
    service, bundles = caller.service, _bundles(request)
    _, version = await caller(service.get_version_by_id, model_id)
    done = await received_zip(
        request,
        caller,
        bundles,
        (version.namespace, version.model, version.label),
        lambda zip_file: caller(_store_artifact, service, bundles, version, zip_file),
    )
    return Response(status_code=200, headers={"etag": etag(done)})


def _artifact(
    actor: User, service: RegistryService, bundles: Bundles, model_id: str
) -> tuple[dict[str, str], IO[bytes]]:
    """The artifact zip, written out (its length is needed up front), and its headers."""
    model, version = service.get_version_by_id(actor, model_id)
    if version.state != VersionState.READY:
        raise ModelNotFound(f"model {model_id} has no artifact (it is {version.state})")
    download = bundles.download(actor, model.namespace, model.name, version.label, manifest=False)
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 (returned)
    for chunk in download.chunks:
        out.write(chunk)
    headers = {
        "content-disposition": f"attachment; filename={download.filename}",
        "content-length": str(out.tell()),
        "etag": etag(version),
    }
    out.seek(0)
    return headers, out


def _read(out: IO[bytes]) -> Iterator[bytes]:
    with out:
        while chunk := out.read(1 << 20):
            yield chunk


@router.get(MODEL + "/artifact/content")
async def get_artifact(model_id: str, request: Request, caller: SignedDep) -> StreamingResponse:
    """The artifact: the version's files as a zip."""
    headers, out = await caller(_artifact, caller.service, _bundles(request), model_id)
    return StreamingResponse(_read(out), media_type="application/octet-stream", headers=headers)


@router.head(MODEL + "/artifact/content")
async def head_artifact(model_id: str, request: Request, caller: SignedDep) -> Response:
    """The artifact's name and size."""
    headers, out = await caller(_artifact, caller.service, _bundles(request), model_id)
    out.close()
    return Response(status_code=200, headers=headers)
