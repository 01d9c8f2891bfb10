"""Experiments, checkpoints and any-parent use cases (domain/tracking.py): who may read and
write an experiment, parents by id, and the anonymous caller's confinement."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from modelyard.domain.access import Role
from modelyard.domain.enums import ParentKind
from modelyard.domain.service import MetricInput, TrackedFileInput
from modelyard.domain.tracking import Tracking
from modelyard.errors import (
    FailedPrecondition,
    ModelNotFound,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from modelyard.store.tracking import SqlTrackingStore


@pytest.fixture
def tracking(registry: Any) -> Tracking:
    return Tracking(registry.service, SqlTrackingStore(registry.service.store))


def member(registry: Any, name: str, role: Role | None) -> Any:
    """``name`` as authenticated, with role ``role`` in namespace ``lab`` (None: none)."""
    service = registry.service
    token = registry.token(name)
    if role is not None:
        service.set_namespace_member(registry.admin, "lab", name, role)
    return service.authenticate(token)


def test_an_experiment_is_read_by_its_namespace_and_written_by_its_writers(
    registry: Any, tracking: Tracking
) -> None:
    service = registry.service
    service.create_namespace(registry.admin, name="lab", open=True)
    owner = member(registry, "owner", None)
    reader = member(registry, "reader", Role.READER)
    writer = member(registry, "writer", Role.WRITER)
    stranger = member(registry, "stranger", None)
    experiment, exists = tracking.create_experiment(owner, namespace="lab", name="run")
    assert not exists
    assert tracking.create_experiment(reader, namespace="lab", name="run") == (experiment, True)
    assert tracking.get_experiment(reader, experiment.id) == experiment
    assert tracking.list_experiments(stranger, "lab") == []
    with pytest.raises(NotFound):
        tracking.get_experiment(stranger, experiment.id)
    with pytest.raises(PermissionDenied):
        tracking.create_checkpoint(reader, experiment_id=experiment.id, epoch=1)
    checkpoint, _ = tracking.create_checkpoint(writer, experiment_id=experiment.id, epoch=1)
    again, exists = tracking.create_checkpoint(owner, experiment_id=experiment.id, epoch=1)
    assert (again, exists) == (checkpoint, True)
    tracking.log_metrics(writer, checkpoint.id, [MetricInput(key="loss", value=0.5, step=1)])
    assert [m.value for m in tracking.list_metrics(reader, checkpoint.id)] == [0.5]
    with pytest.raises(NotFound):
        tracking.list_metrics(stranger, checkpoint.id)
    with pytest.raises(PermissionDenied):
        tracking.update_metadata(reader, experiment.id, {"k": 1})
    assert tracking.update_metadata(writer, experiment.id, {"k": 1}) == {"k": 1}
    assert tracking.list_metadata(reader, experiment.id) == {"k": 1}


def test_any_parent_by_id_takes_metrics_metadata_files_and_events(
    registry: Any, tracking: Tracking
) -> None:
    alice = registry.user("alice")
    model = registry.service.create_model(alice, name="m", namespace="team")
    version = registry.service.create_version(alice, "team", "m")
    experiment, _ = tracking.create_experiment(alice, namespace="team", name="run")
    checkpoint, _ = tracking.create_checkpoint(alice, experiment_id=experiment.id, epoch=2)
    kinds = {
        model.id: ParentKind.MODEL,
        version.id: ParentKind.VERSION,
        experiment.id: ParentKind.EXPERIMENT,
        checkpoint.id: ParentKind.CHECKPOINT,
    }
    for parent_id, kind in kinds.items():
        assert tracking.parent(alice, parent_id).kind == kind
        tracking.log_metrics(alice, parent_id, [MetricInput(key="acc", value=0.25, step=0)])
        assert tracking.update_metadata(alice, parent_id, {"kind": str(kind)})["kind"] == kind
        tracking.track_files(
            alice,
            parent_id,
            [TrackedFileInput(path="data.csv", uri="s3://b/data.csv", md5="a" * 32)],
        )
        upload = tracking.begin_upload(alice, parent_id, "weights.bin")
        upload.write(b"weights")
        stored = upload.finish()
        assert stored.sha256 == hashlib.sha256(b"weights").hexdigest()
        assert tracking.get_file(alice, stored.id) == stored
        assert sorted(f.path for f in tracking.list_files(alice, parent_id)) == [
            "data.csv",
            "weights.bin",
        ]
        tracking.log_event(alice, parent_id, name="saved", metadata={"n": 1})
        assert [e.name for e in tracking.list_events(alice, parent_id)] == ["saved"]
        assert [m.key for m in tracking.list_metrics(alice, parent_id)] == ["acc"]
    bob = registry.user("bob")
    for parent_id in kinds:
        with pytest.raises(NotFound) as hidden:
            tracking.parent(bob, parent_id)
        assert "team" not in hidden.value.message
    with pytest.raises(NotFound):
        tracking.parent(alice, "0" * 32)


def test_a_ready_versions_files_are_frozen_but_it_takes_metrics(
    registry: Any, tracking: Tracking
) -> None:
    alice = registry.user("alice")
    registry.service.create_model(alice, name="m", namespace="team")
    version = registry.service.create_version(alice, "team", "m")
    registry.service.finish_version(alice, "team", "m", "1")
    with pytest.raises(FailedPrecondition):
        tracking.begin_upload(alice, version.id, "late.bin")
    tracking.log_metrics(alice, version.id, [MetricInput(key="acc", value=1.0)])


def test_the_anonymous_caller_acts_only_in_its_namespaces(
    registry: Any, tracking: Tracking
) -> None:
    service = registry.service
    anonymous = service.anonymous_caller(["open-lab"])
    assert not anonymous.is_admin and anonymous.memberships.namespaces == {"open-lab": Role.WRITER}
    mine = service.create_model(anonymous, name="m", namespace="open-lab")
    assert mine.owner == "grpc-anonymous"
    tracking.create_experiment(anonymous, namespace="open-lab", name="run")
    with pytest.raises(Unauthenticated):
        service.create_model(anonymous, name="m", namespace="default")
    with pytest.raises(Unauthenticated):
        tracking.create_experiment(anonymous, namespace="default", name="run")
    public = service.create_model(registry.admin, name="p", namespace="default", access="public")
    with pytest.raises(ModelNotFound):
        service.get_model_by_id(anonymous, public.id)
    assert service.list_models(anonymous, namespace="default").items == []
    assert [m.name for m in service.list_models(anonymous).items] == ["m"]
    assert service.anonymous_caller(["open-lab"]).id == anonymous.id  # made once
    service.create_user(registry.admin, name="boss", is_admin=True)
    with pytest.raises(FailedPrecondition):
        service.anonymous_caller(["open-lab"], name="boss")
