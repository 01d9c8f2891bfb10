"""``modelbox.ModelStore`` over the service layer: each call is parsed, handed to one use case
(:class:`RegistryService`, :class:`Tracking`, :class:`Webhooks`) as the caller, and its result
written back. Rules, authorization and audit are the use cases'; this module only translates
(see docs/grpc.md for the vocabulary)."""

from __future__ import annotations

import functools
import hashlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from modelyard.domain.audit import request_context
from modelyard.domain.entities import FileEntry, Model, ModelVersion, User
from modelyard.domain.enums import FileStorage, FileType
from modelyard.domain.ids import Digest
from modelyard.domain.service import MetricInput, RegistryService, TrackedFileInput
from modelyard.domain.tracking import Checkpoint, Experiment, LoggedEvent, Tracking
from modelyard.domain.webhooks import Webhooks, event_payload
from modelyard.errors import (
    IntegrityError,
    InvalidArgument,
    RegistryError,
    TooManyRequests,
)
from modelyard.grpc._generated.modelbox import service_pb2 as pb
from modelyard.grpc.errors import abort

#: Most bytes per DownloadFile chunk frame (well under any client's 4 MiB receive limit).
DOWNLOAD_CHUNK = 256 * 1024
#: Most models, experiments or versions one listing returns.
MAX_LISTED = 10_000
#: How long a WatchNamespace stream waits for news before looking again (other servers
#: sharing the database wake nobody here).
WATCH_POLL_SECONDS = 1.0
WATCH_PAGE = 100

_FILE_TYPES = {
    pb.MODEL: FileType.MODEL,
    pb.CHECKPOINT: FileType.CHECKPOINT,
    pb.TEXT: FileType.TEXT,
    pb.IMAGE: FileType.IMAGE,
    pb.AUDIO: FileType.AUDIO,
    pb.VIDEO: FileType.VIDEO,
}
_FILE_TYPES_BACK = {kind: number for number, kind in _FILE_TYPES.items()}
_FRAMEWORKS = {pb.PYTORCH: "pytorch", pb.KERAS: "keras"}
_FRAMEWORKS_BACK = {"pytorch": pb.PYTORCH, "keras": pb.KERAS, "tensorflow": pb.KERAS}

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Where this server answers (GetClusterMembers)."""

    host: str
    grpc_port: int
    http_port: int


# -- wire <-> domain --------------------------------------------------------------------------


def _ts(at: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(at.astimezone(UTC))
    return stamp


def _plain(value: Any) -> Any:
    """A JSON value from a protobuf ``Value`` (whose numbers are all doubles): integral
    numbers become ints again, so ``3`` comes back as ``3``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _from_values(values: Mapping[str, struct_pb2.Value]) -> dict[str, Any]:
    return {key: _plain(json_format.MessageToDict(value)) for key, value in values.items()}


def _to_values(data: Mapping[str, Any]) -> dict[str, struct_pb2.Value]:
    return {key: json_format.ParseDict(value, struct_pb2.Value()) for key, value in data.items()}


def _framework(value: str | None) -> int:
    return _FRAMEWORKS_BACK.get((value or "").lower(), pb.UNKNOWN)


def _checksums(checksum: str) -> tuple[str | None, str | None]:
    """(SHA-256, MD5) from a ModelBox checksum: an MD5 (what its client sends) or a SHA-256
    (``sha256:`` prefix optional)."""
    text = checksum.strip().lower()
    if not text:
        return None, None
    if len(text) == 32 and all(c in "0123456789abcdef" for c in text):
        return None, text
    return Digest.parse(text, "checksum"), None


def _stored_path(path: str) -> str:
    """A stored file's path from the client's (a local path, often absolute)."""
    return path.removeprefix("file://").lstrip("/")


