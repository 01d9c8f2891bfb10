"""Experiments, checkpoints and logged events, and the use cases that take any parent by id.

ModelBox (and training loops in general) log to *experiments*: a run in a namespace, whose
*checkpoints* are its saved states, one per epoch. Models, versions, experiments and
checkpoints are all *parents*: each takes files (stored or tracked), metrics, metadata and
logged events, and each is named by its id alone (:meth:`Tracking.parent`).

Who may do what to an experiment (and its checkpoints, files, metrics, metadata, events): it
is guarded like a *restricted model that lists no team*, owned by its creator (the same rule,
:func:`modelyard.domain.access.power`):

- read: its owner, admins, and members of its namespace (any role);
- write (checkpoints, files, metrics, metadata, events): its owner, namespace writers and
  admins, admins;
- anyone else: it does not exist for them (NotFound);
- creating one: whoever may create a model in the namespace (``may_create_in``).

A model or version parent goes through :class:`RegistryService`'s own use cases, whose rules
and audit entries apply unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from modelyard.domain.access import Action, Guarded
from modelyard.domain.audit import Auditor, audited, note, touched_version
from modelyard.domain.directory import can, check_model, writable_token
from modelyard.domain.entities import FileEntry, Metric, Model, ModelVersion, User
from modelyard.domain.enums import AccessLevel, FileStorage, FileType, ParentKind
from modelyard.domain.ids import Digest, Key, Name, UserName, new_id
from modelyard.domain.ports import BlobWriter
from modelyard.domain.service import (
    MAX_FRAMEWORK,
    MAX_TASK,
    MetricInput,
    RegistryService,
    TrackedFileInput,
    _metadata_patch,
    _text,
)
from modelyard.errors import InvalidArgument, ModelNotFound, NotFound, PermissionDenied

MAX_EXTERNAL_ID = 256
MAX_EVENT_NAME = 256
MAX_EVENTS_LISTED = 10_000
MAX_CHECKPOINT_METRICS = 1000


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- entities ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Experiment:
    id: str
    namespace: str
    name: str
    owner: str
    external_id: str | None
    framework: str | None
    task: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def guarded(self) -> Guarded:
        """The access rule's view: a restricted model that lists no team."""
        return Guarded(
            id=self.id,
            namespace=self.namespace,
            owner=self.owner,
            access=AccessLevel.RESTRICTED,
            teams=frozenset(),
        )


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    id: str
    experiment_id: str
    epoch: int
    metrics: dict[str, float]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class LoggedEvent:
    """Something a client logged on a parent (ModelBox's ``LogEvent``), with its own time."""

    id: str
    parent_kind: ParentKind
    parent_id: str
    name: str
    source: str | None
    wallclock: datetime
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Parent:
    """A model, version, experiment or checkpoint, resolved from its id."""

    kind: ParentKind
    id: str
    namespace: str
    model: Model | None = None
    version: ModelVersion | None = None
    experiment: Experiment | None = None
    checkpoint: Checkpoint | None = None

    @property
    def ref(self) -> str | None:
        """The version reference of a version parent (for the service's model use cases)."""
        return str(self.version.number) if self.version is not None else None


class FileUpload(Protocol):
    """One file being written: :class:`modelyard.domain.service.Upload` or an experiment's."""

    def write(self, data: bytes) -> None: ...

    def abort(self) -> None: ...

    def finish(self) -> FileEntry: ...


# -- ports ------------------------------------------------------------------------------------


