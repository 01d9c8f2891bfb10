"""RegistryService: every use case and business rule of the registry, in one place.

Transports (REST, SDK via REST, CLI, later gRPC and dialects) parse their wire format, call one
method here with the authenticated :class:`User`, and serialize the result. Authorization,
validation and state rules live here so every surface behaves alike.

Visibility rule: a model a user may not read does not exist for that user (NotFound, never
PermissionDenied), so nothing reveals that a private model is there.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelyard.domain import files as file_rules
from modelyard.domain.access import Action
from modelyard.domain.audit import Auditor, audited, note, touched_version
from modelyard.domain.directory import Directory, FailedAuthLimiter, can, check_model
from modelyard.domain.entities import (
    FileEntry,
    MetaInfo,
    Metric,
    Model,
    ModelVersion,
    Page,
    Provenance,
    TagEvent,
    User,
)
from modelyard.domain.enums import AccessLevel, FileStorage, FileType, ParentKind, VersionState
from modelyard.domain.gc import GcReport, collect_garbage
from modelyard.domain.ids import (
    Digest,
    FilePath,
    Key,
    Name,
    Tag,
    UserName,
    VersionLabel,
    could_be_part_of_name,
    new_id,
)
from modelyard.domain.ports import (
    BlobInfo,
    BlobStore,
    BlobWriter,
    MetadataStore,
    ModelQuery,
)
from modelyard.domain.runtime import RuntimeSpec, jsonable
from modelyard.errors import (
    FailedPrecondition,
    FieldError,
    FileNotFound,
    InvalidArgument,
    ModelNotFound,
    PermissionDenied,
    TagNotFound,
    VersionNotFound,
)

log = logging.getLogger("modelyard.service")

MAX_DESCRIPTION = 10_000
MAX_TASK = 256
MAX_FRAMEWORK = 128
MAX_MODEL_CARD = 1024 * 1024
MAX_METADATA_BYTES = 64 * 1024
MAX_SCHEMA_BYTES = 256 * 1024
MAX_METRICS_PER_CALL = 10_000
MAX_METRIC_STRING = 8 * 1024
MAX_METRIC_BYTES = 64 * 1024
MAX_PAGE_SIZE = 1000
MAX_URI = 4096
MAX_MIME = 255


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _clean(value: str, field: str) -> str:
    """Refuse strings no database can store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise InvalidArgument(f"{field}: NUL characters are not allowed", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{field}: expected valid Unicode text", field=field) from None
    return value


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        raise InvalidArgument(
            f"{field}: expected at most {limit} characters, got {len(value)}", field=field
        )
    return _clean(value, field)


def _clean_json(value: Any, field: str) -> None:
    if isinstance(value, str):
        _clean(value, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            _clean(str(key), field)
            _clean_json(item, f"{field}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _clean_json(item, f"{field}[{i}]")


def _json_object(value: Any, field: str, limit: int) -> Any:
    """Check a JSON-able value's encoded size; returns it unchanged."""
    if value is None:
        return None
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{field}: expected JSON data ({exc})", field=field) from None
    if size > limit:
        raise InvalidArgument(
            f"{field}: expected at most {limit} bytes of JSON, got {size}", field=field
        )
    _clean_json(value, field)
    return value


def _metadata_patch(patch: Mapping[str, Any], field: str = "metadata") -> dict[str, Any]:
    if not isinstance(patch, Mapping):
        raise InvalidArgument(f"{field}: expected a JSON object", field=field)
    for key in patch:
        Key.parse(key, f"{field}.{key}")
    return _json_object(dict(patch), field, MAX_METADATA_BYTES)


def _schema(value: Any, field: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected a JSON Schema object", field=field)
    return _json_object(value, field, MAX_SCHEMA_BYTES)


@dataclass(frozen=True, kw_only=True)
class MetricInput:
    key: str
    value: float | int | str | bytes
    step: int | None = None
    wallclock: float | None = None


@dataclass(frozen=True, kw_only=True)
class FileTarget:
    """Where files go: a model, or one of its versions; and who is putting them there."""

    model: Model
    version: ModelVersion | None
    actor: User | None = None

    @property
    def parent_kind(self) -> ParentKind:
        return ParentKind.VERSION if self.version else ParentKind.MODEL

    @property
    def parent_id(self) -> str:
        return self.version.id if self.version else self.model.id


@dataclass(frozen=True, kw_only=True)
class TrackedFileInput:
    path: str
    uri: str
    size: int | None = None
    sha256: str | None = None
    mime_type: str | None = None
    file_type: FileType | None = None
    md5: str | None = None


def stored_entry(
    target: FileTarget, path: str, blob: BlobInfo, mime_type: str, file_type: FileType
) -> FileEntry:
    """The file entry of bytes held in the blob store, for a target."""
    return FileEntry(
        id=new_id(),
        parent_kind=target.parent_kind,
        parent_id=target.parent_id,
        path=path,
        size=blob.size,
        sha256=blob.sha256,
        mime_type=mime_type,
        file_type=file_type,
        storage=FileStorage.STORED,
        uri=None,
        created_at=_utcnow(),
    )


class Upload:
    """A file upload in progress: feed bytes with :meth:`write`, then :meth:`finish`."""

    def __init__(
        self,
        service: RegistryService,
        target: FileTarget,
        path: FilePath,
        writer: BlobWriter,
        *,
        sha256: str | None,
        size: int | None,
        mime_type: str,
        file_type: FileType,
    ) -> None:
        self._service = service
        self.target = target
        self.path = path
        self._writer = writer
        self._sha256 = sha256
        self._size = size
        self._mime_type = mime_type
        self._file_type = file_type

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def abort(self) -> None:
        self._writer.abort()

    def commit(self) -> FileEntry:
        """Make the bytes durable and return their stored file entry WITHOUT recording it; a
        bundle records all of its members in one :meth:`RegistryService.store_files`."""
        blob = self._writer.commit(expected_sha256=self._sha256, expected_size=self._size)
        return stored_entry(self.target, self.path, blob, self._mime_type, self._file_type)

    def finish(self) -> FileEntry:
        """Make the bytes durable and record them as the target's file ``path``."""
        entry = self.commit()
        self._service.store_files(self.target, [entry])
        return entry


class RegistryService(Directory):
    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore,
        *,
        clock: Callable[[], datetime] = _utcnow,
        gc_grace: timedelta = timedelta(hours=1),
        auditor: Auditor | None = None,
        auth_limiter: FailedAuthLimiter | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self._clock = clock
        self.gc_grace = gc_grace
        #: Records every change and every refused attempt (None: no audit log, for tests
        #: that build a bare service).
        self.auditor = auditor
        self.auth_limiter = auth_limiter or FailedAuthLimiter()
        #: Called with (actor, version) after a version became READY (the checks submit
        #: their task here); a hook that raises is logged, the version stays READY.
        self.on_ready: list[Callable[[User, ModelVersion], None]] = []
        #: Called with (actor, version) after a READY version's runtime spec changed.
        self.on_runtime_change: list[Callable[[User, ModelVersion], None]] = []
        #: Called with (model id, version id or None) before a version or model is deleted;
        #: one that raises (a live deployment: FailedPrecondition) keeps it.
        self.delete_guards: list[Callable[[str, str | None], None]] = []
        #: token hash -> (its user, when the database last said the token was live)
        self._tokens: dict[str, tuple[User, datetime]] = {}

    @audited("admin.gc")
    def collect_garbage(self, actor: User, *, dry_run: bool = False) -> GcReport:
        """(Admins) remove blobs no file references, older than the grace period."""
        if not actor.is_admin or (actor.read_only and not dry_run):
            raise PermissionDenied("only admins may collect garbage (with a write token)")
        note(dry_run=dry_run)
        return collect_garbage(
            self.store, self.blobs, now=self._clock(), grace=self.gc_grace, dry_run=dry_run
        )

    # -- models ------------------------------------------------------------------------------

    @staticmethod
    def can(actor: User, model: Model, action: Action = Action.READ) -> bool:
        return can(actor, model.guarded, action)

    def _model(
        self,
        actor: User,
        namespace: str,
        name: str,
        *,
        write: bool = False,
        action: Action | None = None,
    ) -> Model:
        """The model, if ``actor`` may do ``action`` on it (``write``: Action.WRITE)."""
        model = None
        if Name.valid(namespace) and Name.valid(name):
            model = self.store.get_model(namespace, name)
        if model is None:
            raise ModelNotFound(
                f"model {namespace}/{name} not found; `modelyard models list` shows the models "
                "you can see"
            )
        check_model(actor, model, action or (Action.WRITE if write else Action.READ))
        return model

    @audited("model.create")
    def create_model(
        self,
        actor: User,
        *,
        name: str,
        namespace: str = "default",
        owner: str | None = None,
        task: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        model_card: str | None = None,
        access: AccessLevel | str = AccessLevel.PRIVATE,
        teams: Sequence[str] | None = None,
        add_all_backend_roles: bool = False,
        protected_tags: Sequence[str] = (),
    ) -> Model:
        """A new model. A restricted one lists ``teams`` (or, with ``add_all_backend_roles``,
        all of its owner's teams)."""
        namespace = Name.parse(namespace, "namespace")
        name = Name.parse(name, "name")
        self.may_create_in(actor, namespace)
        owner_user = actor
        if owner is not None and owner != actor.name:
            if not actor.is_admin:
                raise PermissionDenied("only admins may create models owned by someone else")
            owner_user = self._user(owner, "owner")
        level = self._access(access)
        team_ids = self._model_teams(
            actor, owner_user, level, list(teams or ()), add_all_backend_roles
        )
        now = self._clock()
        model = Model(
            id=new_id(),
            namespace=namespace,
            name=name,
            owner=owner_user.name,
            task=_text(task, "task", MAX_TASK),
            description=_text(description, "description", MAX_DESCRIPTION),
            metadata=_metadata_patch(metadata or {}),
            model_card=_text(model_card, "model_card", MAX_MODEL_CARD),
            access=level,
            created_at=now,
            updated_at=now,
            protected_tags=self._protected_tags(protected_tags),
        )
        note(access=str(level))
        created = self.store.create_model(model, owner_id=owner_user.id)
        if not team_ids:
            return created  # as stored: nothing to read back
        self.store.set_model_teams(created.id, team_ids)  # a new model has none to replace
        return self._model_by_id(created)

    def _model_by_id(self, model: Model) -> Model:
        found = self.store.get_model(model.namespace, model.name)
        if found is None:
            raise ModelNotFound(f"model {model.namespace}/{model.name} was deleted meanwhile")
        return found

    def _model_teams(
        self,
        actor: User,
        owner: User,
        access: AccessLevel,
        teams: list[str],
        add_all: bool,
        listed: tuple[str, ...] = (),
    ) -> list[str] | None:
        """The team ids a model of that access level lists (None: it lists none). A user who
        is not an admin adds only teams they are in (``listed``: the teams already there)."""
        if access != AccessLevel.RESTRICTED:
            if teams or add_all:
                raise InvalidArgument(
                    f"teams: only a restricted model lists teams; this one is {access}",
                    field="teams",
                )
            return []
        if teams and add_all:
            raise InvalidArgument(
                "teams: give either teams or add_all_backend_roles, not both", field="teams"
            )
        if add_all:
            mine = sorted(self.store.memberships(owner.id).teams)
            if not mine:
                raise InvalidArgument(
                    f"add_all_backend_roles: {owner.name} belongs to no team",
                    field="add_all_backend_roles",
                )
            teams = mine
        if not teams:
            raise InvalidArgument(
                "teams: a restricted model needs at least one team (teams or "
                "add_all_backend_roles)",
                field="teams",
            )
        if len(set(teams)) != len(teams):
            raise InvalidArgument("teams: expected distinct team names", field="teams")
        ids = self.teams_by_name(teams)
        if not actor.is_admin:
            foreign = [t for t in teams if t not in actor.memberships.teams and t not in listed]
            if foreign:
                raise InvalidArgument(
                    f"teams: you do not belong to team {foreign[0]!r}; only admins list teams "
                    "they are not in",
                    field="teams",
                )
        return ids

    @staticmethod
    def _protected_tags(value: Sequence[str] | None) -> tuple[str, ...]:
        if value is None or isinstance(value, str):
            raise InvalidArgument("protected_tags: expected a list of tags", field="protected_tags")
        tags = [Tag.parse(tag, f"protected_tags[{i}]") for i, tag in enumerate(value)]
        if len(tags) > 100:
            raise InvalidArgument("protected_tags: expected at most 100 tags")
        return tuple(sorted(set(tags)))

    @staticmethod
    def _access(value: AccessLevel | str) -> AccessLevel:
        try:
            return AccessLevel(value)
        except ValueError:
            raise InvalidArgument(
                f"access: expected one of {[a.value for a in AccessLevel]}, got {value!r}",
                field="access",
            ) from None

    def get_model(self, actor: User, namespace: str, name: str) -> Model:
        return self._model(actor, namespace, name)

    def get_model_by_id(self, actor: User, model_id: str) -> Model:
        """A model by its id, if ``actor`` may read it; ModelNotFound (which names only the
        id) otherwise."""
        model = self.store.get_model_by_id(model_id) if len(model_id) <= 64 else None
        try:
            if model is not None:
                check_model(actor, model, Action.READ)
                return model
        except ModelNotFound:
            pass
        raise ModelNotFound(f"model {model_id!r} not found")

    def list_models(
        self,
        actor: User,
        *,
        namespace: str | None = None,
        name_prefix: str | None = None,
        name_contains: str | None = None,
        owner: str | None = None,
        task: str | None = None,
        tag: str | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> Page[Model]:
        query = ModelQuery(
            viewer=actor,
            namespace=namespace,
            name_prefix=_text(name_prefix, "name_prefix", 128),
            name_contains=_text(name_contains, "name_contains", 128),
            owner=_text(owner, "owner", 128),
            task=_text(task, "task", MAX_TASK),
            tag=_text(tag, "tag", 64),
            page_size=self._page_size(page_size),
            page_token=_text(page_token, "page_token", 1024),
        )
        # A filter no name, owner or tag could ever match finds nothing, without a query.
        if not all(
            value is None or valid(value)
            for valid, value in (
                (Name.valid, namespace),
                (could_be_part_of_name, name_prefix),
                (could_be_part_of_name, name_contains),
                (UserName.valid, owner),
                (Tag.valid, tag),
            )
        ):
            return Page(items=[], next_page_token=None)
        return self.store.list_models(query)

    @staticmethod
    def _page_size(page_size: int) -> int:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(
                f"page_size: expected 1 to {MAX_PAGE_SIZE}, got {page_size}", field="page_size"
            )
        return page_size

    #: Changes to these need Action.MANAGE; any other field, Action.WRITE.
    ACCESS_FIELDS = frozenset({"access", "teams", "add_all_backend_roles", "protected_tags"})

    @audited("model.update")
    def update_model(
        self, actor: User, namespace: str, name: str, changes: Mapping[str, Any]
    ) -> Model:
        """Change a model's fields; its access level, teams and protected tags only by whoever
        may manage it (setting ``access`` away from restricted drops its teams)."""
        access_changes = self.ACCESS_FIELDS & set(changes)
        action = Action.MANAGE if access_changes else Action.WRITE
        model = self._model(actor, namespace, name, action=action)
        checks: dict[str, Callable[[Any, str], Any]] = {
            "description": _limited(MAX_DESCRIPTION),
            "task": _limited(MAX_TASK),
            "model_card": _limited(MAX_MODEL_CARD),
            "access": lambda value, _: self._access(value),
            "metadata": lambda value, field: _metadata_patch(value or {}, field),
            "protected_tags": lambda value, _: list(self._protected_tags(value)),
            "teams": lambda value, _: value,
            "add_all_backend_roles": lambda value, _: bool(value),
        }
        checked = _checked_changes(changes, checks)
        note(changed=sorted(checked))
        teams = checked.pop("teams", None)
        add_all = checked.pop("add_all_backend_roles", False)
        team_ids = None
        if access_changes - {"protected_tags"}:
            level = checked.get("access", model.access)
            if teams is None and not add_all and level == model.access == AccessLevel.RESTRICTED:
                teams = list(model.teams)  # the access level alone is not changing
            if teams is not None and not isinstance(teams, list | tuple):
                raise InvalidArgument("teams: expected a list of team names", field="teams")
            owner = self._user(model.owner, "owner")
            team_ids = self._model_teams(
                actor, owner, level, list(teams or ()), add_all, model.teams
            )
            note(access=str(level), teams=list(teams or ()) if not add_all else "all")
        if checked:
            self.store.update_model(model.id, checked)
        if team_ids is not None:
            self.store.set_model_teams(model.id, team_ids)
        return self._model_by_id(model)

    def may_delete(self, actor: User, namespace: str, name: str) -> Model:
        """The model, if ``actor`` may delete it and what belongs to it (its tasks)."""
        return self._model(actor, namespace, name, action=Action.DELETE)

    @audited("model.delete")
    def delete_model(self, actor: User, namespace: str, name: str) -> None:
        model = self._model(actor, namespace, name, action=Action.DELETE)
        for guard in self.delete_guards:
            guard(model.id, None)
        self.store.delete_model(model.id)

    # -- versions ----------------------------------------------------------------------------

    def _version(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str,
        *,
        write: bool = False,
        action: Action | None = None,
    ) -> tuple[Model, ModelVersion]:
        model = self._model(actor, namespace, model_name, write=write, action=action)
        version = self.store.get_version(model.id, ref) if VersionLabel.valid(ref) else None
        if version is None:
            raise VersionNotFound(
                f"version {ref!r} of {namespace}/{model_name} not found; "
                f"`modelyard versions list {namespace}/{model_name}` shows its versions"
            )
        touched_version(version)
        return model, version

    @audited("version.create")
    def create_version(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        *,
        label: str | None = None,
        name: str | None = None,
        description: str | None = None,
        framework: str | None = None,
        task: str | None = None,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        meta_info: MetaInfo | Mapping[str, Any] | None = None,
        provenance: Provenance | Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        runtime: RuntimeSpec | Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        model = self._model(actor, namespace, model_name, write=True)
        tag_list = [Tag.parse(tag, f"unique_tags[{i}]") for i, tag in enumerate(tags)]
        if len(set(tag_list)) != len(tag_list):
            raise InvalidArgument("unique_tags: expected distinct tags", field="unique_tags")
        for tag in tag_list:
            self._may_move(actor, model, tag)
        now = self._clock()
        draft = ModelVersion(
            id=new_id(),
            model_id=model.id,
            namespace=model.namespace,
            model=model.name,
            number=0,
            label=VersionLabel.parse(label, "version") if label else "",
            name=_text(name, "name", 256),
            description=_text(description, "description", MAX_DESCRIPTION),
            framework=_text(framework, "framework", MAX_FRAMEWORK),
            task=_text(task, "task", MAX_TASK),
            input_schema=_schema(input_schema, "input_schema"),
            output_schema=_schema(output_schema, "output_schema"),
            meta_info=self._meta_info(meta_info),
            provenance=self._provenance(provenance),
            metadata=_metadata_patch(metadata or {}),
            runtime=self._runtime(runtime),
            checks=None,
            tags=tuple(tag_list),
            state=VersionState.PENDING,
            status_message=None,
            content_digest=None,
            created_by=actor.name,
            created_at=now,
            updated_at=now,
            finished_at=None,
        )
        return self.store.create_version(draft, actor_id=actor.id)

    @staticmethod
    def _meta_info(value: MetaInfo | Mapping[str, Any] | None) -> MetaInfo:
        if isinstance(value, MetaInfo):
            return value
        return validated(MetaInfo, value or {}, "meta_info")

    @staticmethod
    def _provenance(value: Provenance | Mapping[str, Any] | None) -> Provenance:
        if isinstance(value, Provenance):
            return value
        return validated(Provenance, value or {}, "provenance")

    @staticmethod
    def _runtime(value: RuntimeSpec | Mapping[str, Any] | None) -> RuntimeSpec | None:
        if value is None:
            return None
        spec: RuntimeSpec = (
            value if isinstance(value, RuntimeSpec) else validated(RuntimeSpec, value, "runtime")
        )
        for field in ("model_file", "entry_point", "conda_env", "example"):
            path = getattr(spec, field)
            if path is not None:
                FilePath.parse(path, f"runtime.{field}")
        return spec

    def get_version(self, actor: User, namespace: str, model_name: str, ref: str) -> ModelVersion:
        return self._version(actor, namespace, model_name, ref)[1]

    def get_version_by_id(self, actor: User, version_id: str) -> tuple[Model, ModelVersion]:
        """A version and its model by the version's id, if ``actor`` may read them;
        VersionNotFound (which names only the id) otherwise."""
        version = self.store.get_version_by_id(version_id) if len(version_id) <= 64 else None
        try:
            if version is not None:
                return self._version(actor, version.namespace, version.model, str(version.number))
        except ModelNotFound:
            pass
        raise VersionNotFound(f"version {version_id!r} not found")

    def writable_version(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str,
        action: Action = Action.WRITE,
    ) -> tuple[Model, ModelVersion]:
        """The model and version, if ``actor`` may do ``action`` (writing) to the model."""
        return self._version(actor, namespace, model_name, ref, action=action)

    def list_versions(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        *,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        model = self._model(actor, namespace, model_name)
        return self.store.list_versions(
            model.id, page_size=self._page_size(page_size), page_token=page_token
        )

    def versions_of(self, actor: User, models: Sequence[Model]) -> dict[str, list[ModelVersion]]:
        """Every version of each model (by model id, oldest first) in one read: what a
        dialect's search over many models needs. ModelNotFound for a model ``actor`` may not
        read."""
        for model in models:
            check_model(actor, model, Action.READ)
        return self.store.versions_of([model.id for model in models])

    @audited("version.update")
    def update_version(
        self, actor: User, namespace: str, model_name: str, ref: str, changes: Mapping[str, Any]
    ) -> ModelVersion:
        _, version = self._version(actor, namespace, model_name, ref, write=True)
        checks: dict[str, Callable[[Any, str], Any]] = {
            "name": _limited(256),
            "description": _limited(MAX_DESCRIPTION),
            "framework": _limited(MAX_FRAMEWORK),
            "task": _limited(MAX_TASK),
            "input_schema": _schema,
            "output_schema": _schema,
            "meta_info": lambda value, _: self._meta_info(value).model_dump(
                mode="json", by_alias=True
            ),
            "provenance": lambda value, _: self._provenance(value).model_dump(mode="json"),
            "metadata": lambda value, field: _metadata_patch(value or {}, field),
            "runtime": lambda value, _: jsonable(self._runtime(value)),
        }
        checked = _checked_changes(changes, checks)
        if "runtime" in checked and version.state not in (VersionState.PENDING, VersionState.READY):
            raise FailedPrecondition(
                f"version {version.label} is {version.state}; its runtime can change only while "
                "it is PENDING or READY",
                details={"state": str(version.state)},
            )
        updated = self.store.update_version(version.id, checked)
        if "runtime" in checked and updated.state == VersionState.READY:
            return self._notify(self.on_runtime_change, actor, updated)
        return updated

    def _notify(
        self,
        hooks: list[Callable[[User, ModelVersion], None]],
        actor: User,
        version: ModelVersion,
    ) -> ModelVersion:
        """Run ``hooks``; the version as they left it."""
        if not hooks:
            return version
        for hook in hooks:
            try:
                hook(actor, version)
            except Exception:
                log.exception("a hook on version %s failed", version.id)
        return self.store.get_version_by_id(version.id) or version

    @audited("version.finish")
    def finish_version(
        self, actor: User, namespace: str, model_name: str, ref: str
    ) -> ModelVersion:
        """PENDING -> READY once every stored file's bytes are present; files freeze."""
        _, version = self._version(actor, namespace, model_name, ref, write=True)
        if version.state != VersionState.PENDING:
            raise FailedPrecondition(
                f"version {version.label} is {version.state}; only a PENDING version can be "
                "finished",
                details={"state": str(version.state)},
            )

        def verify(entries: list[FileEntry]) -> str:
            for entry in entries:
                if entry.storage == FileStorage.STORED and (
                    not self.blobs.exists(entry.sha256 or "")
                    or self.blobs.size(entry.sha256 or "") != entry.size
                ):
                    raise FailedPrecondition(
                        f"file {entry.path}: its bytes are missing or damaged in the blob "
                        "store; upload it again before finishing"
                    )
            return file_rules.content_digest(entries)

        ready = self.store.finish_version(version.id, verify)
        return self._notify(self.on_ready, actor, ready)

    def export_files(
        self, version: ModelVersion, target: Path, heartbeat: Callable[[], None] = lambda: None
    ) -> tuple[dict[str, str], list[str]]:
        """Copy a version's stored files under ``target`` (for the checks and serving; no
        access check: the caller already made one); their digests, and the paths of tracked
        files, which are not copied."""
        sha256: dict[str, str] = {}
        tracked: list[str] = []
        for entry in self.store.list_files(version.id):
            if entry.storage != FileStorage.STORED or entry.sha256 is None:
                tracked.append(entry.path)
                continue
            path = target / entry.path
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                for chunk in self.blobs.read(entry.sha256):
                    out.write(chunk)
                    heartbeat()
            sha256[entry.path] = entry.sha256
        return sha256, tracked

    @audited("version.fail")
    def fail_version(
        self, actor: User, namespace: str, model_name: str, ref: str, reason: str | None = None
    ) -> ModelVersion:
        _, version = self._version(actor, namespace, model_name, ref, write=True)
        return self.store.transition_version(
            version.id,
            expected=VersionState.PENDING,
            to=VersionState.FAILED,
            content_digest=None,
            status_message=_text(reason, "reason", MAX_DESCRIPTION),
        )

    @audited("version.delete")
    def delete_version(self, actor: User, namespace: str, model_name: str, ref: str) -> None:
        model, version = self._version(actor, namespace, model_name, ref, action=Action.DELETE)
        for guard in self.delete_guards:
            guard(model.id, version.id)
        self.store.delete_version(version.id, actor=actor.name)

    # -- files -------------------------------------------------------------------------------

    @audited("file.write", when=lambda args: bool(args.get("write")), successes=False)
    def file_target(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        *,
        write: bool = False,
    ) -> FileTarget:
        if ref is None:
            return FileTarget(
                model=self._model(actor, namespace, model_name, write=write),
                version=None,
                actor=actor,
            )
        model, version = self._version(actor, namespace, model_name, ref, write=write)
        if write and version.state != VersionState.PENDING:
            raise FailedPrecondition(
                f"version {version.label} is {version.state}: its files are immutable; "
                "create a new version to change them",
                details={"state": str(version.state)},
            )
        return FileTarget(model=model, version=version, actor=actor)

    def begin_upload(
        self,
        target: FileTarget,
        path: str,
        *,
        sha256: str | None = None,
        size: int | None = None,
        mime_type: str | None = None,
        file_type: FileType | str | None = None,
    ) -> Upload:
        """Start writing one file to a target from :meth:`file_target` (``write=True``)."""
        file_path, mime, kind = self.file_fields(path, mime_type, file_type)
        digest = Digest.parse(sha256, "sha256") if sha256 else None
        if size is not None and size < 0:
            raise InvalidArgument("size: expected a byte count >= 0", field="size")
        return Upload(
            self,
            target,
            file_path,
            self.blobs.writer(),  # last: everything that can refuse the upload has run
            sha256=digest,
            size=size,
            mime_type=mime,
            file_type=kind,
        )

    def file_fields(
        self, path: str, mime_type: str | None, file_type: FileType | str | None
    ) -> tuple[FilePath, str, FileType]:
        """A stored file's checked path, and its MIME type and kind (guessed when absent)."""
        file_path = FilePath.parse(path, "path")
        mime = _text(mime_type, "mime_type", MAX_MIME) or file_rules.guess_mime_type(file_path)
        return file_path, mime, self._file_type(file_type, file_path, mime)

    def record_blob(
        self,
        target: FileTarget,
        path: FilePath,
        blob: BlobInfo,
        *,
        mime_type: str,
        file_type: FileType,
    ) -> FileEntry:
        """Record a blob already in the blob store as the stored file ``path`` of a target
        (the arguments checked by :meth:`file_fields`)."""
        entry = stored_entry(target, path, blob, mime_type, file_type)
        self.store_files(target, [entry])
        return entry

    def upload_file(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        path: str,
        chunks: Iterable[bytes],
        **options: Any,
    ) -> FileEntry:
        """Store one file from an iterable of byte chunks (the synchronous form of
        :meth:`begin_upload`)."""
        target = self.file_target(actor, namespace, model_name, ref, write=True)
        upload = self.begin_upload(target, path, **options)
        try:
            for chunk in chunks:
                upload.write(chunk)
        except BaseException:
            upload.abort()
            raise
        return upload.finish()

    @staticmethod
    def _file_type(value: FileType | str | None, path: str, mime: str) -> FileType:
        if value is None or value == "":
            return file_rules.guess_file_type(path, mime)
        try:
            return FileType(str(value).upper())
        except ValueError:
            raise InvalidArgument(
                f"file_type: expected one of {[f.value for f in FileType]}, got {value!r}",
                field="file_type",
            ) from None

    def store_files(self, target: FileTarget, entries: list[FileEntry]) -> None:
        """Record files whose bytes are in place (or tracked elsewhere) on a target."""
        self.store.put_files(entries, pending_version=target.version.id if target.version else None)
        if self.auditor is not None and target.actor is not None:
            self.auditor.record(
                target.actor.name,
                "file.write",
                namespace=target.model.namespace,
                model=target.model.name,
                model_id=target.model.id,
                version=str(target.version.number) if target.version else None,
                detail={
                    "paths": [e.path for e in entries[:20]],
                    "files": len(entries),
                    "bytes": sum(e.size or 0 for e in entries),
                },
            )

    def track_files(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        files: list[TrackedFileInput],
    ) -> list[FileEntry]:
        """Record files that stay where they are (an external URI); no bytes are copied."""
        target = self.file_target(actor, namespace, model_name, ref, write=True)
        entries = self.tracked_entries(target.parent_kind, target.parent_id, files)
        self.store_files(target, entries)
        return entries

    def tracked_entries(
        self, parent_kind: ParentKind, parent_id: str, files: list[TrackedFileInput]
    ) -> list[FileEntry]:
        """The checked entries of tracked files for a parent (not yet recorded)."""
        entries = []
        seen: set[str] = set()
        for i, f in enumerate(files):
            path = FilePath.parse(f.path, f"files[{i}].path")
            if path in seen:
                raise InvalidArgument(
                    f"files[{i}].path: {path!r} appears twice", field=f"files[{i}].path"
                )
            seen.add(path)
            uri = _text(f.uri, f"files[{i}].uri", MAX_URI)
            if not uri or "://" not in uri:
                raise InvalidArgument(
                    f"files[{i}].uri: expected an absolute URI such as s3://bucket/key",
                    field=f"files[{i}].uri",
                )
            if f.size is not None and not 0 <= f.size < 2**63:
                raise InvalidArgument(
                    f"files[{i}].size: expected a byte count from 0 to 2**63-1",
                    field=f"files[{i}].size",
                )
            mime = _text(f.mime_type, f"files[{i}].mime_type", MAX_MIME) or (
                file_rules.guess_mime_type(path)
            )
            entries.append(
                FileEntry(
                    id=new_id(),
                    parent_kind=parent_kind,
                    parent_id=parent_id,
                    path=path,
                    size=f.size,
                    sha256=Digest.parse(f.sha256, f"files[{i}].sha256") if f.sha256 else None,
                    mime_type=mime,
                    file_type=self._file_type(f.file_type, path, mime),
                    storage=FileStorage.TRACKED,
                    uri=uri,
                    created_at=self._clock(),
                    md5=self._md5(f.md5, f"files[{i}].md5"),
                )
            )
        return entries

    @staticmethod
    def _md5(value: str | None, field: str) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"[0-9a-fA-F]{32}", value):
            raise InvalidArgument(f"{field}: expected 32 hex characters", field=field)
        return value.lower()

    def list_files(
        self, actor: User, namespace: str, model_name: str, ref: str | None
    ) -> list[FileEntry]:
        target = self.file_target(actor, namespace, model_name, ref)
        return self.store.list_files(target.parent_id)

    def get_file(
        self, actor: User, namespace: str, model_name: str, ref: str | None, path: str
    ) -> FileEntry:
        target = self.file_target(actor, namespace, model_name, ref)
        entry = self.store.get_file(target.parent_id, FilePath.parse(path, "path"))
        if entry is None:
            where = f"{namespace}/{model_name}" + (f" version {ref}" if ref else "")
            raise FileNotFound(f"file {path!r} not found in {where}")
        return entry

    def read_file(
        self, entry: FileEntry, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        """The bytes of a stored file from :meth:`get_file`, [start, end)."""
        if entry.storage != FileStorage.STORED or entry.sha256 is None:
            raise FailedPrecondition(
                f"file {entry.path} is tracked, not stored: fetch it from {entry.uri}"
            )
        return self.blobs.read(entry.sha256, start, end)

    # -- metrics -----------------------------------------------------------------------------

    @audited("metrics.log")
    def log_metrics(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        metrics: list[MetricInput],
    ) -> list[Metric]:
        target = self.file_target(actor, namespace, model_name, ref)
        check_model(actor, target.model, Action.WRITE)  # READY versions take metrics too
        checked = self.checked_metrics(metrics)
        self.store.add_metrics(target.parent_id, checked)
        return checked

    def checked_metrics(self, metrics: list[MetricInput]) -> list[Metric]:
        """Validate metrics to log; those without a wallclock get the current time."""
        if len(metrics) > MAX_METRICS_PER_CALL:
            raise InvalidArgument(
                f"metrics: expected at most {MAX_METRICS_PER_CALL} per call, got {len(metrics)}",
                field="metrics",
            )
        now = time.time()
        return [self._metric(i, m, now) for i, m in enumerate(metrics)]

    @staticmethod
    def _metric(i: int, m: MetricInput, now: float) -> Metric:
        field = f"metrics[{i}]"
        key = Key.parse(m.key, f"{field}.key")
        value = m.value
        if isinstance(value, bool):
            raise InvalidArgument(
                f"{field}.value: expected a number, string or bytes, got a boolean",
                field=f"{field}.value",
            )
        if isinstance(value, int):
            value = float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgument(
                f"{field}.value: expected a finite number, got {value}", field=f"{field}.value"
            )
        if m.wallclock is not None and not (
            isinstance(m.wallclock, int | float) and math.isfinite(m.wallclock)
        ):
            raise InvalidArgument(
                f"{field}.wallclock: expected Unix seconds as a finite number",
                field=f"{field}.wallclock",
            )
        if isinstance(value, str):
            _clean(value, f"{field}.value")
        if isinstance(value, str) and len(value) > MAX_METRIC_STRING:
            raise InvalidArgument(
                f"{field}.value: expected at most {MAX_METRIC_STRING} characters",
                field=f"{field}.value",
            )
        elif isinstance(value, bytes) and len(value) > MAX_METRIC_BYTES:
            raise InvalidArgument(
                f"{field}.value: expected at most {MAX_METRIC_BYTES} bytes", field=f"{field}.value"
            )
        elif not isinstance(value, float | str | bytes):
            raise InvalidArgument(
                f"{field}.value: expected a number, string or bytes", field=f"{field}.value"
            )
        if m.step is not None and not 0 <= m.step < 2**63:
            raise InvalidArgument(f"{field}.step: expected an integer >= 0", field=f"{field}.step")
        return Metric(
            key=key,
            value=value,
            step=m.step,
            wallclock=m.wallclock if m.wallclock is not None else now,
        )

    def list_metrics(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        key: str | None = None,
    ) -> list[Metric]:
        target = self.file_target(actor, namespace, model_name, ref)
        return self.store.list_metrics(
            target.parent_id, Key.parse(key, "key") if key is not None else None
        )

    # -- metadata ----------------------------------------------------------------------------

    @audited("metadata.update")
    def update_metadata(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        patch: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Merge keys into the metadata of a model or version; a None value removes a key."""
        if ref is None:
            return self.update_model(actor, namespace, model_name, {"metadata": patch}).metadata
        return self.update_version(actor, namespace, model_name, ref, {"metadata": patch}).metadata

    # -- tags --------------------------------------------------------------------------------

    @audited("tag.set")
    def set_tag(
        self, actor: User, namespace: str, model_name: str, tag: str, ref: str
    ) -> ModelVersion:
        """Point a unique tag at a version, moving it from whichever version held it."""
        tag = Tag.parse(tag, "tag")
        model, version = self._version(actor, namespace, model_name, ref, write=True)
        self._may_move(actor, model, tag)
        self.store.move_tag(model.id, tag, version.id, actor=actor.name)
        moved = self.store.get_version_by_id(version.id)
        if moved is None:
            raise VersionNotFound(f"version {version.label} was deleted meanwhile")
        return moved

    @audited("tag.remove")
    def remove_tag(self, actor: User, namespace: str, model_name: str, tag: str) -> None:
        model = self._model(actor, namespace, model_name, write=True)
        if not Tag.valid(tag) or tag not in self.store.list_tags(model.id):
            raise TagNotFound(f"tag {tag!r} is not set on {namespace}/{model_name}")
        self._may_move(actor, model, tag)
        self.store.move_tag(model.id, tag, None, actor=actor.name)

    @staticmethod
    def _may_move(actor: User, model: Model, tag: str) -> None:
        if tag in model.protected_tags and not can(actor, model.guarded, Action.MANAGE):
            raise PermissionDenied(
                f"tag {tag!r} of {model.namespace}/{model.name} is protected: only its owner "
                f"({model.owner}), namespace admins and admins move it"
            )

    def list_tags(self, actor: User, namespace: str, model_name: str) -> dict[str, int]:
        return self.store.list_tags(self._model(actor, namespace, model_name).id)

    def version_by_tag(
        self, actor: User, namespace: str, model_name: str, tag: str
    ) -> ModelVersion:
        model = self._model(actor, namespace, model_name)
        version = self.store.tagged_version(model.id, tag) if Tag.valid(tag) else None
        if version is None:
            raise TagNotFound(f"tag {tag!r} is not set on {namespace}/{model_name}")
        return version

    def tag_history(
        self, actor: User, namespace: str, model_name: str, tag: str | None = None
    ) -> list[TagEvent]:
        model = self._model(actor, namespace, model_name)
        if tag is not None and not Tag.valid(tag):
            return []
        return self.store.tag_history(model.id, tag)


def validated(cls: Any, value: Any, field: str) -> Any:
    try:
        return cls.model_validate(value)
    except ValidationError as exc:
        errors = [
            FieldError(
                field=".".join([field, *(str(p) for p in e["loc"])]),
                message=e["msg"],
            )
            for e in exc.errors()
        ]
        raise InvalidArgument(f"{errors[0].field}: {errors[0].message}", errors=errors) from None


def _limited(limit: int) -> Callable[[Any, str], Any]:
    return lambda value, field: _text(value, field, limit)


def _checked_changes(
    changes: Mapping[str, Any], checks: Mapping[str, Callable[[Any, str], Any]]
) -> dict[str, Any]:
    """Validate a partial update: each key must have a check, which returns the value to
    store."""
    unknown = sorted(set(changes) - set(checks))
    if unknown:
        raise InvalidArgument(
            f"{unknown[0]}: cannot be changed; expected some of {sorted(checks)}",
            field=unknown[0],
        )
    return {key: checks[key](value, key) for key, value in changes.items()}
