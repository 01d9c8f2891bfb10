"""The SQL implementation of :class:`modelyard.domain.ports.MetadataStore`.

Rows never leave this module: each entity is built in one ``_to_*`` function. Writes run in
``write()``: on SQLite behind one in-process lock with ``BEGIN IMMEDIATE`` (a single writer,
readers on their own connections), on PostgreSQL as ordinary transactions with row locks.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelyard.domain import runtime
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
from modelyard.domain.enums import FileStorage, ParentKind, VersionState
from modelyard.domain.ids import Name, new_id
from modelyard.domain.ports import ModelQuery
from modelyard.domain.runtime import CheckReport, RuntimeSpec
from modelyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    ModelNotFound,
    VersionNotFound,
)
from modelyard.store import tables as t
from modelyard.store.access import MODEL_TEAMS, AccessRows, team_names, to_user, visible_to


def _now() -> datetime:
    return datetime.now(UTC)


def _encode_token(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_token(token: str, *types: type) -> list[Any]:
    """The values of a page token, one of each of ``types``; anything else is refused."""
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if (
            isinstance(values, list)
            and len(values) == len(types)
            and all(
                isinstance(v, kind) and not isinstance(v, bool)
                for v, kind in zip(values, types, strict=True)
            )
            and all(Name.valid(v) or _ID.match(v) for v in values if isinstance(v, str))
        ):
            return values
    except (ValueError, TypeError):
        pass
    raise InvalidArgument(
        "page_token: expected a next_page_token from a previous page", field="page_token"
    )


_ID = re.compile(r"^[0-9a-f]{32}$")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _merge(current: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


# -- row -> entity --------------------------------------------------------------------------


_to_user = to_user


_MODEL_COLUMNS = (
    t.models,
    t.namespaces.c.name.label("namespace_name"),
    t.users.c.name.label("owner_name"),
    MODEL_TEAMS,
)


def _model_select() -> sa.Select[Any]:
    return (
        sa.select(*_MODEL_COLUMNS)
        .join(t.namespaces, t.namespaces.c.id == t.models.c.namespace_id)
        .join(t.users, t.users.c.id == t.models.c.owner_id)
    )


# Statements of every request, built once (SQLAlchemy caches their compiled SQL too).
_MODEL_BY_NAME = _model_select().where(
    t.namespaces.c.name == sa.bindparam("namespace"), t.models.c.name == sa.bindparam("name")
)


def _to_model(row: sa.Row[Any]) -> Model:
    return Model(
        id=row.id,
        namespace=row.namespace_name,
        name=row.name,
        owner=row.owner_name,
        task=row.task,
        description=row.description,
        metadata=row.metadata,
        model_card=row.model_card,
        access=row.access,
        created_at=row.created_at,
        updated_at=row.updated_at,
        teams=team_names(row.team_names),
        protected_tags=tuple(row.protected_tags or ()),
    )


#: Values in one ``IN (...)``: well within every database's limit on bound parameters.
_IN_BATCH = 500


def _batches(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _IN_BATCH):
        yield values[start : start + _IN_BATCH]


def _version_select() -> sa.Select[Any]:
    return (
        sa.select(
            t.versions,
            t.models.c.name.label("model_name"),
            t.namespaces.c.name.label("namespace_name"),
            t.users.c.name.label("creator_name"),
        )
        .join(t.models, t.models.c.id == t.versions.c.model_id)
        .join(t.namespaces, t.namespaces.c.id == t.models.c.namespace_id)
        .join(t.users, t.users.c.id == t.versions.c.created_by_id)
    )


def _to_version(row: sa.Row[Any], tags: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        model_id=row.model_id,
        namespace=row.namespace_name,
        model=row.model_name,
        number=row.number,
        label=row.label,
        name=row.name,
        description=row.description,
        framework=row.framework,
        task=row.task,
        input_schema=row.input_schema,
        output_schema=row.output_schema,
        meta_info=MetaInfo.model_validate(row.meta_info),
        provenance=Provenance.model_validate(row.provenance),
        metadata=row.metadata,
        runtime=RuntimeSpec.model_validate(row.runtime) if row.runtime else None,
        checks=CheckReport.model_validate(row.checks) if row.checks else None,
        tags=tags,
        state=row.state,
        status_message=row.status_message,
        content_digest=row.content_digest,
        created_by=row.creator_name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def replace_files(
    conn: sa.Connection,
    entries: list[FileEntry],
    *,
    model_id: str | None = None,
    experiment_id: str | None = None,
) -> None:
    """Record ``entries``, each replacing the file at its path under its parent; they belong
    to a model (its own or a version's) or to an experiment."""
    for e in entries:
        conn.execute(
            t.files.delete().where(t.files.c.parent_id == e.parent_id, t.files.c.path == e.path)
        )
    conn.execute(
        t.files.insert(),
        [
            {
                "id": e.id,
                "model_id": model_id,
                "experiment_id": experiment_id,
                "parent_kind": e.parent_kind,
                "parent_id": e.parent_id,
                "path": e.path,
                "size": e.size,
                "sha256": e.sha256,
                "md5": e.md5,
                "mime_type": e.mime_type,
                "file_type": e.file_type,
                "storage": e.storage,
                "uri": e.uri,
                "created_at": e.created_at,
            }
            for e in entries
        ],
    )


def _to_file(row: sa.Row[Any]) -> FileEntry:
    return FileEntry(
        id=row.id,
        parent_kind=row.parent_kind,
        parent_id=row.parent_id,
        path=row.path,
        size=row.size,
        sha256=row.sha256,
        mime_type=row.mime_type,
        file_type=row.file_type,
        storage=row.storage,
        uri=row.uri,
        created_at=row.created_at,
        md5=row.md5,
    )


def _to_metric(row: sa.Row[Any]) -> Metric:
    if row.value_float is not None:
        value: float | str | bytes = row.value_float
    elif row.value_string is not None:
        value = row.value_string
    else:
        value = bytes(row.value_bytes)
    return Metric(key=row.key, value=value, step=row.step, wallclock=row.wallclock)


_visible_to = visible_to


class SqlMetadataStore(AccessRows):
    """Implements :class:`modelyard.domain.ports.MetadataStore` on SQLAlchemy Core."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock() if self._sqlite else nullcontext()
        self._namespace_ids: dict[str, str] = {}

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction. Every SQL store module of this database (sessions, tasks)
        writes through here, so SQLite keeps its single writer."""
        with self._write_lock, self.engine.connect() as conn:
            conn.execution_options(modelyard_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection for reads (its own snapshot; never blocks on the writer)."""
        with self.engine.connect() as conn:
            yield conn

    # -- users and tokens --------------------------------------------------------------------

    def create_user(self, *, name: str, is_admin: bool) -> User:
        with self.write() as conn:
            if conn.execute(sa.select(t.users.c.id).where(t.users.c.name == name)).first():
                raise AlreadyExists(f"user {name!r} already exists", field="name")
            row = {"id": new_id(), "name": name, "is_admin": is_admin, "created_at": _now()}
            conn.execute(t.users.insert().values(**row))
        return User(**row)

    def get_user(self, name: str) -> User | None:
        with self.read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        return _to_user(row) if row else None

    def list_users(self) -> list[User]:
        with self.read() as conn:
            rows = conn.execute(sa.select(t.users).order_by(t.users.c.name)).all()
        return [_to_user(r) for r in rows]

    # -- namespaces --------------------------------------------------------------------------

    def _namespace_id(self, conn: sa.Connection, name: str) -> str:
        """The namespace's id, creating it within ``conn``'s transaction if needed."""
        if name in self._namespace_ids:
            return self._namespace_ids[name]
        found = conn.execute(
            sa.select(t.namespaces.c.id).where(t.namespaces.c.name == name)
        ).scalar()
        if found is not None:
            # Namespaces are never deleted or renamed, so a committed id can be remembered.
            self._namespace_ids[name] = found
            return found
        ns_id = new_id()
        if self._sqlite:
            conn.execute(t.namespaces.insert().values(id=ns_id, name=name, created_at=_now()))
            return ns_id
        from sqlalchemy.dialects.postgresql import insert

        conn.execute(
            insert(t.namespaces)
            .values(id=ns_id, name=name, created_at=_now())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return conn.execute(
            sa.select(t.namespaces.c.id).where(t.namespaces.c.name == name)
        ).scalar_one()

    def ensure_namespace(self, name: str) -> Namespace:
        with self.read() as conn:
            row = conn.execute(sa.select(t.namespaces).where(t.namespaces.c.name == name)).first()
        if row is None:
            with self.write() as conn:
                self._namespace_id(conn, name)
            with self.read() as conn:
                row = conn.execute(sa.select(t.namespaces).where(t.namespaces.c.name == name)).one()
        return Namespace(id=row.id, name=row.name, created_at=row.created_at)

    def list_namespaces(self, viewer: User) -> list[Namespace]:
        stmt = sa.select(t.namespaces).order_by(t.namespaces.c.name)
        if not viewer.is_admin:
            stmt = stmt.where(
                sa.or_(
                    sa.exists().where(
                        t.models.c.namespace_id == t.namespaces.c.id, _visible_to(viewer)
                    ),
                    t.namespaces.c.name.in_(list(viewer.memberships.namespaces)),
                )
            )
        with self.read() as conn:
            rows = conn.execute(stmt).all()
        return [Namespace(id=r.id, name=r.name, created_at=r.created_at, open=r.open) for r in rows]

    # -- models ------------------------------------------------------------------------------

    def create_model(self, model: Model, *, owner_id: str) -> Model:
        with self.write() as conn:
            try:
                conn.execute(
                    t.models.insert().values(
                        id=model.id,
                        namespace_id=self._namespace_id(conn, model.namespace),
                        name=model.name,
                        owner_id=owner_id,
                        task=model.task,
                        description=model.description,
                        metadata=model.metadata,
                        model_card=model.model_card,
                        access=model.access,
                        protected_tags=list(model.protected_tags),
                        created_at=model.created_at,
                        updated_at=model.updated_at,
                    )
                )
            except sa.exc.IntegrityError:  # uq_models_namespace_id_name
                raise AlreadyExists(
                    f"model {model.namespace}/{model.name} already exists", field="name"
                ) from None
        return model

    def get_model(self, namespace: str, name: str) -> Model | None:
        with self.read() as conn:
            row = conn.execute(_MODEL_BY_NAME, {"namespace": namespace, "name": name}).first()
        return _to_model(row) if row else None

    def get_model_by_id(self, model_id: str) -> Model | None:
        with self.read() as conn:
            try:
                return self._get_model_by_id(conn, model_id)
            except ModelNotFound:
                return None

    def _get_model_by_id(self, conn: sa.Connection, model_id: str) -> Model:
        row = conn.execute(_model_select().where(t.models.c.id == model_id)).first()
        if row is None:
            raise ModelNotFound(f"model {model_id} not found")
        return _to_model(row)

    def list_models(self, query: ModelQuery) -> Page[Model]:
        m = t.models
        stmt = _model_select()
        if not query.viewer.is_admin:
            stmt = stmt.where(_visible_to(query.viewer))
        if query.namespace is not None:
            stmt = stmt.where(t.namespaces.c.name == query.namespace)
        if query.name_prefix:
            prefix = query.name_prefix
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            stmt = stmt.where(m.c.name >= prefix, m.c.name < upper).where(
                m.c.name.like(_like_escape(prefix) + "%", escape="\\")
            )
        if query.name_contains:
            pattern = "%" + _like_escape(query.name_contains) + "%"
            stmt = stmt.where(m.c.name.ilike(pattern, escape="\\"))
        if query.owner is not None:
            stmt = stmt.where(t.users.c.name == query.owner)
        if query.task is not None:
            stmt = stmt.where(m.c.task == query.task)
        if query.tag is not None:
            stmt = stmt.where(
                sa.exists().where(t.tags.c.model_id == m.c.id, t.tags.c.tag == query.tag)
            )
        if query.page_token:
            name, model_id = _decode_token(query.page_token, str, str)
            stmt = stmt.where(sa.tuple_(m.c.name, m.c.id) > sa.tuple_(name, model_id))
        stmt = stmt.order_by(m.c.name, m.c.id).limit(query.page_size + 1)
        with self.read() as conn:
            rows = conn.execute(stmt).all()
        items = [_to_model(r) for r in rows[: query.page_size]]
        token = None
        if len(rows) > query.page_size:
            token = _encode_token([items[-1].name, items[-1].id])
        return Page(items=items, next_page_token=token)

    def update_model(self, model_id: str, changes: Mapping[str, Any]) -> Model:
        with self.write() as conn:
            self._update_row(conn, t.models, model_id, changes)
            return self._get_model_by_id(conn, model_id)

    def _update_row(
        self, conn: sa.Connection, table: sa.Table, row_id: str, changes: Mapping[str, Any]
    ) -> None:
        values = {k: v for k, v in changes.items() if k != "metadata"}
        if "metadata" in changes:
            current = conn.execute(
                sa.select(table.c.metadata).where(table.c.id == row_id).with_for_update()
            ).scalar_one()
            values["metadata"] = _merge(current, changes["metadata"])
        values["updated_at"] = _now()
        conn.execute(table.update().where(table.c.id == row_id).values(**values))

    def delete_model(self, model_id: str) -> None:
        with self.write() as conn:
            conn.execute(t.models.delete().where(t.models.c.id == model_id))

    # -- versions ----------------------------------------------------------------------------

    def _tags_of(self, conn: sa.Connection, version_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not version_ids:
            return {}
        rows = conn.execute(
            sa.select(t.tags.c.version_id, t.tags.c.tag)
            .where(t.tags.c.version_id.in_(version_ids))
            .order_by(t.tags.c.tag)
        ).all()
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.version_id, []).append(row.tag)
        return {k: tuple(v) for k, v in found.items()}

    def _version_by_id(self, conn: sa.Connection, version_id: str) -> ModelVersion:
        row = conn.execute(_version_select().where(t.versions.c.id == version_id)).first()
        if row is None:
            raise VersionNotFound(f"version {version_id} not found")
        return _to_version(row, self._tags_of(conn, [version_id]).get(version_id, ()))

    def create_version(self, version: ModelVersion, *, actor_id: str) -> ModelVersion:
        with self.write() as conn:
            # Lock the model row so concurrent creates number versions one after another.
            locked = conn.execute(
                sa.select(t.models.c.id).where(t.models.c.id == version.model_id).with_for_update()
            ).first()
            if locked is None:
                raise ModelNotFound(f"model {version.namespace}/{version.model} not found")
            number = (
                conn.execute(
                    sa.select(sa.func.max(t.versions.c.number)).where(
                        t.versions.c.model_id == version.model_id
                    )
                ).scalar()
                or 0
            ) + 1
            label = version.label or str(number)
            if label.isdigit() and label != str(number):
                # A number-like label must be the version's own number, so that "3" can only
                # ever mean version 3.
                raise InvalidArgument(
                    f"version: a label made of digits must be this version's number "
                    f"({number}), got {label!r}",
                    field="version",
                )
            try:
                conn.execute(
                    t.versions.insert().values(
                        id=version.id,
                        model_id=version.model_id,
                        number=number,
                        label=label,
                        name=version.name,
                        description=version.description,
                        framework=version.framework,
                        task=version.task,
                        input_schema=version.input_schema,
                        output_schema=version.output_schema,
                        meta_info=version.meta_info.model_dump(mode="json", by_alias=True),
                        provenance=version.provenance.model_dump(mode="json"),
                        metadata=version.metadata,
                        runtime=runtime.jsonable(version.runtime),
                        checks=runtime.jsonable(version.checks),
                        state=version.state,
                        status_message=version.status_message,
                        content_digest=version.content_digest,
                        created_by_id=actor_id,
                        created_at=version.created_at,
                        updated_at=version.updated_at,
                        finished_at=version.finished_at,
                    )
                )
            except sa.exc.IntegrityError:  # uq_versions_model_id_label: the number is locked
                raise AlreadyExists(
                    f"version {label!r} of {version.namespace}/{version.model} already exists",
                    field="version",
                ) from None
            for tag in version.tags:
                self._move_tag(conn, version.model_id, tag, version.id, version.created_by)
        return dataclasses.replace(version, number=number, label=label)

    def get_version(self, model_id: str, ref: str) -> ModelVersion | None:
        v = t.versions
        cond = v.c.label == ref
        if ref.isascii() and ref.isdigit() and int(ref) < 2**31:  # fits the number column
            # Unambiguous: a label made of digits is always its own version's number.
            cond = sa.or_(cond, v.c.number == int(ref))
        stmt = _version_select().where(v.c.model_id == model_id, cond).limit(1)
        with self.read() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return None
            return _to_version(row, self._tags_of(conn, [row.id]).get(row.id, ()))

    def get_version_by_id(self, version_id: str) -> ModelVersion | None:
        with self.read() as conn:
            try:
                return self._version_by_id(conn, version_id)
            except VersionNotFound:
                return None

    def list_versions(
        self, model_id: str, *, page_size: int, page_token: str | None
    ) -> Page[ModelVersion]:
        v = t.versions
        stmt = _version_select().where(v.c.model_id == model_id)
        if page_token:
            (after,) = _decode_token(page_token, int)
            stmt = stmt.where(v.c.number > max(-1, min(after, 2**31)))
        stmt = stmt.order_by(v.c.number).limit(page_size + 1)
        with self.read() as conn:
            rows = conn.execute(stmt).all()[: page_size + 1]
            tags = self._tags_of(conn, [r.id for r in rows[:page_size]])
        items = [_to_version(r, tags.get(r.id, ())) for r in rows[:page_size]]
        token = _encode_token([items[-1].number]) if len(rows) > page_size else None
        return Page(items=items, next_page_token=token)

    def versions_of(self, model_ids: Sequence[str]) -> dict[str, list[ModelVersion]]:
        v = t.versions
        found: dict[str, list[ModelVersion]] = {}
        with self.read() as conn:
            for some in _batches(list(dict.fromkeys(model_ids))):
                stmt = _version_select().where(v.c.model_id.in_(some))
                rows = conn.execute(stmt.order_by(v.c.model_id, v.c.number)).all()
                tags: dict[str, tuple[str, ...]] = {}
                for ids in _batches([r.id for r in rows]):
                    tags.update(self._tags_of(conn, ids))
                for row in rows:
                    version = _to_version(row, tags.get(row.id, ()))
                    found.setdefault(row.model_id, []).append(version)
        return found

    def update_version(self, version_id: str, changes: Mapping[str, Any]) -> ModelVersion:
        with self.write() as conn:
            self._update_row(conn, t.versions, version_id, changes)
            return self._version_by_id(conn, version_id)

    def transition_version(
        self,
        version_id: str,
        *,
        expected: VersionState,
        to: VersionState,
        content_digest: str | None,
        status_message: str | None,
    ) -> ModelVersion:
        now = _now()
        with self.write() as conn:
            result = conn.execute(
                t.versions.update()
                .where(t.versions.c.id == version_id, t.versions.c.state == expected)
                .values(
                    state=to,
                    content_digest=content_digest,
                    status_message=status_message,
                    updated_at=now,
                    finished_at=now,
                )
            )
            version = self._version_by_id(conn, version_id)
            if result.rowcount != 1:
                raise FailedPrecondition(
                    f"version {version.label} is {version.state}, not {expected}",
                    details={"state": str(version.state)},
                )
            return version

    def finish_version(
        self, version_id: str, verify: Callable[[list[FileEntry]], str]
    ) -> ModelVersion:
        now = _now()
        with self.write() as conn:
            row = self._lock_version(conn, version_id)
            if row.state != VersionState.PENDING:
                raise FailedPrecondition(
                    f"version {row.label} is {row.state}; only a PENDING version can be finished",
                    details={"state": str(row.state)},
                )
            files = conn.execute(
                sa.select(t.files).where(t.files.c.parent_id == version_id).order_by(t.files.c.path)
            ).all()
            digest = verify([_to_file(f) for f in files])
            conn.execute(
                t.versions.update()
                .where(t.versions.c.id == version_id)
                .values(
                    state=VersionState.READY,
                    content_digest=digest,
                    updated_at=now,
                    finished_at=now,
                )
            )
            return self._version_by_id(conn, version_id)

    def record_checks(
        self, version_id: str, task_id: str | None, changes: Mapping[str, Any]
    ) -> ModelVersion | None:
        with self.write() as conn:
            try:
                row = self._lock_version(conn, version_id)
            except VersionNotFound:
                return None
            current = (row.checks or {}).get("task")
            if row.state != VersionState.READY or current != task_id:
                return None
            self._update_row(conn, t.versions, version_id, changes)
            return self._version_by_id(conn, version_id)

    def _lock_version(self, conn: sa.Connection, version_id: str) -> sa.Row[Any]:
        row = conn.execute(
            sa.select(
                t.versions.c.state, t.versions.c.label, t.versions.c.model_id, t.versions.c.checks
            )
            .where(t.versions.c.id == version_id)
            .with_for_update()
        ).first()
        if row is None:
            raise VersionNotFound("the version was deleted meanwhile")
        return row

    def delete_version(self, version_id: str, *, actor: str) -> None:
        with self.write() as conn:
            # Model row first, then the version: the order tag moves take their locks in.
            model_id = conn.execute(
                sa.select(t.versions.c.model_id).where(t.versions.c.id == version_id)
            ).scalar()
            if model_id is None:
                raise VersionNotFound("the version was deleted meanwhile")
            self._lock_parent(conn, ParentKind.MODEL, model_id)
            row = self._lock_version(conn, version_id)
            tags = conn.execute(
                sa.select(t.tags.c.tag).where(t.tags.c.version_id == version_id)
            ).scalars()
            for tag in list(tags):  # record that each tag left with its version
                self._move_tag(conn, row.model_id, tag, None, actor)
            conn.execute(t.files.delete().where(t.files.c.parent_id == version_id))
            conn.execute(t.metrics.delete().where(t.metrics.c.parent_id == version_id))
            conn.execute(t.logged_events.delete().where(t.logged_events.c.parent_id == version_id))
            conn.execute(t.versions.delete().where(t.versions.c.id == version_id))

    # -- files -------------------------------------------------------------------------------

    def put_files(self, entries: list[FileEntry], *, pending_version: str | None) -> None:
        if not entries:
            return
        with self.write() as conn:
            # Lock the parent row: writes to one parent's paths go one at a time, and a parent
            # deleted meanwhile is noticed here rather than as a foreign-key failure.
            model_id = self._lock_parent(conn, entries[0].parent_kind, entries[0].parent_id)
            if pending_version is not None:
                state = self._lock_version(conn, pending_version)
                if state.state != VersionState.PENDING:
                    raise FailedPrecondition(
                        f"version {state.label} is {state.state}: its files are immutable; "
                        "create a new version to change them",
                        details={"state": str(state.state)},
                    )
            replace_files(conn, entries, model_id=model_id)

    def _lock_parent(self, conn: sa.Connection, kind: ParentKind, parent_id: str) -> str:
        """Lock a model or version row; returns the model's id."""
        if kind == ParentKind.VERSION:
            return self._lock_version(conn, parent_id).model_id
        found = conn.execute(
            sa.select(t.models.c.id).where(t.models.c.id == parent_id).with_for_update()
        ).scalar()
        if found is None:
            raise ModelNotFound("the model was deleted meanwhile")
        return found

    def list_files(self, parent_id: str) -> list[FileEntry]:
        with self.read() as conn:
            rows = conn.execute(
                sa.select(t.files).where(t.files.c.parent_id == parent_id).order_by(t.files.c.path)
            ).all()
        return [_to_file(r) for r in rows]

    def get_file(self, parent_id: str, path: str) -> FileEntry | None:
        with self.read() as conn:
            row = conn.execute(
                sa.select(t.files).where(t.files.c.parent_id == parent_id, t.files.c.path == path)
            ).first()
        return _to_file(row) if row else None

    def referenced_blobs(self) -> set[str]:
        query = sa.select(t.files.c.sha256).where(t.files.c.sha256.is_not(None)).distinct()
        with self.read() as conn:
            return set(conn.execute(query).scalars())

    def blob_readable_by(self, sha256: str, viewer: User) -> bool:
        query = (
            sa.select(t.files.c.id)
            .join(t.models, t.models.c.id == t.files.c.model_id)
            .where(t.files.c.sha256 == sha256, t.files.c.storage == FileStorage.STORED)
            .limit(1)
        )
        if not viewer.is_admin:
            query = query.where(_visible_to(viewer))
        with self.read() as conn:
            return conn.execute(query).first() is not None

    # -- metrics -----------------------------------------------------------------------------

    def add_metrics(self, parent_id: str, metrics: list[Metric]) -> None:
        if not metrics:
            return
        with self.write() as conn:
            model_id = conn.execute(
                sa.select(t.versions.c.model_id).where(t.versions.c.id == parent_id)
            ).scalar()
            if model_id is None:
                model_id = self._lock_parent(conn, ParentKind.MODEL, parent_id)
            conn.execute(
                t.metrics.insert(),
                [
                    {
                        "model_id": model_id,
                        "parent_id": parent_id,
                        "key": m.key,
                        "value_float": m.value if isinstance(m.value, float) else None,
                        "value_string": m.value if isinstance(m.value, str) else None,
                        "value_bytes": m.value if isinstance(m.value, bytes) else None,
                        "step": m.step,
                        "wallclock": m.wallclock,
                    }
                    for m in metrics
                ],
            )

    def list_metrics(self, parent_id: str, key: str | None) -> list[Metric]:
        mt = t.metrics
        stmt = sa.select(mt).where(mt.c.parent_id == parent_id)
        if key is not None:
            stmt = stmt.where(mt.c.key == key)
        stmt = stmt.order_by(mt.c.key, mt.c.step.is_(None), mt.c.step, mt.c.wallclock, mt.c.id)
        with self.read() as conn:
            rows = conn.execute(stmt).all()
        return [_to_metric(r) for r in rows]

    # -- tags --------------------------------------------------------------------------------

    def _move_tag(
        self, conn: sa.Connection, model_id: str, tag: str, version_id: str | None, actor: str
    ) -> None:
        # Tag moves of one model go one at a time (the model row is the lock).
        self._lock_parent(conn, ParentKind.MODEL, model_id)
        previous = conn.execute(
            sa.select(t.versions.c.id, t.versions.c.number)
            .join(t.tags, t.tags.c.version_id == t.versions.c.id)
            .where(t.tags.c.model_id == model_id, t.tags.c.tag == tag)
        ).first()
        if previous is not None and previous.id == version_id:
            return  # already there: no move, no history entry
        number = None
        if version_id is not None:
            number = conn.execute(
                sa.select(t.versions.c.number).where(
                    t.versions.c.id == version_id, t.versions.c.model_id == model_id
                )
            ).scalar()
            if number is None:  # deleted while we waited for the model's lock
                raise VersionNotFound("the version was deleted meanwhile")
        if previous is not None:
            conn.execute(t.tags.delete().where(t.tags.c.model_id == model_id, t.tags.c.tag == tag))
        if version_id is not None:
            conn.execute(t.tags.insert().values(model_id=model_id, tag=tag, version_id=version_id))
        conn.execute(
            t.tag_events.insert().values(
                model_id=model_id,
                tag=tag,
                version_id=version_id,
                version_number=number,
                previous_version_number=previous.number if previous else None,
                moved_by=actor,
                moved_at=_now(),
            )
        )

    def move_tag(self, model_id: str, tag: str, version_id: str | None, *, actor: str) -> None:
        with self.write() as conn:
            self._move_tag(conn, model_id, tag, version_id, actor)

    def list_tags(self, model_id: str) -> dict[str, int]:
        with self.read() as conn:
            rows = conn.execute(
                sa.select(t.tags.c.tag, t.versions.c.number)
                .join(t.versions, t.versions.c.id == t.tags.c.version_id)
                .where(t.tags.c.model_id == model_id)
                .order_by(t.tags.c.tag)
            ).all()
        return {r.tag: r.number for r in rows}

    def tagged_version(self, model_id: str, tag: str) -> ModelVersion | None:
        with self.read() as conn:
            version_id = conn.execute(
                sa.select(t.tags.c.version_id).where(
                    t.tags.c.model_id == model_id, t.tags.c.tag == tag
                )
            ).scalar()
            if version_id is None:
                return None
            return self._version_by_id(conn, version_id)

    def tag_history(self, model_id: str, tag: str | None) -> list[TagEvent]:
        te = t.tag_events
        stmt = sa.select(te).where(te.c.model_id == model_id)
        if tag is not None:
            stmt = stmt.where(te.c.tag == tag)
        with self.read() as conn:
            rows = conn.execute(stmt.order_by(te.c.id)).all()
        return [
            TagEvent(
                tag=r.tag,
                version_id=r.version_id,
                version_number=r.version_number,
                previous_version_number=r.previous_version_number,
                moved_by=r.moved_by,
                moved_at=r.moved_at,
            )
            for r in rows
        ]
