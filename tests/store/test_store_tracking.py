"""The TrackingStore contract (experiments, checkpoints, logged events, the files and metrics
of experiments), run against SqlTrackingStore on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_builders import make_model, make_version, now

from modelyard.domain.entities import FileEntry, Metric, User
from modelyard.domain.enums import FileStorage, FileType, ParentKind
from modelyard.domain.ids import new_id
from modelyard.domain.tracking import Checkpoint, Experiment, LoggedEvent
from modelyard.errors import AlreadyExists
from modelyard.store.sql import SqlMetadataStore
from modelyard.store.tracking import SqlTrackingStore


@pytest.fixture
def tracking(store: SqlMetadataStore) -> SqlTrackingStore:
    return SqlTrackingStore(store)


@pytest.fixture
def alice(store: SqlMetadataStore) -> User:
    return store.create_user(name="alice", is_admin=False)


def make_experiment(
    tracking: SqlTrackingStore, owner: User, name: str, namespace: str = "lab"
) -> Experiment:
    at = now()
    experiment = Experiment(
        id=new_id(),
        namespace=namespace,
        name=name,
        owner=owner.name,
        external_id="ext",
        framework="pytorch",
        task=None,
        metadata={"a": 1},
        created_at=at,
        updated_at=at,
    )
    return tracking.create_experiment(experiment, owner_id=owner.id)


def make_checkpoint(tracking: SqlTrackingStore, experiment: Experiment, epoch: int) -> Checkpoint:
    at = now()
    checkpoint = Checkpoint(
        id=new_id(),
        experiment_id=experiment.id,
        epoch=epoch,
        metrics={"loss": 0.5},
        metadata={},
        created_at=at,
        updated_at=at,
    )
    return tracking.create_checkpoint(checkpoint)


def tracked(kind: ParentKind, parent_id: str, path: str) -> FileEntry:
    return FileEntry(
        id=new_id(),
        parent_kind=kind,
        parent_id=parent_id,
        path=path,
        size=None,
        sha256=None,
        mime_type="text/plain",
        file_type=FileType.TEXT,
        storage=FileStorage.TRACKED,
        uri=f"s3://bucket/{path}",
        created_at=now(),
        md5="0" * 32,
    )


def event(kind: ParentKind, parent_id: str, name: str, seconds: int) -> LoggedEvent:
    return LoggedEvent(
        id=new_id(),
        parent_kind=kind,
        parent_id=parent_id,
        name=name,
        source="trainer",
        wallclock=now() + timedelta(seconds=seconds),
        metadata={"n": seconds},
        created_at=now(),
    )


def test_experiments_are_unique_per_namespace_and_listed_newest_first(
    tracking: SqlTrackingStore, alice: User
) -> None:
    first = make_experiment(tracking, alice, "run")
    second = make_experiment(tracking, alice, "run-2")
    make_experiment(tracking, alice, "run", namespace="elsewhere")
    with pytest.raises(AlreadyExists):
        make_experiment(tracking, alice, "run")
    assert tracking.get_experiment(first.id) == first
    assert tracking.find_experiment("lab", "run") == first
    assert tracking.find_experiment("lab", "nothing") is None
    assert [e.id for e in tracking.list_experiments("lab")] == [second.id, first.id]


def test_checkpoints_are_unique_per_epoch_and_listed_by_epoch(
    tracking: SqlTrackingStore, alice: User
) -> None:
    experiment = make_experiment(tracking, alice, "run")
    later = make_checkpoint(tracking, experiment, 5)
    earlier = make_checkpoint(tracking, experiment, 1)
    with pytest.raises(AlreadyExists):
        make_checkpoint(tracking, experiment, 5)
    assert tracking.get_checkpoint(later.id) == later
    assert tracking.checkpoint_at(experiment.id, 1) == earlier
    assert tracking.checkpoint_at(experiment.id, 2) is None
    assert [c.epoch for c in tracking.list_checkpoints(experiment.id)] == [1, 5]


def test_metadata_merges_on_experiments_and_checkpoints(
    tracking: SqlTrackingStore, alice: User
) -> None:
    experiment = make_experiment(tracking, alice, "run")
    checkpoint = make_checkpoint(tracking, experiment, 1)
    merged = tracking.update_metadata(ParentKind.EXPERIMENT, experiment.id, {"b": [1], "a": None})
    assert merged == {"b": [1]}
    assert tracking.get_experiment(experiment.id).metadata == {"b": [1]}  # type: ignore[union-attr]
    tracking.update_metadata(ParentKind.CHECKPOINT, checkpoint.id, {"k": True})
    assert tracking.get_checkpoint(checkpoint.id).metadata == {"k": True}  # type: ignore[union-attr]


def test_files_and_metrics_of_experiments_and_checkpoints(
    store: SqlMetadataStore, tracking: SqlTrackingStore, alice: User
) -> None:
    experiment = make_experiment(tracking, alice, "run")
    checkpoint = make_checkpoint(tracking, experiment, 1)
    file = tracked(ParentKind.CHECKPOINT, checkpoint.id, "ckpt/model.pt")
    tracking.put_files([file])
    tracking.put_files([tracked(ParentKind.EXPERIMENT, experiment.id, "log.txt")])
    assert store.list_files(checkpoint.id) == [file]
    assert tracking.get_file_by_id(file.id) == file
    assert [f.path for f in store.list_files(experiment.id)] == ["log.txt"]
    metrics = [Metric(key="loss", value=v, step=s, wallclock=1.0) for s, v in enumerate([1.0, 0.5])]
    tracking.add_metrics(ParentKind.CHECKPOINT, checkpoint.id, metrics)
    assert store.list_metrics(checkpoint.id, "loss") == metrics
    assert store.list_metrics(experiment.id, None) == []


def test_events_of_any_parent_oldest_first_and_gone_with_their_version(
    store: SqlMetadataStore, tracking: SqlTrackingStore, alice: User
) -> None:
    model = make_model(store, alice, "m")
    version = make_version(store, model, alice)
    experiment = make_experiment(tracking, alice, "run")
    late = event(ParentKind.VERSION, version.id, "late", 10)
    early = event(ParentKind.VERSION, version.id, "early", 0)
    for e in (late, early, event(ParentKind.MODEL, model.id, "on-model", 0)):
        tracking.add_event(e)
    tracking.add_event(event(ParentKind.EXPERIMENT, experiment.id, "on-run", 0))
    assert tracking.list_events(version.id, None, 100) == [early, late]
    assert tracking.list_events(version.id, late.wallclock, 100) == [late]
    assert [e.name for e in tracking.list_events(experiment.id, None, 100)] == ["on-run"]
    store.delete_version(version.id, actor="alice")
    assert tracking.list_events(version.id, None, 100) == []
    store.delete_model(model.id)
    assert tracking.list_events(model.id, None, 100) == []
