"""tracking: experiments, checkpoints and logged events; files and metrics of experiments
(model_id nullable beside a new experiment_id, parent kinds EXPERIMENT and CHECKPOINT); a
file's MD5

Revision ID: 0007_tracking
Revises: 0006_access
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_tracking"
down_revision = "0006_access"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_NAME = sa.String(128).with_variant(sa.String(128, collation="C"), "postgresql")
_ID = sa.String(length=32)
_OLD_KINDS = ("MODEL", "VERSION")
_NEW_KINDS = ("MODEL", "VERSION", "EXPERIMENT", "CHECKPOINT")
_ONE_OWNER = "(model_id IS NULL) <> (experiment_id IS NULL)"


def _kinds(*values: str) -> sa.Enum:
    return sa.Enum(*values, name="parentkind", native_enum=False, create_constraint=True, length=16)


def _owned(table: str, *, kinds: bool, md5: bool) -> None:
    """Let ``table`` belong to an experiment instead of a model."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite changes constraints by copying the table; PostgreSQL alters them in place.
    with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
        if kinds:
            batch.drop_constraint(op.f(f"ck_{table}_parentkind"), type_="check")
            if sqlite:
                batch.alter_column(
                    "parent_kind",
                    existing_type=_kinds(*_OLD_KINDS),
                    type_=_kinds(*_NEW_KINDS),
                    existing_nullable=False,
                )
        batch.alter_column("model_id", existing_type=_ID, nullable=True)
        batch.add_column(sa.Column("experiment_id", _ID, nullable=True))
        if md5:
            batch.add_column(sa.Column("md5", sa.String(length=32), nullable=True))
        batch.create_foreign_key(
            op.f(f"fk_{table}_experiment_id_experiments"),
            "experiments",
            ["experiment_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_check_constraint(op.f(f"ck_{table}_one_owner"), sa.text(_ONE_OWNER))
    if kinds and not sqlite:
        allowed = ", ".join(f"'{kind}'" for kind in _NEW_KINDS)
        op.create_check_constraint(
            op.f(f"ck_{table}_parentkind"), table, sa.text(f"parent_kind IN ({allowed})")
        )
    op.create_index(op.f(f"ix_{table}_experiment_id"), table, ["experiment_id"])


def _fk(column: str, table: str, source: str, *, cascade: bool) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{table}.id"],
        name=op.f(f"fk_{source}_{column}_{table}"),
        ondelete="CASCADE" if cascade else None,
    )


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("namespace_id", _ID, nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("owner_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("framework", sa.String(length=128), nullable=True),
        sa.Column("task", sa.String(length=256), nullable=True),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("namespace_id", "namespaces", "experiments", cascade=False),
        _fk("owner_id", "users", "experiments", cascade=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("namespace_id", "name", name=op.f("uq_experiments_namespace_id_name")),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", _ID, nullable=False),
        sa.Column("experiment_id", _ID, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("metrics", _JSON, nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("experiment_id", "experiments", "checkpoints", cascade=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint(
            "experiment_id", "epoch", name=op.f("uq_checkpoints_experiment_id_epoch")
        ),
    )
    op.create_table(
        "logged_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("model_id", _ID, nullable=True),
        sa.Column("experiment_id", _ID, nullable=True),
        sa.Column("parent_kind", _kinds(*_NEW_KINDS), nullable=False),
        sa.Column("parent_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=True),
        sa.Column("wallclock", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("model_id", "models", "logged_events", cascade=True),
        _fk("experiment_id", "experiments", "logged_events", cascade=True),
        sa.CheckConstraint(_ONE_OWNER, name=op.f("ck_logged_events_one_owner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logged_events")),
    )
    for columns in (["parent_id", "wallclock"], ["model_id"], ["experiment_id"]):
        op.create_index(op.f("ix_logged_events_" + "_".join(columns)), "logged_events", columns)
    _owned("files", kinds=True, md5=True)
    _owned("metrics", kinds=False, md5=False)


def _unowned(table: str, *, kinds: bool, md5: bool) -> None:
    op.execute(f"DELETE FROM {table} WHERE model_id IS NULL")
    op.drop_index(op.f(f"ix_{table}_experiment_id"), table_name=table)
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
        batch.drop_constraint(op.f(f"ck_{table}_one_owner"), type_="check")
        batch.drop_constraint(op.f(f"fk_{table}_experiment_id_experiments"), type_="foreignkey")
        batch.drop_column("experiment_id")
        if md5:
            batch.drop_column("md5")
        batch.alter_column("model_id", existing_type=_ID, nullable=False)
        if kinds:
            batch.drop_constraint(op.f(f"ck_{table}_parentkind"), type_="check")
            if sqlite:
                batch.alter_column(
                    "parent_kind",
                    existing_type=_kinds(*_NEW_KINDS),
                    type_=_kinds(*_OLD_KINDS),
                    existing_nullable=False,
                )
    if kinds and not sqlite:
        allowed = ", ".join(f"'{kind}'" for kind in _OLD_KINDS)
        op.create_check_constraint(
            op.f(f"ck_{table}_parentkind"), table, sa.text(f"parent_kind IN ({allowed})")
        )


def downgrade() -> None:
    _unowned("metrics", kinds=False, md5=False)
    _unowned("files", kinds=True, md5=True)
    op.drop_table("logged_events")
    op.drop_table("checkpoints")
    op.drop_table("experiments")
