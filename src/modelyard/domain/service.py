"""RegistryService: every use case and business rule of the registry, in one place.

Transports (REST, SDK via REST, CLI, later gRPC and dialects) parse their wire format, call one
method here with the authenticated :class:`User`, and serialize the result. Authorization,
validation and state rules live here so every surface behaves alike.

Visibility rule: a model a user may not read does not exist for that user (NotFound, never
PermissionDenied), so nothing reveals that a private model is there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelyard.domain import files as file_rules
from modelyard.domain.entities import (
    FileEntry,
    MetaInfo,
    Metric,
    Model,
    ModelVersion,
    Namespace,
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
    new_token,
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
    AlreadyExists,
    FailedPrecondition,
    FieldError,
    FileNotFound,
    InvalidArgument,
    ModelNotFound,
    PermissionDenied,
    TagNotFound,
    Unauthenticated,
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

MAX_TOKEN_LIFETIME = timedelta(days=36_525)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def may_read(actor: User, owner: str, access: AccessLevel) -> bool:
    """Whether ``actor`` may read a model of that owner and access level (and all under it)."""
    return actor.is_admin or access == AccessLevel.PUBLIC or owner == actor.name


def may_write(actor: User, owner: str) -> bool:
    """Whether ``actor`` may change, deploy or delete a model of that owner."""
    return actor.is_admin or owner == actor.name


#: How long a token the database accepted is taken as live without asking again: a prediction
#: then costs no query for its token (a token that expires meanwhile works this much longer).
TOKEN_RECHECK = timedelta(seconds=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    """Where files go: a model, or one of its versions."""

    model: Model
    version: ModelVersion | None

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


class RegistryService:
    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore,
        *,
        clock: Callable[[], datetime] = _utcnow,
        gc_grace: timedelta = timedelta(hours=1),
    ) -> None:
        self.store = store
        self.blobs = blobs
        self._clock = clock
        self.gc_grace = gc_grace
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

    # -- users and tokens --------------------------------------------------------------------

    def authenticate(self, token: str | None) -> User:
        if not token:
            raise Unauthenticated("missing credentials: send 'Authorization: Bearer <token>'")
        key = hash_token(token)
        now = self._clock()
        known = self._tokens.get(key)
        if known is not None and now - known[1] < TOKEN_RECHECK:
            return known[0]
        user = self.store.user_for_token(key, now)
        if user is None:
            self._tokens.pop(key, None)
            raise Unauthenticated("invalid, expired or revoked token")
        if len(self._tokens) >= 10_000:  # many clients: start over rather than grow
            self._tokens.clear()
        self._tokens[key] = (user, now)
        return user

    def bootstrap_admin(self, name: str = "admin") -> str | None:
        """Create the first admin and return a token for it, if there are no users yet."""
        if self.store.list_users():
            return None
        try:
            user = self.store.create_user(name=name, is_admin=True)
        except AlreadyExists:  # another server sharing the database got there first
            return None
        return self._issue_token(user, "bootstrap", None)

    def _issue_token(self, user: User, name: str, expires_at: datetime | None) -> str:
        token = new_token()
        self.store.add_token(
            user_id=user.id, token_hash=hash_token(token), name=name, expires_at=expires_at
        )
        return token

    def collect_garbage(self, actor: User, *, dry_run: bool = False) -> GcReport:
        """(Admins) remove blobs no file references, older than the grace period."""
        self._require_admin(actor, "collect garbage")
        return collect_garbage(
            self.store, self.blobs, now=self._clock(), grace=self.gc_grace, dry_run=dry_run
        )

    def create_user(self, actor: User, *, name: str, is_admin: bool = False) -> User:
        self._require_admin(actor, "create users")
        return self.store.create_user(name=UserName.parse(name, "name"), is_admin=is_admin)

    def list_users(self, actor: User) -> list[User]:
        self._require_admin(actor, "list users")
        return self.store.list_users()

    def create_token(
        self,
        actor: User,
        *,
        user: str | None = None,
        name: str = "api",
        expires_at: datetime | None = None,
    ) -> str:
        """A new token for the actor, or (admins only) for another user."""
        owner = actor
        if user is not None and user != actor.name:
            self._require_admin(actor, "create tokens for other users")
            found = self.store.get_user(user)
            if found is None:
                raise InvalidArgument(f"user: no user named {user!r}", field="user")
            owner = found
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)  # a time without a zone reads as UTC
        if expires_at is not None and not (
            self._clock() < expires_at <= self._clock() + MAX_TOKEN_LIFETIME
        ):
            raise InvalidArgument(
                "expires_at: expected a time in the future, at most 100 years ahead",
                field="expires_at",
            )
        _text(name, "name", 128)
        return self._issue_token(owner, name, expires_at)

    @staticmethod
    def _require_admin(actor: User, what: str) -> None:
        if not actor.is_admin:
            raise PermissionDenied(f"only admins may {what}")

    # -- namespaces --------------------------------------------------------------------------

    def list_namespaces(self, actor: User) -> list[Namespace]:
        """Namespaces holding at least one model the actor may read (admins: all)."""
        return self.store.list_namespaces(actor)

    # -- models ------------------------------------------------------------------------------

    @staticmethod
    def can_read(actor: User, model: Model) -> bool:
        return may_read(actor, model.owner, model.access)

    @staticmethod
    def can_write(actor: User, model: Model) -> bool:
        return may_write(actor, model.owner)

    def _model(self, actor: User, namespace: str, name: str, *, write: bool = False) -> Model:
        model = None
        if Name.valid(namespace) and Name.valid(name):
            model = self.store.get_model(namespace, name)
        if model is None or not self.can_read(actor, model):
            raise ModelNotFound(
                f"model {namespace}/{name} not found; `modelyard models list` shows the models "
                "you can see"
            )
        if write and not self.can_write(actor, model):
            raise PermissionDenied(
                f"only the owner ({model.owner}) or an admin may change {namespace}/{name}"
            )
        return model

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
    ) -> Model:
        namespace = Name.parse(namespace, "namespace")
        name = Name.parse(name, "name")
        owner_user = actor
        if owner is not None and owner != actor.name:
            self._require_admin(actor, "create models owned by someone else")
            found = self.store.get_user(owner)
            if found is None:
                raise InvalidArgument(f"owner: no user named {owner!r}", field="owner")
            owner_user = found
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
            access=self._access(access),
            created_at=now,
            updated_at=now,
        )
        return self.store.create_model(model, owner_id=owner_user.id)

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

    def update_model(
        self, actor: User, namespace: str, name: str, changes: Mapping[str, Any]
    ) -> Model:
        model = self._model(actor, namespace, name, write=True)
        checks: dict[str, Callable[[Any, str], Any]] = {
            "description": _limited(MAX_DESCRIPTION),
            "task": _limited(MAX_TASK),
            "model_card": _limited(MAX_MODEL_CARD),
            "access": lambda value, _: self._access(value),
            "metadata": lambda value, field: _metadata_patch(value or {}, field),
        }
        return self.store.update_model(model.id, _checked_changes(changes, checks))

    def delete_model(self, actor: User, namespace: str, name: str) -> None:
        model = self._model(actor, namespace, name, write=True)
        for guard in self.delete_guards:
            guard(model.id, None)
        self.store.delete_model(model.id)

    # -- versions ----------------------------------------------------------------------------

    def _version(
        self, actor: User, namespace: str, model_name: str, ref: str, *, write: bool = False
    ) -> tuple[Model, ModelVersion]:
        model = self._model(actor, namespace, model_name, write=write)
        version = self.store.get_version(model.id, ref) if VersionLabel.valid(ref) else None
        if version is None:
            raise VersionNotFound(
                f"version {ref!r} of {namespace}/{model_name} not found; "
                f"`modelyard versions list {namespace}/{model_name}` shows its versions"
            )
        return model, version

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

    def writable_version(
        self, actor: User, namespace: str, model_name: str, ref: str
    ) -> tuple[Model, ModelVersion]:
        """The model and version, if ``actor`` may write to the model."""
        return self._version(actor, namespace, model_name, ref, write=True)

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

    def delete_version(self, actor: User, namespace: str, model_name: str, ref: str) -> None:
        model, version = self._version(actor, namespace, model_name, ref, write=True)
        for guard in self.delete_guards:
            guard(model.id, version.id)
        self.store.delete_version(version.id, actor=actor.name)

    # -- files -------------------------------------------------------------------------------

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
                model=self._model(actor, namespace, model_name, write=write), version=None
            )
        model, version = self._version(actor, namespace, model_name, ref, write=write)
        if write and version.state != VersionState.PENDING:
            raise FailedPrecondition(
                f"version {version.label} is {version.state}: its files are immutable; "
                "create a new version to change them",
                details={"state": str(version.state)},
            )
        return FileTarget(model=model, version=version)

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
                    parent_kind=target.parent_kind,
                    parent_id=target.parent_id,
                    path=path,
                    size=f.size,
                    sha256=Digest.parse(f.sha256, f"files[{i}].sha256") if f.sha256 else None,
                    mime_type=mime,
                    file_type=self._file_type(f.file_type, path, mime),
                    storage=FileStorage.TRACKED,
                    uri=uri,
                    created_at=self._clock(),
                )
            )
        self.store_files(target, entries)
        return entries

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

    def log_metrics(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        metrics: list[MetricInput],
    ) -> list[Metric]:
        target = self.file_target(actor, namespace, model_name, ref)
        if not self.can_write(actor, target.model):
            raise PermissionDenied(
                f"only the owner ({target.model.owner}) or an admin may log metrics"
            )
        if len(metrics) > MAX_METRICS_PER_CALL:
            raise InvalidArgument(
                f"metrics: expected at most {MAX_METRICS_PER_CALL} per call, got {len(metrics)}",
                field="metrics",
            )
        now = time.time()
        checked = [self._metric(i, m, now) for i, m in enumerate(metrics)]
        self.store.add_metrics(target.parent_id, checked)
        return checked

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

    def set_tag(
        self, actor: User, namespace: str, model_name: str, tag: str, ref: str
    ) -> ModelVersion:
        """Point a unique tag at a version, moving it from whichever version held it."""
        tag = Tag.parse(tag, "tag")
        model, version = self._version(actor, namespace, model_name, ref, write=True)
        self.store.move_tag(model.id, tag, version.id, actor=actor.name)
        moved = self.store.get_version_by_id(version.id)
        if moved is None:
            raise VersionNotFound(f"version {version.label} was deleted meanwhile")
        return moved

    def remove_tag(self, actor: User, namespace: str, model_name: str, tag: str) -> None:
        model = self._model(actor, namespace, model_name, write=True)
        if not Tag.valid(tag) or tag not in self.store.list_tags(model.id):
            raise TagNotFound(f"tag {tag!r} is not set on {namespace}/{model_name}")
        self.store.move_tag(model.id, tag, None, actor=actor.name)

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
