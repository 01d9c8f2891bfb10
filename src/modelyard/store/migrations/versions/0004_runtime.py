"""runtime: a version's runtime spec and check report; CHECK_VERSION tasks

Revision ID: 0004_runtime
Revises: 0002_upload_sessions, 0003_tasks
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_runtime"
down_revision = ("0002_upload_sessions", "0003_tasks")
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _taskkind(*values: str) -> sa.Enum:
    return sa.Enum(*values, name="taskkind", native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.add_column(sa.Column("runtime", _JSON, nullable=True))
        batch.add_column(sa.Column("checks", _JSON, nullable=True))
    with op.batch_alter_table("tasks", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_tasks_taskkind"), type_="check")
        batch.alter_column(
            "kind",
            existing_type=_taskkind("IMPORT_FILES"),
            type_=_taskkind("IMPORT_FILES", "CHECK_VERSION"),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM tasks WHERE kind = 'CHECK_VERSION'")
    with op.batch_alter_table("tasks", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_tasks_taskkind"), type_="check")
        batch.alter_column(
            "kind",
            existing_type=_taskkind("IMPORT_FILES", "CHECK_VERSION"),
            type_=_taskkind("IMPORT_FILES"),
            existing_nullable=False,
        )
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("checks")
        batch.drop_column("runtime")
