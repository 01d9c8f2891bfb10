"""Table definitions (SQLAlchemy Core). Never imported outside ``store/``.

Surrogate string ids everywhere; names are unique attributes, so renames never cascade.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from modelyard.domain.access import Role, TokenScope
from modelyard.domain.audit import AuditOutcome, DeliveryState
from modelyard.domain.deployments import LIVE, DeploymentState, ServingBackend
from modelyard.domain.enums import AccessLevel, FileStorage, FileType, ParentKind, VersionState
from modelyard.domain.tasks import TaskKind, TaskState

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return (
            value.astimezone(UTC) if value is not None and dialect.name != "postgresql" else value
        )

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


Json = sa.JSON().with_variant(JSONB(), "postgresql")

#: Model names compare byte by byte on every backend (SQLite's default; "C" on PostgreSQL),
#: so listing order and the name-prefix range scan do not depend on the server's locale.
BinaryName = sa.String(128).with_variant(sa.String(128, collation="C"), "postgresql")


def _enum(cls: type[StrEnum]) -> sa.Enum:
    return sa.Enum(
        cls,
        name=cls.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


def _id(**kw: Any) -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True, **kw)


#: Files, metrics and logged events belong to a model or to an experiment, never both.
_ONE_OWNER = "(model_id IS NULL) <> (experiment_id IS NULL)"


users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    _id(),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("scope", _enum(TokenScope), nullable=False, default=TokenScope.WRITE),
    sa.Index(None, "user_id"),
)

teams = sa.Table(
    "teams",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("team_id", sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "user_id"),
)

namespaces = sa.Table(
    "namespaces",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Open: any user may create models in it (and owns what they create).
    sa.Column("open", sa.Boolean, nullable=False, default=True),
)

namespace_members = sa.Table(
    "namespace_members",
    metadata,
    sa.Column("namespace_id", sa.ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", _enum(Role), nullable=False),
    sa.Index(None, "user_id"),
)

models = sa.Table(
    "models",
    metadata,
    _id(),
    sa.Column("namespace_id", sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", BinaryName, nullable=False),
    sa.Column("owner_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("task", sa.String(256)),
    sa.Column("description", sa.Text),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("model_card", sa.Text),
    sa.Column("access", _enum(AccessLevel), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Tags only the owner, namespace admins and admins may move.
    sa.Column("protected_tags", Json, nullable=False, default=lambda: []),
    sa.UniqueConstraint("namespace_id", "name"),
    sa.Index(None, "name", "id"),
    sa.Index(None, "owner_id"),
)

#: The teams of a restricted model.
model_teams = sa.Table(
    "model_teams",
    metadata,
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("team_id", sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "team_id"),
)

#: Explicit grants of one model to one user.
model_grants = sa.Table(
    "model_grants",
    metadata,
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", _enum(Role), nullable=False),
    sa.Index(None, "user_id"),
)

versions = sa.Table(
    "versions",
    metadata,
    _id(),
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("name", sa.String(256)),
    sa.Column("description", sa.Text),
    sa.Column("framework", sa.String(128)),
    sa.Column("task", sa.String(256)),
    sa.Column("input_schema", Json),
    sa.Column("output_schema", Json),
    sa.Column("meta_info", Json, nullable=False),
    sa.Column("provenance", Json, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("runtime", Json),
    sa.Column("checks", Json),
    sa.Column("state", _enum(VersionState), nullable=False),
    sa.Column("status_message", sa.Text),
    sa.Column("content_digest", sa.String(64)),
    sa.Column("created_by_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.UniqueConstraint("model_id", "number"),
    sa.UniqueConstraint("model_id", "label"),
)

files = sa.Table(
    "files",
    metadata,
    _id(),
    # Whose file it is: a model's (its own or a version's), or an experiment's (its own or a
    # checkpoint's); exactly one of the two.
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE")),
    sa.Column("experiment_id", sa.ForeignKey("experiments.id", ondelete="CASCADE")),
    sa.Column("parent_kind", _enum(ParentKind), nullable=False),
    sa.Column("parent_id", sa.String(32), nullable=False),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("size", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("mime_type", sa.String(255), nullable=False),
    sa.Column("file_type", _enum(FileType), nullable=False),
    sa.Column("storage", _enum(FileStorage), nullable=False),
    sa.Column("uri", sa.String(4096)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("md5", sa.String(32)),
    sa.UniqueConstraint("parent_id", "path"),
    sa.CheckConstraint(_ONE_OWNER, name="one_owner"),
    sa.Index(None, "sha256"),
    sa.Index(None, "model_id"),
    sa.Index(None, "experiment_id"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE")),
    sa.Column("experiment_id", sa.ForeignKey("experiments.id", ondelete="CASCADE")),
    sa.Column("parent_id", sa.String(32), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value_float", sa.Float),
    sa.Column("value_string", sa.Text),
    sa.Column("value_bytes", sa.LargeBinary),
    sa.Column("step", sa.BigInteger),
    sa.Column("wallclock", sa.Float, nullable=False),
    sa.CheckConstraint(_ONE_OWNER, name="one_owner"),
    sa.Index(None, "parent_id", "key", "step"),
    sa.Index(None, "model_id"),
    sa.Index(None, "experiment_id"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String(64), primary_key=True),
    sa.Column("version_id", sa.ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    sa.Index(None, "version_id"),
    sa.Index(None, "tag"),
)

tag_events = sa.Table(
    "tag_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tag", sa.String(64), nullable=False),
    sa.Column("version_id", sa.String(32)),
    sa.Column("version_number", sa.Integer),
    sa.Column("previous_version_number", sa.Integer),
    sa.Column("moved_by", sa.String(128), nullable=False),
    sa.Column("moved_at", UTCDateTime, nullable=False),
    sa.Index(None, "model_id", "tag"),
)

#: Chunked uploads in progress (``store/sessions.py``); ``received`` holds [start, end) ranges.
upload_sessions = sa.Table(
    "upload_sessions",
    metadata,
    _id(),
    sa.Column("parent_id", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64)),
    sa.Column("mime_type", sa.String(255)),
    sa.Column("file_type", sa.String(16)),
    sa.Column("received", Json, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index(None, "expires_at"),
)

#: Asynchronous jobs (``store/tasks.py``): claimed by a runner under a lease.
tasks = sa.Table(
    "tasks",
    metadata,
    _id(),
    sa.Column("kind", _enum(TaskKind), nullable=False),
    sa.Column("state", _enum(TaskState), nullable=False),
    sa.Column("created_by_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version_id", sa.ForeignKey("versions.id", ondelete="SET NULL")),
    sa.Column("params", Json, nullable=False),
    sa.Column("result", Json),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "model_id"),
    sa.Index(None, "version_id"),
)

_LIVE_DEPLOYMENT = sa.text("state IN (" + ", ".join(f"'{state}'" for state in LIVE) + ")")

deployments = sa.Table(
    "deployments",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version_id", sa.ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("backend", _enum(ServingBackend), nullable=False),
    sa.Column("settings", Json, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False, default=False),
    sa.Column("state", _enum(DeploymentState), nullable=False),
    sa.Column("status_message", sa.Text),
    sa.Column("task_id", sa.String(32)),
    sa.Column("created_by_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime),
    sa.Index(None, "model_id"),
    sa.Index(None, "version_id"),
    sa.Index(None, "state"),
    # A name (the KServe V2 model name) belongs to one live deployment at a time.
    sa.Index(
        "uq_deployments_live_name",
        "name",
        unique=True,
        sqlite_where=_LIVE_DEPLOYMENT,
        postgresql_where=_LIVE_DEPLOYMENT,
    ),
)

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

#: Append-only: written by the service, read by admins, never updated or deleted through any
#: API. Model ids and names are copied, not referenced, so entries outlive what they name.
#: Successful model events double as the event stream and the webhooks' source.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(128)),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("outcome", _enum(AuditOutcome), nullable=False),
    sa.Column("error_code", sa.String(64)),
    sa.Column("message", sa.Text),
    sa.Column("namespace", sa.String(128)),
    sa.Column("model", sa.String(128)),
    sa.Column("model_id", sa.String(32)),
    sa.Column("version", sa.String(64)),
    sa.Column("target", sa.String(1024)),
    sa.Column("detail", Json),
    sa.Column("client", sa.String(128)),
    sa.Column("request_id", sa.String(128)),
    sa.Index(None, "at"),
    sa.Index(None, "actor"),
    sa.Index(None, "action"),
    sa.Index(None, "model_id"),
    sa.Index(None, "namespace", "id"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    _id(),
    sa.Column("namespace_id", sa.ForeignKey("namespaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("events", Json),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    # The last audit event id fanned out into deliveries for this webhook.
    sa.Column("cursor", _BIGINT_ID, nullable=False, default=0),
    sa.Column("created_by_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "namespace_id"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    _id(),
    sa.Column("webhook_id", sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.ForeignKey("audit_events.id"), nullable=False),
    sa.Column("state", _enum(DeliveryState), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.UniqueConstraint("webhook_id", "event_id"),
    sa.Index(None, "state", "next_attempt_at"),
)

#: ModelBox's experiments: training runs in a namespace, guarded like a restricted model that
#: lists no team (``domain/tracking.py``).
experiments = sa.Table(
    "experiments",
    metadata,
    _id(),
    sa.Column("namespace_id", sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", BinaryName, nullable=False),
    sa.Column("owner_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("external_id", sa.String(256)),
    sa.Column("framework", sa.String(128)),
    sa.Column("task", sa.String(256)),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("namespace_id", "name"),
)

#: An experiment's checkpoint at one epoch.
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    _id(),
    sa.Column("experiment_id", sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("metrics", Json, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("experiment_id", "epoch"),
)

#: Events a client logged on a model, version, experiment or checkpoint (ModelBox's LogEvent;
#: not the audit log's events).
logged_events = sa.Table(
    "logged_events",
    metadata,
    _id(),
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE")),
    sa.Column("experiment_id", sa.ForeignKey("experiments.id", ondelete="CASCADE")),
    sa.Column("parent_kind", _enum(ParentKind), nullable=False),
    sa.Column("parent_id", sa.String(32), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("source", sa.String(256)),
    sa.Column("wallclock", UTCDateTime, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_ONE_OWNER, name="one_owner"),
    sa.Index(None, "parent_id", "wallclock"),
    sa.Index(None, "model_id"),
    sa.Index(None, "experiment_id"),
)

#: Public keys users registered to sign requests (OCI's API signing keys), by fingerprint.
api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "user_id"),
)
