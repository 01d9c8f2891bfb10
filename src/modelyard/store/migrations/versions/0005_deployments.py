"""deployments: desired state for serving a version; DEPLOY tasks

Revision ID: 0005_deployments
Revises: 0004_runtime
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_deployments"
down_revision = "0004_runtime"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_LIVE = sa.text("state IN ('PENDING', 'DEPLOYING', 'ACTIVE')")
_KINDS = ("IMPORT_FILES", "CHECK_VERSION")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _task_kinds(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    with op.batch_alter_table("tasks", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_tasks_taskkind"), type_="check")
        batch.alter_column(
            "kind",
            existing_type=_enum("taskkind", *old),
            type_=_enum("taskkind", *new),
            existing_nullable=False,
        )


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("backend", _enum("servingbackend", "local", "ray"), nullable=False),
        sa.Column("settings", _JSON, nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            _enum("deploymentstate", "PENDING", "DEPLOYING", "ACTIVE", "FAILED", "STOPPED"),
            nullable=False,
        ),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("created_by_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_deployments_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["versions.id"],
            name=op.f("fk_deployments_version_id_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_deployments_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    op.create_index(op.f("ix_deployments_model_id"), "deployments", ["model_id"])
    op.create_index(op.f("ix_deployments_version_id"), "deployments", ["version_id"])
    op.create_index(op.f("ix_deployments_state"), "deployments", ["state"])
    op.create_index(
        "uq_deployments_live_name",
        "deployments",
        ["name"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    _task_kinds(_KINDS, (*_KINDS, "DEPLOY"))


def downgrade() -> None:
    op.execute("DELETE FROM tasks WHERE kind = 'DEPLOY'")
    _task_kinds((*_KINDS, "DEPLOY"), _KINDS)
    op.drop_index("uq_deployments_live_name", table_name="deployments")
    op.drop_index(op.f("ix_deployments_state"), table_name="deployments")
    op.drop_index(op.f("ix_deployments_version_id"), table_name="deployments")
    op.drop_index(op.f("ix_deployments_model_id"), table_name="deployments")
    op.drop_table("deployments")