def _tracked(files: Iterable[pb.FileMetadata]) -> list[TrackedFileInput]:
    tracked = []
    for i, f in enumerate(files):
        if "://" in f.path:
            uri, path = f.path, f.path.split("://", 1)[1].lstrip("/")
        elif f.path.startswith("/"):
            uri, path = f"file://{f.path}", f.path.lstrip("/")
        else:
            raise InvalidArgument(
                f"files[{i}].path: expected an absolute path or a URI, got {f.path!r}",
                field=f"files[{i}].path",
            )
        sha256, md5 = _checksums(f.checksum)
        if sha256 is None and md5 is None:
            raise InvalidArgument(
                f"files[{i}].checksum: expected the file's MD5 or SHA-256",
                field=f"files[{i}].checksum",
            )
        tracked.append(
            TrackedFileInput(
                path=path,
                uri=uri,
                sha256=sha256,
                md5=md5,
                file_type=_FILE_TYPES.get(f.file_type),
            )
        )
    return tracked


def _file(entry: FileEntry) -> pb.FileMetadata:
    path = entry.path
    if entry.storage == FileStorage.TRACKED and entry.uri is not None:
        path = entry.uri.removeprefix("file://")
    return pb.FileMetadata(
        id=entry.id,
        parent_id=entry.parent_id,
        file_type=_FILE_TYPES_BACK.get(entry.file_type, pb.UNDEFINED),
        checksum=entry.sha256 or entry.md5 or "",
        path=path,
        created_at=_ts(entry.created_at),
        updated_at=_ts(entry.created_at),
    )


def _model(model: Model, files: list[FileEntry]) -> pb.Model:
    return pb.Model(
        id=model.id,
        name=model.name,
        owner=model.owner,
        namespace=model.namespace,
        description=model.description or "",
        task=model.task or "",
        files=[_file(f) for f in files],
        created_at=_ts(model.created_at),
        updated_at=_ts(model.updated_at),
    )


def _version(version: ModelVersion, files: list[FileEntry]) -> pb.ModelVersion:
    return pb.ModelVersion(
        id=version.id,
        model_id=version.model_id,
        name=version.name or "",
        version=version.label,
        description=version.description or "",
        files=[_file(f) for f in files],
        metadata=pb.Metadata(metadata=_to_values(version.metadata)),
        framework=_framework(version.framework),
        unique_tags=list(version.tags),
        created_at=_ts(version.created_at),
        updated_at=_ts(version.updated_at),
    )


def _experiment(experiment: Experiment) -> pb.Experiment:
    return pb.Experiment(
        id=experiment.id,
        name=experiment.name,
        namespace=experiment.namespace,
        owner=experiment.owner,
        framework=_framework(experiment.framework),
        external_id=experiment.external_id or "",
        created_at=_ts(experiment.created_at),
        updated_at=_ts(experiment.updated_at),
    )


def _checkpoint(checkpoint: Checkpoint, files: list[FileEntry]) -> pb.Checkpoint:
    return pb.Checkpoint(
        id=checkpoint.id,
        epoch=checkpoint.epoch,
        experiment_id=checkpoint.experiment_id,
        files=[_file(f) for f in files],
        metrics=checkpoint.metrics,
        created_at=_ts(checkpoint.created_at),
        updated_at=_ts(checkpoint.updated_at),
    )


def _event(event: LoggedEvent) -> pb.Event:
    return pb.Event(
        name=event.name,
        source=pb.EventSource(name=event.source or ""),
        wallclock_time=_ts(event.wallclock),
        metadata=pb.Metadata(metadata=_to_values(event.metadata)),
    )


def _client(context: grpc.ServicerContext) -> str | None:
    """The caller's address from ``ipv4:1.2.3.4:5678`` or ``ipv6:[::1]:5678``."""
    kind, _, rest = context.peer().partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    return rest.rpartition(":")[0].strip("[]") or None


# -- the servicer -----------------------------------------------------------------------------


def _unary(fn: F) -> F:
    """Run a unary (or client-streaming) call with the caller's address bound for the audit
    log, and answer a service error with its status."""

    @functools.wraps(fn)
    def handler(self: ModelStore, request: Any, context: grpc.ServicerContext) -> Any:
        with self.scope(context):
            try:
                return fn(self, request, context)
            except RegistryError as exc:
                abort(context, exc)

    return handler  # type: ignore[return-value]


