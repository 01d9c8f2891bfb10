"""The SQL implementation of :class:`modelyard.domain.tracking.TrackingStore`: experiments,
checkpoints, logged events, and the files and metrics of experiments (in the ``files`` and
``metrics`` tables, with ``experiment_id`` set instead of ``model_id``).

Writes go through the metadata store's writer (SQLite keeps one writer). A write to an
experiment or checkpoint locks the experiment's row, so it is not deleted underneath.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from modelyard.domain.entities import FileEntry, Metric
from modelyard.domain.enums import ParentKind
from modelyard.domain.tracking import Checkpoint, Experiment, LoggedEvent
from modelyard.errors import AlreadyExists, NotFound
from modelyard.store import tables as t
from modelyard.store.sql import SqlMetadataStore, _merge, _to_file, replace_files

_e, _c, _ev = t.experiments, t.checkpoints, t.logged_events

_EXPERIMENT_SELECT = (
    sa.select(
        _e,
        t.namespaces.c.name.label("namespace_name"),
        t.users.c.name.label("owner_name"),
    )
    .join(t.namespaces, t.namespaces.c.id == _e.c.namespace_id)
    .join(t.users, t.users.c.id == _e.c.owner_id)
)


def _to_experiment(row: sa.Row[Any]) -> Experiment:
    return Experiment(
        id=row.id,
        namespace=row.namespace_name,
        name=row.name,
        owner=row.owner_name,
        external_id=row.external_id,
        framework=row.framework,
        task=row.task,
        metadata=dict(row.metadata),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _to_checkpoint(row: sa.Row[Any]) -> Checkpoint:
    return Checkpoint(
        id=row.id,
        experiment_id=row.experiment_id,
        epoch=int(row.epoch),
        metrics={k: float(v) for k, v in row.metrics.items()},
        metadata=dict(row.metadata),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _to_event(row: sa.Row[Any]) -> LoggedEvent:
    return LoggedEvent(
        id=row.id,
        parent_kind=row.parent_kind,
        parent_id=row.parent_id,
        name=row.name,
        source=row.source,
        wallclock=row.wallclock,
        metadata=dict(row.metadata),
        created_at=row.created_at,
    )


class SqlTrackingStore:
    """Implements :class:`modelyard.domain.tracking.TrackingStore`."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self._store = store

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(self, experiment: Experiment, *, owner_id: str) -> Experiment:
        with self._store.write() as conn:
            try:
                conn.execute(
                    _e.insert().values(
                        id=experiment.id,
                        namespace_id=self._store._namespace_id(conn, experiment.namespace),
                        name=experiment.name,
                        owner_id=owner_id,
                        external_id=experiment.external_id,
                        framework=experiment.framework,
                        task=experiment.task,
                        metadata=experiment.metadata,
                        created_at=experiment.created_at,
                        updated_at=experiment.updated_at,
                    )
                )
            except sa.exc.IntegrityError:  # uq_experiments_namespace_id_name
                raise AlreadyExists(
                    f"experiment {experiment.namespace}/{experiment.name} already exists",
                    field="name",
                ) from None
        return experiment

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        with self._store.read() as conn:
            row = conn.execute(_EXPERIMENT_SELECT.where(_e.c.id == experiment_id)).first()
        return _to_experiment(row) if row else None

    def find_experiment(self, namespace: str, name: str) -> Experiment | None:
        stmt = _EXPERIMENT_SELECT.where(t.namespaces.c.name == namespace, _e.c.name == name)
        with self._store.read() as conn:
            row = conn.execute(stmt).first()
        return _to_experiment(row) if row else None

    def list_experiments(self, namespace: str) -> list[Experiment]:
        stmt = _EXPERIMENT_SELECT.where(t.namespaces.c.name == namespace).order_by(
            _e.c.created_at.desc(), _e.c.id.desc()
        )
        with self._store.read() as conn:
            return [_to_experiment(r) for r in conn.execute(stmt).all()]

    # -- checkpoints -------------------------------------------------------------------------

    def create_checkpoint(self, checkpoint: Checkpoint) -> Checkpoint:
        with self._store.write() as conn:
            self._lock_experiment(conn, checkpoint.experiment_id)
            try:
                conn.execute(
                    _c.insert().values(
                        id=checkpoint.id,
                        experiment_id=checkpoint.experiment_id,
                        epoch=checkpoint.epoch,
                        metrics=checkpoint.metrics,
                        metadata=checkpoint.metadata,
                        created_at=checkpoint.created_at,
                        updated_at=checkpoint.updated_at,
                    )
                )
            except sa.exc.IntegrityError:  # uq_checkpoints_experiment_id_epoch
                raise AlreadyExists(
                    f"the experiment has a checkpoint at epoch {checkpoint.epoch}", field="epoch"
                ) from None
        return checkpoint

    def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        with self._store.read() as conn:
            row = conn.execute(sa.select(_c).where(_c.c.id == checkpoint_id)).first()
        return _to_checkpoint(row) if row else None

    def checkpoint_at(self, experiment_id: str, epoch: int) -> Checkpoint | None:
        stmt = sa.select(_c).where(_c.c.experiment_id == experiment_id, _c.c.epoch == epoch)
        with self._store.read() as conn:
            row = conn.execute(stmt).first()
        return _to_checkpoint(row) if row else None

    def list_checkpoints(self, experiment_id: str) -> list[Checkpoint]:
        stmt = sa.select(_c).where(_c.c.experiment_id == experiment_id).order_by(_c.c.epoch)
        with self._store.read() as conn:
            return [_to_checkpoint(r) for r in conn.execute(stmt).all()]

    # -- what hangs off them -----------------------------------------------------------------

    @staticmethod
    def _lock_experiment(conn: sa.Connection, experiment_id: str) -> None:
        found = conn.execute(
            sa.select(_e.c.id).where(_e.c.id == experiment_id).with_for_update()
        ).scalar()
        if found is None:
            raise NotFound("the experiment was deleted meanwhile")

    def _owner(self, conn: sa.Connection, kind: ParentKind, parent_id: str) -> str:
        """Lock the experiment an experiment or checkpoint parent belongs to; its id."""
        experiment_id = parent_id
        if kind == ParentKind.CHECKPOINT:
            experiment_id = conn.execute(
                sa.select(_c.c.experiment_id).where(_c.c.id == parent_id)
            ).scalar()
            if experiment_id is None:
                raise NotFound("the checkpoint was deleted meanwhile")
        elif kind != ParentKind.EXPERIMENT:
            raise ValueError(f"not an experiment or checkpoint: {kind}")
        self._lock_experiment(conn, experiment_id)
        return experiment_id

    def update_metadata(
        self, kind: ParentKind, parent_id: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        table = _c if kind == ParentKind.CHECKPOINT else _e
        with self._store.write() as conn:
            self._owner(conn, kind, parent_id)
            current = conn.execute(
                sa.select(table.c.metadata).where(table.c.id == parent_id)
            ).scalar_one()
            merged = _merge(dict(current), patch)
            conn.execute(
                table.update()
                .where(table.c.id == parent_id)
                .values(metadata=merged, updated_at=datetime.now().astimezone())
            )
        return merged

    def put_files(self, entries: list[FileEntry]) -> None:
        if not entries:
            return
        with self._store.write() as conn:
            experiment_id = self._owner(conn, entries[0].parent_kind, entries[0].parent_id)
            replace_files(conn, entries, experiment_id=experiment_id)

    def add_metrics(self, kind: ParentKind, parent_id: str, metrics: list[Metric]) -> None:
        if not metrics:
            return
        with self._store.write() as conn:
            experiment_id = self._owner(conn, kind, parent_id)
            conn.execute(
                t.metrics.insert(),
                [
                    {
                        "model_id": None,
                        "experiment_id": experiment_id,
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

    def get_file_by_id(self, file_id: str) -> FileEntry | None:
        with self._store.read() as conn:
            row = conn.execute(sa.select(t.files).where(t.files.c.id == file_id)).first()
        return _to_file(row) if row else None

    # -- logged events -----------------------------------------------------------------------

    def add_event(self, event: LoggedEvent) -> None:
        with self._store.write() as conn:
            owner: dict[str, str | None] = {"model_id": None, "experiment_id": None}
            if event.parent_kind in (ParentKind.MODEL, ParentKind.VERSION):
                owner["model_id"] = self._model_of(conn, event.parent_kind, event.parent_id)
            else:
                owner["experiment_id"] = self._owner(conn, event.parent_kind, event.parent_id)
            conn.execute(
                _ev.insert().values(
                    id=event.id,
                    **owner,
                    parent_kind=event.parent_kind,
                    parent_id=event.parent_id,
                    name=event.name,
                    source=event.source,
                    wallclock=event.wallclock,
                    metadata=event.metadata,
                    created_at=event.created_at,
                )
            )

    @staticmethod
    def _model_of(conn: sa.Connection, kind: ParentKind, parent_id: str) -> str:
        """Lock the model a model or version parent belongs to; its id."""
        model_id = parent_id
        if kind == ParentKind.VERSION:
            model_id = conn.execute(
                sa.select(t.versions.c.model_id).where(t.versions.c.id == parent_id)
            ).scalar()
        found = conn.execute(
            sa.select(t.models.c.id).where(t.models.c.id == model_id).with_for_update()
        ).scalar()
        if found is None:
            raise NotFound("the model was deleted meanwhile")
        return found

    def list_events(self, parent_id: str, since: datetime | None, limit: int) -> list[LoggedEvent]:
        stmt = sa.select(_ev).where(_ev.c.parent_id == parent_id)
        if since is not None:
            stmt = stmt.where(_ev.c.wallclock >= since)
        stmt = stmt.order_by(_ev.c.wallclock, _ev.c.id).limit(limit)
        with self._store.read() as conn:
            return [_to_event(r) for r in conn.execute(stmt).all()]


__all__ = ["SqlTrackingStore"]
