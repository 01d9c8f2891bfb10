"""access control: teams, namespace members, restricted models and grants, protected tags,
token scopes, the audit log, webhooks and their deliveries

Revision ID: 0006_access
Revises: 0005_deployments
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_access"
down_revision = "0005_deployments"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ROLE = ("reader", "writer", "admin")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _recreate() -> str:
    """SQLite changes a table's constraints by copying it; PostgreSQL alters them in place
    (a copy of ``models`` would have to drop the key that other tables reference)."""
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def _access_levels(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        allowed = ", ".join(f"'{level}'" for level in new)
        op.drop_constraint(op.f("ck_models_accesslevel"), "models", type_="check")
        op.create_check_constraint(
            op.f("ck_models_accesslevel"), "models", sa.text(f"access IN ({allowed})")
        )
        return
    with op.batch_alter_table("models", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_models_accesslevel"), type_="check")
        batch.alter_column(
            "access",
            existing_type=_enum("accesslevel", *old),
            type_=_enum("accesslevel", *new),
            existing_nullable=False,
        )


def _link(name: str, left: str, right: str, *extra: sa.Column) -> None:
    """A table of (left id, right id) pairs, both cascading."""
    a, b = f"{left[:-1]}_id", f"{right[:-1]}_id"
    op.create_table(
        name,
        sa.Column(a, sa.String(length=32), nullable=False),
        sa.Column(b, sa.String(length=32), nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            [a], [f"{left}.id"], name=op.f(f"fk_{name}_{a}_{left}"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            [b], [f"{right}.id"], name=op.f(f"fk_{name}_{b}_{right}"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(a, b, name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_{b}"), name, [b])


def upgrade() -> None:
    with op.batch_alter_table("tokens", recreate=_recreate()) as batch:
        batch.add_column(
            sa.Column(
                "scope",
                _enum("tokenscope", "read", "write"),
                nullable=False,
                server_default="write",
            )
        )
    op.create_index(op.f("ix_tokens_user_id"), "tokens", ["user_id"])
    op.add_column(
        "namespaces", sa.Column("open", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    op.add_column("models", sa.Column("protected_tags", _JSON, nullable=False, server_default="[]"))
    _access_levels(("private", "public"), ("private", "restricted", "public"))
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    _link("team_members", "teams", "users")
    _link(
        "namespace_members",
        "namespaces",
        "users",
        sa.Column("role", _enum("role", *_ROLE), nullable=False),
    )
    _link("model_teams", "models", "teams")
    _link(
        "model_grants", "models", "users", sa.Column("role", _enum("role", *_ROLE), nullable=False)
    )
    op.create_table(
        "audit_events",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", _enum("auditoutcome", "success", "denied", "failed"), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("namespace", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("model_id", sa.String(length=32), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=1024), nullable=True),
        sa.Column("detail", _JSON, nullable=True),
        sa.Column("client", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    for columns in (["at"], ["actor"], ["action"], ["model_id"], ["namespace", "id"]):
        op.create_index(op.f("ix_audit_events_" + "_".join(columns)), "audit_events", columns)
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("namespace_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("events", _JSON, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("cursor", _BIGINT, nullable=False),
        sa.Column("created_by_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_webhooks_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_webhooks_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_namespace_id"), "webhooks", ["namespace_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("webhook_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", _BIGINT, nullable=False),
        sa.Column(
            "state", _enum("deliverystate", "PENDING", "DELIVERED", "FAILED"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["audit_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_audit_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "webhook_id", "event_id", name=op.f("uq_webhook_deliveries_webhook_id_event_id")
        ),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_state_next_attempt_at"),
        "webhook_deliveries",
        ["state", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("audit_events")
    for name in ("model_grants", "model_teams", "namespace_members", "team_members"):
        op.drop_table(name)
    op.drop_table("teams")
    op.execute("UPDATE models SET access = 'private' WHERE access = 'restricted'")
    _access_levels(("private", "restricted", "public"), ("private", "public"))
    op.drop_column("models", "protected_tags")
    op.drop_column("namespaces", "open")
    op.drop_index(op.f("ix_tokens_user_id"), table_name="tokens")
    with op.batch_alter_table("tokens", recreate=_recreate()) as batch:
        batch.drop_constraint(op.f("ck_tokens_tokenscope"), type_="check")
        batch.drop_column("scope")
