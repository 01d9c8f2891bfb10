"""tasks: persisted asynchronous jobs (URL imports), claimed by runners under a lease

Revision ID: 0003_tasks
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_tasks"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", _enum("taskkind", "IMPORT_FILES"), nullable=False),
        sa.Column(
            "state",
            _enum("taskstate", "CREATED", "RUNNING", "COMPLETED", "FAILED"),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=True),
        sa.Column("params", _JSON, nullable=False),
        sa.Column("result", _JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_tasks_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_tasks_model_id_models"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["versions.id"],
            name=op.f("fk_tasks_version_id_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_state_created_at"), "tasks", ["state", "created_at"])
    op.create_index(op.f("ix_tasks_model_id"), "tasks", ["model_id"])
    op.create_index(op.f("ix_tasks_version_id"), "tasks", ["version_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tasks_version_id"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_model_id"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_state_created_at"), table_name="tasks")
    op.drop_table("tasks")