class TrackingStore(Protocol):
    """Experiments, checkpoints, logged events, and the files and metrics of experiments
    (``store/tracking.py``)."""

    def create_experiment(self, experiment: Experiment, *, owner_id: str) -> Experiment:
        """Store a new experiment (its namespace made if need be); AlreadyExists when the
        namespace has one of that name."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment | None: ...

    def find_experiment(self, namespace: str, name: str) -> Experiment | None: ...

    def list_experiments(self, namespace: str) -> list[Experiment]:
        """A namespace's experiments, newest first."""
        ...

    def create_checkpoint(self, checkpoint: Checkpoint) -> Checkpoint:
        """AlreadyExists when the experiment has a checkpoint at that epoch."""
        ...

    def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None: ...

    def checkpoint_at(self, experiment_id: str, epoch: int) -> Checkpoint | None: ...

    def list_checkpoints(self, experiment_id: str) -> list[Checkpoint]:
        """By epoch."""
        ...

    def update_metadata(
        self, kind: ParentKind, parent_id: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge ``patch`` into an experiment's or checkpoint's metadata (None removes a key);
        returns the result."""
        ...

    def put_files(self, entries: list[FileEntry]) -> None:
        """Record files of one experiment or checkpoint (replacing those at the same paths)."""
        ...

    def add_metrics(self, kind: ParentKind, parent_id: str, metrics: list[Metric]) -> None:
        """Metrics of an experiment or checkpoint."""
        ...

    def get_file_by_id(self, file_id: str) -> FileEntry | None:
        """Any parent's file."""
        ...

    def add_event(self, event: LoggedEvent) -> None: ...

    def list_events(self, parent_id: str, since: datetime | None, limit: int) -> list[LoggedEvent]:
        """A parent's events with ``wallclock >= since``, oldest first."""
        ...


# -- use cases --------------------------------------------------------------------------------


class Tracking:
    """Experiments and checkpoints, and files, metrics, metadata and events of any parent;
    see the module docstring for the rules."""

    def __init__(
        self,
        service: RegistryService,
        store: TrackingStore,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.service = service
        self.store = store
        self._clock = clock

    @property
    def auditor(self) -> Auditor | None:
        return self.service.auditor

    # -- experiments -------------------------------------------------------------------------

    def _experiment(self, actor: User, experiment_id: str, action: Action) -> Experiment:
        found = self.store.get_experiment(experiment_id) if len(experiment_id) <= 64 else None
        if found is None:
            raise NotFound(f"experiment {experiment_id!r} not found")
        self._check(actor, found, action, NotFound(f"experiment {experiment_id!r} not found"))
        return found

    @staticmethod
    def _check(actor: User, experiment: Experiment, action: Action, missing: NotFound) -> None:
        """Raise ``missing`` unless ``actor`` may read the experiment; PermissionDenied
        unless it may do ``action``."""
        if not can(actor, experiment.guarded, Action.READ):
            raise missing
        note(experiment=experiment.id)
        if action == Action.READ:
            return
        writable_token(actor)
        if not can(actor, experiment.guarded, action):
            raise PermissionDenied(
                f"only its owner ({experiment.owner}), writers of namespace "
                f"{experiment.namespace} and admins may change experiment {experiment.name}"
            )

    @audited("experiment.create")
    def create_experiment(
        self,
        actor: User,
        *,
        namespace: str,
        name: str,
        owner: str | None = None,
        external_id: str | None = None,
        framework: str | None = None,
        task: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> tuple[Experiment, bool]:
        """A new experiment, or (with True) the one the namespace already has of that name,
        if ``actor`` may read it."""
        namespace = Name.parse(namespace, "namespace")
        name = Name.parse(name, "name")
        self.service.may_create_in(actor, namespace)
        existing = self.store.find_experiment(namespace, name)
        if existing is not None and can(actor, existing.guarded, Action.READ):
            note(experiment=existing.id, exists=True)
            return existing, True
        owner_user = actor
        if owner is not None and owner != actor.name:
            if not actor.is_admin:
                raise PermissionDenied("only admins may create experiments owned by someone else")
            found = self.service.store.get_user(owner) if UserName.valid(owner) else None
            if found is None:
                raise InvalidArgument(f"owner: no user named {owner!r}", field="owner")
            owner_user = found
        now = self._clock()
        experiment = Experiment(
            id=new_id(),
            namespace=namespace,
            name=name,
            owner=owner_user.name,
            external_id=_text(external_id, "external_id", MAX_EXTERNAL_ID),
            framework=_text(framework, "framework", MAX_FRAMEWORK),
            task=_text(task, "task", MAX_TASK),
            metadata=_metadata_patch(metadata or {}),
            created_at=now,
            updated_at=now,
        )
        created = self.store.create_experiment(experiment, owner_id=owner_user.id)
        note(experiment=created.id)
        return created, False

    def get_experiment(self, actor: User, experiment_id: str) -> Experiment:
        return self._experiment(actor, experiment_id, Action.READ)

    def list_experiments(self, actor: User, namespace: str) -> list[Experiment]:
        """The namespace's experiments ``actor`` may read, newest first."""
        if not Name.valid(namespace):
            return []
        return [
            e for e in self.store.list_experiments(namespace) if can(actor, e.guarded, Action.READ)
        ]

    # -- checkpoints -------------------------------------------------------------------------

    @audited("checkpoint.create")
    def create_checkpoint(
        self,
        actor: User,
        *,
        experiment_id: str,
        epoch: int,
        metrics: Mapping[str, float] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> tuple[Checkpoint, bool]:
        """The experiment's checkpoint at ``epoch``: a new one, or (with True) the one there."""
        experiment = self._experiment(actor, experiment_id, Action.WRITE)
        if not 0 <= epoch < 2**63:
            raise InvalidArgument("epoch: expected an integer >= 0", field="epoch")
        existing = self.store.checkpoint_at(experiment.id, epoch)
        if existing is not None:
            return existing, True
        values = dict(metrics or {})
        if len(values) > MAX_CHECKPOINT_METRICS:
            raise InvalidArgument(
                f"metrics: expected at most {MAX_CHECKPOINT_METRICS}", field="metrics"
            )
        for key, value in values.items():
            Key.parse(key, f"metrics.{key}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidArgument(f"metrics.{key}: expected a number", field="metrics")
            if not math.isfinite(value):
                raise InvalidArgument(f"metrics.{key}: expected a finite number", field="metrics")
        now = self._clock()
        checkpoint = Checkpoint(
            id=new_id(),
            experiment_id=experiment.id,
            epoch=epoch,
            metrics={k: float(v) for k, v in values.items()},
            metadata=_metadata_patch(metadata or {}),
            created_at=now,
            updated_at=now,
        )
        return self.store.create_checkpoint(checkpoint), False

    def get_checkpoint(self, actor: User, checkpoint_id: str) -> Checkpoint:
        found = self.store.get_checkpoint(checkpoint_id) if len(checkpoint_id) <= 64 else None
        if found is None:
            raise NotFound(f"checkpoint {checkpoint_id!r} not found")
        try:
            self._experiment(actor, found.experiment_id, Action.READ)
        except NotFound:
            raise NotFound(f"checkpoint {checkpoint_id!r} not found") from None
        return found

    def checkpoint_at(self, actor: User, experiment_id: str, epoch: int) -> Checkpoint:
        experiment = self._experiment(actor, experiment_id, Action.READ)
        found = self.store.checkpoint_at(experiment.id, epoch) if 0 <= epoch < 2**63 else None
        if found is None:
            raise NotFound(f"experiment {experiment.name} has no checkpoint at epoch {epoch}")
        return found

    def list_checkpoints(self, actor: User, experiment_id: str) -> list[Checkpoint]:
        experiment = self._experiment(actor, experiment_id, Action.READ)
        return self.store.list_checkpoints(experiment.id)

    # -- any parent --------------------------------------------------------------------------

    def parent(self, actor: User, parent_id: str, *, write: bool = False) -> Parent:
        """The model, version, experiment or checkpoint with id ``parent_id``, if ``actor`` may
        read it (``write``: change what hangs off it); NotFound naming only the id otherwise."""
        action = Action.WRITE if write else Action.READ
        missing = NotFound(f"no model, version, experiment or checkpoint has id {parent_id!r}")
        if len(parent_id) > 64:
            raise missing
        store = self.service.store
        model = store.get_model_by_id(parent_id)
        version = None
        if model is None:
            version = store.get_version_by_id(parent_id)
            model = store.get_model_by_id(version.model_id) if version is not None else None
        if model is not None:
            try:
                check_model(actor, model, action)
            except ModelNotFound:
                raise missing from None
            if version is not None:
                touched_version(version)
            return Parent(
                kind=ParentKind.VERSION if version is not None else ParentKind.MODEL,
                id=parent_id,
                namespace=model.namespace,
                model=model,
                version=version,
            )
        checkpoint = self.store.get_checkpoint(parent_id)
        experiment = self.store.get_experiment(
            checkpoint.experiment_id if checkpoint is not None else parent_id
        )
        if experiment is None:
            raise missing
        self._check(actor, experiment, action, missing)
        return Parent(
            kind=ParentKind.CHECKPOINT if checkpoint is not None else ParentKind.EXPERIMENT,
            id=parent_id,
            namespace=experiment.namespace,
            experiment=experiment,
            checkpoint=checkpoint,
        )

    def _model_parent(self, parent: Parent) -> tuple[str, str, str | None]:
        assert parent.model is not None
        return parent.model.namespace, parent.model.name, parent.ref

    # -- metrics -----------------------------------------------------------------------------

    @audited("metrics.log")
    def log_metrics(self, actor: User, parent_id: str, metrics: list[MetricInput]) -> list[Metric]:
        parent = self.parent(actor, parent_id, write=True)
        if parent.model is not None:
            return self.service.log_metrics(actor, *self._model_parent(parent), metrics)
        checked = self.service.checked_metrics(metrics)
        self.store.add_metrics(parent.kind, parent.id, checked)
        return checked

    def list_metrics(self, actor: User, parent_id: str) -> list[Metric]:
        """By key, then step."""
        parent = self.parent(actor, parent_id)
        return self.service.store.list_metrics(parent.id, None)

    # -- metadata ----------------------------------------------------------------------------

    @audited("metadata.update")
    def update_metadata(
        self, actor: User, parent_id: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge keys into a parent's metadata (a None value removes a key); the result."""
        parent = self.parent(actor, parent_id, write=True)
        if parent.model is not None:
            return self.service.update_metadata(actor, *self._model_parent(parent), patch)
        return self.store.update_metadata(parent.kind, parent.id, _metadata_patch(patch))

    def list_metadata(self, actor: User, parent_id: str) -> dict[str, Any]:
        parent = self.parent(actor, parent_id)
        for holder in (parent.version, parent.model, parent.checkpoint, parent.experiment):
            if holder is not None:
                return dict(holder.metadata)
        return {}

    # -- files -------------------------------------------------------------------------------

    @audited("file.write")
    def track_files(
        self, actor: User, parent_id: str, files: list[TrackedFileInput]
    ) -> list[FileEntry]:
        """Record files that stay where they are (an external URI) on a parent."""
        parent = self.parent(actor, parent_id, write=True)
        if parent.model is not None:
            return self.service.track_files(actor, *self._model_parent(parent), files)
        entries = self.service.tracked_entries(parent.kind, parent.id, files)
        return self._record_experiment_files(actor, parent, entries)

    @audited("file.write")
    def _record_experiment_files(
        self, actor: User, parent: Parent, entries: list[FileEntry]
    ) -> list[FileEntry]:
        note(
            parent=parent.id,
            paths=[e.path for e in entries[:20]],
            files=len(entries),
            bytes=sum(e.size or 0 for e in entries),
        )
        self.store.put_files(entries)
        return entries

    def list_files(self, actor: User, parent_id: str) -> list[FileEntry]:
        parent = self.parent(actor, parent_id)
        return self.service.store.list_files(parent.id)

    @audited("file.write", successes=False)
    def begin_upload(
        self,
        actor: User,
        parent_id: str,
        path: str,
        *,
        sha256: str | None = None,
        file_type: FileType | str | None = None,
    ) -> FileUpload:
        """Start writing one file to a parent; a version must be PENDING (its files freeze
        when it is READY)."""
        parent = self.parent(actor, parent_id, write=True)
        if parent.model is not None:
            namespace, model, ref = self._model_parent(parent)
            target = self.service.file_target(actor, namespace, model, ref, write=True)
            return self.service.begin_upload(target, path, sha256=sha256, file_type=file_type)
        file_path, mime, kind = self.service.file_fields(path, None, file_type)
        return _ExperimentUpload(
            self,
            actor,
            parent,
            file_path,
            self.service.blobs.writer(),
            sha256=Digest.parse(sha256, "sha256") if sha256 else None,
            mime_type=mime,
            file_type=kind,
        )

    def get_file(self, actor: User, file_id: str) -> FileEntry:
        """A file by its id, if ``actor`` may read its parent."""
        entry = self.store.get_file_by_id(file_id) if len(file_id) <= 64 else None
        if entry is not None:
            try:
                self.parent(actor, entry.parent_id)
                return entry
            except NotFound:
                pass
        raise NotFound(f"file {file_id!r} not found")

    def read_file(self, entry: FileEntry) -> Iterator[bytes]:
        """The bytes of a stored file from :meth:`get_file`."""
        return self.service.read_file(entry)

    # -- logged events -----------------------------------------------------------------------

    @audited("event.log")
    def log_event(
        self,
        actor: User,
        parent_id: str,
        *,
        name: str,
        source: str | None = None,
        wallclock: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> LoggedEvent:
        parent = self.parent(actor, parent_id, write=True)
        if not name:
            raise InvalidArgument("name: expected the event's name", field="name")
        now = self._clock()
        event = LoggedEvent(
            id=new_id(),
            parent_kind=parent.kind,
            parent_id=parent.id,
            name=_text(name, "name", MAX_EVENT_NAME) or name,
            source=_text(source, "source", MAX_EVENT_NAME) or None,
            wallclock=wallclock.astimezone(UTC) if wallclock is not None else now,
            metadata=_metadata_patch(metadata or {}),
            created_at=now,
        )
        note(parent=parent.id, event=event.name)
        self.store.add_event(event)
        return event

    def list_events(
        self, actor: User, parent_id: str, *, since: datetime | None = None
    ) -> list[LoggedEvent]:
        """A parent's events from ``since`` on, oldest first (at most 10,000)."""
        parent = self.parent(actor, parent_id)
        return self.store.list_events(parent.id, since, MAX_EVENTS_LISTED)


class _ExperimentUpload:
    """A file of an experiment or checkpoint being written to the blob store."""

    def __init__(
        self,
        tracking: Tracking,
        actor: User,
        parent: Parent,
        path: str,
        writer: BlobWriter,
        *,
        sha256: str | None,
        mime_type: str,
        file_type: FileType,
    ) -> None:
        self._tracking = tracking
        self._actor = actor
        self._parent = parent
        self._path = path
        self._writer = writer
        self._sha256 = sha256
        self._mime_type = mime_type
        self._file_type = file_type

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def abort(self) -> None:
        self._writer.abort()

    def finish(self) -> FileEntry:
        blob = self._writer.commit(expected_sha256=self._sha256, expected_size=None)
        entry = FileEntry(
            id=new_id(),
            parent_kind=self._parent.kind,
            parent_id=self._parent.id,
            path=self._path,
            size=blob.size,
            sha256=blob.sha256,
            mime_type=self._mime_type,
            file_type=self._file_type,
            storage=FileStorage.STORED,
            uri=None,
            created_at=self._tracking._clock(),
        )
        return self._tracking._record_experiment_files(self._actor, self._parent, [entry])[0]


__all__ = [
    "Checkpoint",
    "Experiment",
    "FileUpload",
    "LoggedEvent",
    "Parent",
    "Tracking",
    "TrackingStore",
]