def _streaming(fn: F) -> F:
    """:func:`_unary` for server-streaming calls."""

    @functools.wraps(fn)
    def handler(self: ModelStore, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with self.scope(context):
            try:
                yield from fn(self, request, context)
            except RegistryError as exc:
                abort(context, exc)

    return handler  # type: ignore[return-value]


class ModelStore:
    """The ``modelbox.ModelStore`` methods, one per RPC, by name (see ``server.py``)."""

    def __init__(
        self,
        service: RegistryService,
        tracking: Tracking,
        webhooks: Webhooks,
        *,
        anonymous: User | None,
        endpoints: Endpoints,
        max_watchers: int,
        max_message_bytes: int,
    ) -> None:
        self.service = service
        self.tracking = tracking
        self.webhooks = webhooks
        #: Who calls without credentials (None: nobody may).
        self.anonymous = anonymous
        self.endpoints = endpoints
        self._watchers = threading.BoundedSemaphore(max_watchers)
        #: DownloadFile's chunk frames stay within the largest message sent.
        self.chunk_size = min(DOWNLOAD_CHUNK, max_message_bytes // 2)

    def scope(self, context: grpc.ServicerContext) -> AbstractContextManager[None]:
        """Bind the caller's address and request id (``x-request-id``, else a new one) for
        the audit entries the call makes."""
        request_id = dict(context.invocation_metadata()).get("x-request-id")
        return request_context(client=_client(context), request_id=request_id or uuid.uuid4().hex)

    def caller(self, context: grpc.ServicerContext) -> User:
        """The caller, from ``authorization: Bearer <token>``; without one, the anonymous
        caller where the server allows it."""
        token = None
        for key, value in context.invocation_metadata():
            if key == "authorization":
                scheme, _, rest = str(value).partition(" ")
                token = rest.strip() if scheme.lower() == "bearer" else ""
        if token is None and self.anonymous is not None:
            return self.anonymous
        return self.service.authenticate(token)

    def _files(self, actor: User, parent_id: str) -> list[FileEntry]:
        return self.tracking.list_files(actor, parent_id)

    # -- models and versions -----------------------------------------------------------------

    @_unary
    def CreateModel(
        self, request: pb.CreateModelRequest, context: grpc.ServicerContext
    ) -> pb.CreateModelResponse:
        actor = self.caller(context)
        model = self.service.create_model(
            actor,
            name=request.name,
            namespace=request.namespace or "default",
            owner=request.owner or None,
            task=request.task or None,
            description=request.description or None,
            metadata=_from_values(request.metadata.metadata),
        )
        if request.files:
            self.tracking.track_files(actor, model.id, _tracked(request.files))
        return pb.CreateModelResponse(
            id=model.id, created_at=_ts(model.created_at), updated_at=_ts(model.updated_at)
        )

    @_unary
    def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.ServicerContext
    ) -> pb.ListModelsResponse:
        actor = self.caller(context)
        models: list[Model] = []
        token = None
        while len(models) < MAX_LISTED:
            page = self.service.list_models(
                actor, namespace=request.namespace or None, page_size=1000, page_token=token
            )
            models.extend(page.items)
            token = page.next_page_token
            if token is None:
                break
        return pb.ListModelsResponse(
            models=[_model(m, self._files(actor, m.id)) for m in models[:MAX_LISTED]]
        )

    @_unary
    def CreateModelVersion(
        self, request: pb.CreateModelVersionRequest, context: grpc.ServicerContext
    ) -> pb.CreateModelVersionResponse:
        actor = self.caller(context)
        model = self.service.get_model_by_id(actor, request.model)
        version = self.service.create_version(
            actor,
            model.namespace,
            model.name,
            label=request.version or None,
            name=request.name or None,
            description=request.description or None,
            framework=_FRAMEWORKS.get(request.framework),
            metadata=_from_values(request.metadata.metadata),
            tags=list(request.unique_tags),
        )
        if request.files:
            self.tracking.track_files(actor, version.id, _tracked(request.files))
        return pb.CreateModelVersionResponse(
            model_version=version.id,
            created_at=_ts(version.created_at),
            updated_at=_ts(version.updated_at),
        )

    @_unary
    def ListModelVersions(
        self, request: pb.ListModelVersionsRequest, context: grpc.ServicerContext
    ) -> pb.ListModelVersionsResponse:
        """The newest version: ModelBox's response holds one ``models`` message, not a list."""
        actor = self.caller(context)
        model = self.service.get_model_by_id(actor, request.model)
        newest = None
        token = None
        while True:
            page = self.service.list_versions(
                actor, model.namespace, model.name, page_size=1000, page_token=token
            )
            newest = page.items[-1] if page.items else newest
            token = page.next_page_token
            if token is None:
                break
        if newest is None:
            return pb.ListModelVersionsResponse()
        return pb.ListModelVersionsResponse(models=_version(newest, self._files(actor, newest.id)))

    # -- experiments and checkpoints ---------------------------------------------------------

    @_unary
    def CreateExperiment(
        self, request: pb.CreateExperimentRequest, context: grpc.ServicerContext
    ) -> pb.CreateExperimentResponse:
        experiment, exists = self.tracking.create_experiment(
            self.caller(context),
            namespace=request.namespace or "default",
            name=request.name,
            owner=request.owner or None,
            external_id=request.external_id or None,
            framework=_FRAMEWORKS.get(request.framework),
            task=request.task or None,
            metadata=_from_values(request.metadata.metadata),
        )
        return pb.CreateExperimentResponse(
            experiment_id=experiment.id,
            experiment_exists=exists,
            created_at=_ts(experiment.created_at),
            updated_at=_ts(experiment.updated_at),
        )

    @_unary
    def ListExperiments(
        self, request: pb.ListExperimentsRequest, context: grpc.ServicerContext
    ) -> pb.ListExperimentsResponse:
        found = self.tracking.list_experiments(self.caller(context), request.namespace or "default")
        return pb.ListExperimentsResponse(experiments=[_experiment(e) for e in found[:MAX_LISTED]])

    @_unary
    def GetExperiment(
        self, request: pb.GetExperimentRequest, context: grpc.ServicerContext
    ) -> pb.GetExperimentResponse:
        found = self.tracking.get_experiment(self.caller(context), request.id)
        return pb.GetExperimentResponse(experiment=_experiment(found))

    @_unary
    def CreateCheckpoint(
        self, request: pb.CreateCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.CreateCheckpointResponse:
        actor = self.caller(context)
        checkpoint, _ = self.tracking.create_checkpoint(
            actor,
            experiment_id=request.experiment_id,
            epoch=request.epoch,
            metrics=dict(request.metrics),
            metadata=_from_values(request.metadata.metadata),
        )
        if request.files:
            self.tracking.track_files(actor, checkpoint.id, _tracked(request.files))
        return pb.CreateCheckpointResponse(
            checkpoint_id=checkpoint.id,
            created_at=_ts(checkpoint.created_at),
            updated_at=_ts(checkpoint.updated_at),
        )

    @_unary
    def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: grpc.ServicerContext
    ) -> pb.ListCheckpointsResponse:
        actor = self.caller(context)
        found = self.tracking.list_checkpoints(actor, request.experiment_id)
        return pb.ListCheckpointsResponse(
            checkpoints=[_checkpoint(c, self._files(actor, c.id)) for c in found]
        )

    @_unary
    def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.GetCheckpointResponse:
        actor = self.caller(context)
        found = self.tracking.checkpoint_at(actor, request.experiment_id, request.epoch)
        return pb.GetCheckpointResponse(checkpoint=_checkpoint(found, self._files(actor, found.id)))

    # -- files -------------------------------------------------------------------------------

    @_unary
    def UploadFile(
        self, requests: Iterator[pb.UploadFileRequest], context: grpc.ServicerContext
    ) -> pb.UploadFileResponse:
        """A metadata frame, then chunks, written to the blob store as they come (one frame
        in memory at a time); the client's MD5 or SHA-256 is checked."""
        actor = self.caller(context)
        first = next(requests, None)
        if first is None or first.WhichOneof("stream_frame") != "metadata":
            raise InvalidArgument(
                "UploadFile: the stream must start with a metadata frame (FileMetadata with "
                "parent_id and path), then the file's bytes in chunks frames",
                field="metadata",
            )
        meta = first.metadata
        sha256, md5 = _checksums(meta.checksum)
        upload = self.tracking.begin_upload(
            actor,
            meta.parent_id,
            _stored_path(meta.path),
            sha256=sha256,
            file_type=_FILE_TYPES.get(meta.file_type),
        )
        hasher = hashlib.md5(usedforsecurity=False) if md5 is not None else None
        try:
            for frame in requests:
                if frame.WhichOneof("stream_frame") != "chunks":
                    raise InvalidArgument(
                        "UploadFile: only chunks frames may follow the metadata frame",
                        field="chunks",
                    )
                upload.write(frame.chunks)
                if hasher is not None:
                    hasher.update(frame.chunks)
            if hasher is not None and hasher.hexdigest() != md5:
                raise IntegrityError(
                    f"checksum: the bytes received have MD5 {hasher.hexdigest()}, not {md5}"
                )
        except BaseException:
            upload.abort()
            raise
        return pb.UploadFileResponse(file_id=upload.finish().id)

    @_streaming
    def DownloadFile(
        self, request: pb.DownloadFileRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.DownloadFileResponse]:
        """A metadata frame (id, checksum, ...), then the bytes in chunks of at most 256 KiB;
        each frame is sent before the next is read."""
        entry = self.tracking.get_file(self.caller(context), request.file_id)
        chunks = self.tracking.read_file(entry)  # a tracked file is refused here
        yield pb.DownloadFileResponse(metadata=_file(entry))
        for chunk in chunks:
            for start in range(0, len(chunk), self.chunk_size):
                yield pb.DownloadFileResponse(chunks=chunk[start : start + self.chunk_size])

    @_unary
    def TrackArtifacts(
        self, request: pb.TrackArtifactsRequest, context: grpc.ServicerContext
    ) -> pb.TrackArtifactsResponse:
        """Files that stay where they are, grouped by parent (each call one batch)."""
        actor = self.caller(context)
        by_parent: dict[str, list[pb.FileMetadata]] = {}
        for f in request.files:
            by_parent.setdefault(f.parent_id, []).append(f)
        tracked = 0
        for parent_id, files in by_parent.items():
            tracked += len(self.tracking.track_files(actor, parent_id, _tracked(files)))
        return pb.TrackArtifactsResponse(
            num_files_tracked=tracked, created_at=_ts(datetime.now(UTC))
        )

    @_unary
    def ListArtifacts(
        self, request: pb.ListArtifactsRequest, context: grpc.ServicerContext
    ) -> pb.ListArtifactsResponse:
        files = self._files(self.caller(context), request.parent_id)
        return pb.ListArtifactsResponse(files=[_file(f) for f in files])

    # -- metadata, metrics, events -----------------------------------------------------------

    @_unary
    def UpdateMetadata(
        self, request: pb.UpdateMetadataRequest, context: grpc.ServicerContext
    ) -> pb.UpdateMetadataResponse:
        patch = _from_values(request.metadata.metadata)
        self.tracking.update_metadata(self.caller(context), request.parent_id, patch)
        return pb.UpdateMetadataResponse(
            num_keys_written=len(patch), updated_at=_ts(datetime.now(UTC))
        )

    @_unary
    def ListMetadata(
        self, request: pb.ListMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ListMetadataResponse:
        found = self.tracking.list_metadata(self.caller(context), request.parent_id)
        return pb.ListMetadataResponse(metadata=_to_values(found))

    @_unary
    def LogMetrics(
        self, request: pb.LogMetricsRequest, context: grpc.ServicerContext
    ) -> pb.LogMetricsResponse:
        v = request.value
        kind = v.WhichOneof("value")
        value: float | str | bytes
        if kind == "f_val":
            value = v.f_val
        elif kind == "s_tensor":
            value = v.s_tensor
        elif kind == "b_tensor":
            value = v.b_tensor
        else:
            raise InvalidArgument("value: expected f_val, s_tensor or b_tensor", field="value")
        metric = MetricInput(
            key=request.key,
            value=value,
            step=v.step,
            wallclock=float(v.wallclock_time) if v.wallclock_time else None,
        )
        self.tracking.log_metrics(self.caller(context), request.parent_id, [metric])
        return pb.LogMetricsResponse()

    @_unary
    def GetMetrics(
        self, request: pb.GetMetricsRequest, context: grpc.ServicerContext
    ) -> pb.GetMetricsResponse:
        by_key: dict[str, list[pb.MetricsValue]] = {}
        for m in self.tracking.list_metrics(self.caller(context), request.parent_id):
            value = pb.MetricsValue(step=m.step or 0, wallclock_time=int(m.wallclock))
            if isinstance(m.value, float):
                value.f_val = m.value
            elif isinstance(m.value, str):
                value.s_tensor = m.value
            else:
                value.b_tensor = m.value
            by_key.setdefault(m.key, []).append(value)
        return pb.GetMetricsResponse(
            metrics=[pb.Metrics(key=key, values=values) for key, values in by_key.items()]
        )

    @_unary
    def LogEvent(
        self, request: pb.LogEventRequest, context: grpc.ServicerContext
    ) -> pb.LogEventResponse:
        e = request.event
        event = self.tracking.log_event(
            self.caller(context),
            request.parent_id,
            name=e.name,
            source=e.source.name or None,
            wallclock=e.wallclock_time.ToDatetime(UTC) if e.HasField("wallclock_time") else None,
            metadata=_from_values(e.metadata.metadata),
        )
        return pb.LogEventResponse(created_at=_ts(event.created_at))

    @_unary
    def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.ServicerContext
    ) -> pb.ListEventsResponse:
        since = request.since.ToDatetime(UTC) if request.HasField("since") else None
        found = self.tracking.list_events(self.caller(context), request.parent_id, since=since)
        return pb.ListEventsResponse(events=[_event(e) for e in found])

    # -- the event stream --------------------------------------------------------------------

    @_streaming
    def WatchNamespace(
        self, request: pb.WatchNamespaceRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchNamespaceResponse]:
        """The namespace's changes the caller may read, as the event stream carries them
        (payload: the event's JSON); ``since`` is an event id to resume after (0: from now)."""
        namespace = request.namespace or "default"
        actor = self.caller(context)
        if not self._watchers.acquire(blocking=False):
            raise TooManyRequests(
                "too many WatchNamespace streams on this server; try again later", retry_after=5
            )
        wake = threading.Event()
        unsubscribe = self.webhooks.subscribe(lambda _id: wake.set())
        try:
            page = self.webhooks.events_page(
                actor, since=request.since or None, namespace=namespace, limit=WATCH_PAGE
            )
            while context.is_active():
                for event in page.events:
                    payload = struct_pb2.Value()
                    json_format.ParseDict(event_payload(event), payload)
                    created = event.action.endswith(".create")
                    yield pb.WatchNamespaceResponse(
                        event=pb.OBJECT_CREATED if created else pb.OBJECT_UPDATED,
                        payload=payload,
                    )
                if len(page.events) < WATCH_PAGE:
                    wake.wait(WATCH_POLL_SECONDS)
                    wake.clear()
                actor = self.caller(context)  # the token and memberships as they are now
                page = self.webhooks.events_page(
                    actor, since=page.last_id, namespace=namespace, limit=WATCH_PAGE
                )
        finally:
            unsubscribe()
            self._watchers.release()

    @_unary
    def GetClusterMembers(
        self, request: pb.GetClusterMembersRequest, context: grpc.ServicerContext
    ) -> pb.GetClusterMembersResponse:
        """This server (servers sharing a database do not know each other)."""
        self.caller(context)
        e = self.endpoints
        member = pb.ClusterMember(
            id=f"{socket.gethostname()}:{e.grpc_port}",
            host_name=socket.gethostname(),
            rpc_addr=f"{e.host}:{e.grpc_port}",
            http_addr=f"{e.host}:{e.http_port}",
        )
        return pb.GetClusterMembersResponse(members=[member])


__all__ = ["DOWNLOAD_CHUNK", "Endpoints", "ModelStore"]
