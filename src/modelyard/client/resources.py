"""The SDK's objects, named as in ModelBox: ``Model``, ``ModelVersion``, ``Artifact``, ``Metric``.

``Model`` and ``ModelVersion`` share what DESIGN.md gives both: metrics, metadata and files.
Each holds the wire model it was built from (``info``) and a ``Transport`` to the server.
"""

from __future__ import annotations

import base64
import enum
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from modelyard.api import schemas as s
from modelyard.client._bundles import verify_bundle
from modelyard.client._files import PathLike, Progress, collect, inside
from modelyard.client._sessions import send_file
from modelyard.client._transport import Transport, file_path, paginate, segment
from modelyard.client.deployments import PATH as DEPLOYMENTS
from modelyard.client.deployments import Deployment, deployment_body
from modelyard.client.tasks import wait_for
from modelyard.domain.entities import MetaInfo, Provenance
from modelyard.domain.enums import AccessLevel, FileStorage, FileType, VersionState
from modelyard.domain.gesund import ArtifactProps
from modelyard.domain.runtime import CheckReport, CheckState, RuntimeSpec
from modelyard.errors import FailedPrecondition, InvalidArgument

MetricValue = float | str | bytes


class _Unset(enum.Enum):
    """The type of :data:`UNSET`: "argument not given", as opposed to ``None`` ("clear it")."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset.UNSET


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """One file of a model or version: stored (bytes held by modelyard) or tracked (a URI)."""

    id: str
    parent: str
    path: str
    mime_type: str
    checksum: str
    size: int | None
    sha256: str | None
    file_type: FileType
    storage: FileStorage
    uri: str | None
    created_at: datetime

    @classmethod
    def from_wire(cls, f: s.FileOut) -> Artifact:
        return cls(
            id=f.id,
            parent=f.parent_id,
            path=f.path,
            mime_type=f.mime_type,
            checksum=f.checksum or "",
            size=f.size,
            sha256=f.sha256,
            file_type=f.file_type,
            storage=f.storage,
            uri=f.uri,
            created_at=f.created_at,
        )


@dataclass(frozen=True, kw_only=True)
class Metric:
    key: str
    value: MetricValue
    step: int | None
    wallclock: float

    @classmethod
    def from_wire(cls, m: s.MetricOut) -> Metric:
        value: MetricValue | None = m.value
        if m.value_bytes is not None:
            value = base64.b64decode(m.value_bytes)
        assert value is not None
        return cls(key=m.key, value=value, step=m.step, wallclock=m.wallclock)


def _metric_in(key: str, value: MetricValue, step: int | None, wallclock: float | None) -> Any:
    if isinstance(value, bytes):
        body = {"value_bytes": base64.b64encode(value).decode()}
    else:
        body = {"value": value}
    return {"key": key, "step": step, "wallclock": wallclock, **body}


def _tracked_path(uri: str) -> str:
    parsed = urlparse(uri)
    return PurePosixPath(parsed.path).name or parsed.netloc or uri


class _Entity:
    """Metrics, metadata and files: the API ModelBox gives both models and versions."""

    _path: str
    _metadata: dict[str, Any]

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    # -- metrics -----------------------------------------------------------------------

    def log_metrics(
        self,
        metrics: Mapping[str, MetricValue],
        step: int | None = None,
        wallclock: float | None = None,
    ) -> list[Metric]:
        """Record each key's value at ``step`` (and ``wallclock``, default: now)."""
        body = {"metrics": [_metric_in(k, v, step, wallclock) for k, v in metrics.items()]}
        logged = self._t.call("POST", self._path + "/metrics", s.MetricList, json=body)
        return [Metric.from_wire(m) for m in logged.metrics]

    def metrics(self, key: str | None = None) -> list[Metric]:
        """Metrics in the server's order: by key, then step (else wallclock)."""
        found = self._t.call("GET", self._path + "/metrics", s.MetricList, params={"key": key})
        return [Metric.from_wire(m) for m in found.metrics]

    # -- metadata ----------------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata as of the last fetch or change; ``refresh()`` fetches it again."""
        return dict(self._metadata)

    def update_metadata(self, key: str | Mapping[str, Any], value: Any = None) -> dict[str, Any]:
        """Set one key (``update_metadata("k", v)``) or merge a dict; a None value removes a
        key. Returns the merged metadata."""
        patch = dict(key) if isinstance(key, Mapping) else {key: value}
        merged = self._t.call("PATCH", self._path + "/metadata", s.MetadataOut, json=patch)
        self._metadata = merged.metadata
        return self.metadata

    # -- files -------------------------------------------------------------------------

    def upload_artifact(
        self, files: PathLike | Iterable[PathLike], progress: Progress | None = None
    ) -> list[Artifact]:
        """Upload local files; a directory uploads every file under it by relative path.

        A file whose content the server already stores is registered without sending it;
        files of 64 MiB and more go in resumable chunks, each retried on failure."""
        return [
            Artifact.from_wire(send_file(self._t, self._path, name, local, progress))
            for local, name in collect(files)
        ]

    def track_artifacts(self, files: Iterable[str] | Mapping[str, str]) -> list[Artifact]:
        """Record files held elsewhere by URI. A mapping names each one's path (path -> URI);
        otherwise the last segment of the URI is its path."""
        pairs = (
            files.items() if isinstance(files, Mapping) else ((_tracked_path(u), u) for u in files)
        )
        body = {"files": [{"path": path, "uri": uri} for path, uri in pairs]}
        tracked = self._t.call("POST", self._path + "/files", s.FileList, json=body)
        return [Artifact.from_wire(f) for f in tracked.files]

    def artifacts(self) -> list[Artifact]:
        found = self._t.call("GET", self._path + "/files", s.FileList)
        return [Artifact.from_wire(f) for f in found.files]

    def download(self, path: str, dest: PathLike, progress: Progress | None = None) -> Path:
        """Download one stored file to ``dest`` (into it, if ``dest`` is a directory),
        verified against its SHA-256. A path that would land outside the directory is
        refused with :class:`InvalidArgument` before anything is fetched."""
        target = Path(dest)
        if target.is_dir():
            target = inside(target, path)
        return self._t.download(self._file_url(path), target, progress=progress)

    def download_all(self, dest_dir: PathLike, progress: Progress | None = None) -> list[Path]:
        """Download every stored file under ``dest_dir`` by its path; tracked files are
        skipped (their bytes live at their URI). Every path the server lists is checked
        first: if any would land outside ``dest_dir``, :class:`InvalidArgument` is raised and
        nothing is written."""
        root = Path(dest_dir)
        stored = [a for a in self.artifacts() if a.storage == FileStorage.STORED]
        targets = [(a, inside(root, a.path)) for a in stored]
        return [
            self._t.download(self._file_url(a.path), target, a.sha256, progress)
            for a, target in targets
        ]

    def _file_url(self, path: str) -> str:
        return f"{self._path}/files/{file_path(path)}"

    def _add_artifacts(self, artifacts: Iterable[PathLike] | None) -> None:
        """Upload local paths and track URIs (anything with ``://``)."""
        items = list(artifacts or [])
        uris = [str(a) for a in items if "://" in str(a)]
        local = [a for a in items if "://" not in str(a)]
        if local:
            self.upload_artifact(local)
        if uris:
            self.track_artifacts(uris)


class Model(_Entity):
    """A named model in a namespace; the parent of its versions."""

    def __init__(self, transport: Transport, info: s.ModelOut) -> None:
        super().__init__(transport)
        self._set(info)

    def _set(self, info: s.ModelOut) -> None:
        self.info = info
        self._metadata = info.metadata
        self._path = f"/api/v1/models/{segment(info.namespace)}/{segment(info.name)}"

    def __repr__(self) -> str:
        return f"<Model {self.full_name} owner={self.owner} access={self.access}>"

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def namespace(self) -> str:
        return self.info.namespace

    @property
    def full_name(self) -> str:
        return f"{self.info.namespace}/{self.info.name}"

    @property
    def owner(self) -> str:
        return self.info.owner

    @property
    def task(self) -> str | None:
        return self.info.task

    @property
    def description(self) -> str | None:
        return self.info.description

    @property
    def access(self) -> AccessLevel:
        return self.info.access

    @property
    def model_card(self) -> str | None:
        return self.info.model_card

    @property
    def teams(self) -> list[str]:
        """The teams that may read it, when it is restricted."""
        return list(self.info.teams)

    @property
    def protected_tags(self) -> list[str]:
        return list(self.info.protected_tags)

    def refresh(self) -> Model:
        self._set(self._t.call("GET", self._path, s.ModelOut))
        return self

    def update(
        self,
        task: str | _Unset | None = UNSET,
        description: str | _Unset | None = UNSET,
        metadata: Mapping[str, Any] | None = None,
        model_card: str | _Unset | None = UNSET,
        access: AccessLevel | str | None = None,
        teams: Iterable[str] | None = None,
        add_all_backend_roles: bool | None = None,
        protected_tags: Iterable[str] | None = None,
    ) -> Model:
        """Change the fields given; ``None`` clears ``task``, ``description`` or
        ``model_card``. ``metadata`` is merged (a None value removes a key); ``metadata`` and
        ``access`` cannot be cleared, so None leaves them as they are. ``access``, ``teams``
        (a restricted model's), ``add_all_backend_roles`` and ``protected_tags`` need the
        right to manage the model."""
        changes: dict[str, Any] = {"task": task, "description": description}
        changes["model_card"] = model_card
        if metadata is not None:
            changes["metadata"] = dict(metadata)
        if access is not None:
            changes["access"] = access
        if teams is not None:
            changes["teams"] = list(teams)
        if add_all_backend_roles is not None:
            changes["add_all_backend_roles"] = add_all_backend_roles
        if protected_tags is not None:
            changes["protected_tags"] = list(protected_tags)
        body = {k: v for k, v in changes.items() if v is not UNSET}
        self._set(self._t.call("PATCH", self._path, s.ModelOut, json=body))
        return self

    def delete(self) -> None:
        """Delete the model with its versions, files, metrics and tags."""
        self._t.send("DELETE", self._path)

    # -- grants ------------------------------------------------------------------------

    def grants(self) -> dict[str, str]:
        """User -> role (``reader`` or ``writer``) of the users it is granted to."""
        found = self._t.call("GET", self._path + "/grants", s.GrantList).grants
        return {g.user: str(g.role) for g in found}

    def grant(self, user: str, role: str = "reader") -> dict[str, str]:
        """Grant the model to ``user`` as ``reader`` or ``writer`` (private models too)."""
        found = self._t.call(
            "PUT", f"{self._path}/grants/{segment(user)}", s.GrantList, json={"role": role}
        ).grants
        return {g.user: str(g.role) for g in found}

    def revoke_grant(self, user: str) -> dict[str, str]:
        found = self._t.call("DELETE", f"{self._path}/grants/{segment(user)}", s.GrantList)
        return {g.user: str(g.role) for g in found.grants}

    # -- versions ----------------------------------------------------------------------

    def new_model_version(
        self,
        version: str | None = None,
        name: str | None = None,
        description: str | None = None,
        artifacts: Iterable[PathLike] | None = None,
        metadata: Mapping[str, Any] | None = None,
        unique_tags: Iterable[str] | None = None,
        framework: str | None = None,
        task: str | None = None,
        input_schema: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
        meta_info: MetaInfo | Mapping[str, Any] | None = None,
        provenance: Provenance | Mapping[str, Any] | None = None,
        model_files: Mapping[str, str] | None = None,
        model_files_sha256: Mapping[str, str] | None = None,
        runtime: RuntimeSpec | Mapping[str, Any] | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> ModelVersion:
        """Create a PENDING version; ``artifacts`` (local paths, or URIs to track) are added
        to it. ``version`` is its label (default: its number).

        ``model_files`` (target path -> URL, as for :meth:`ModelVersion.import_files`) has the
        server import the files instead, checking each ``model_files_sha256`` given; the
        version becomes READY once all are in, or FAILED. ``import_task`` on the version
        returned is the task's id; with ``wait`` it is returned once the task has ended (a
        FAILED task raises FailedPrecondition with its error; ``timeout`` seconds raise
        TimeoutError).

        ``runtime`` (flavor, model file, entry point, requirements...) says how the version
        loads and predicts; without it the server's checks detect it from the files."""
        if model_files is not None and artifacts is not None:
            raise InvalidArgument(
                "artifacts: give either artifacts or model_files; the import finishes the "
                "version, so nothing can be added beside it",
                field="artifacts",
            )
        body = s.VersionCreate(
            version=version,
            name=name,
            description=description,
            framework=framework,
            task=task,
            input_schema=dict(input_schema) if input_schema is not None else None,
            output_schema=dict(output_schema) if output_schema is not None else None,
            meta_info=MetaInfo.model_validate(meta_info or {}),
            provenance=Provenance.model_validate(provenance or {}),
            metadata=dict(metadata or {}),
            unique_tags=list(unique_tags or []),
            runtime=RuntimeSpec.model_validate(runtime) if runtime is not None else None,
            model_files=dict(model_files) if model_files is not None else None,
            model_files_sha256=dict(model_files_sha256) if model_files_sha256 else None,
        )
        info = self._t.call(
            "POST",
            self._path + "/versions",
            s.VersionOut,
            json=body.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
        created = ModelVersion(self._t, info)
        created._add_artifacts(artifacts)
        if wait and info.import_task is not None:
            wait_for(self._t, info.import_task, timeout)
            ended = self._t.call("GET", created._path, s.VersionOut)
            created._set(ended.model_copy(update={"import_task": info.import_task}))
        return created

    def versions(self, page_size: int = 100) -> Iterator[ModelVersion]:
        """Every version, by number, fetched a page at a time as the iterator advances."""

        def fetch(token: str | None) -> tuple[list[ModelVersion], str | None]:
            params = {"page_size": page_size, "page_token": token}
            page = self._t.call("GET", self._path + "/versions", s.VersionList, params=params)
            return [ModelVersion(self._t, v) for v in page.versions], page.next_page_token

        return paginate(fetch)

    def get_version(self, ref: str | int) -> ModelVersion:
        """A version by label, or by number when no label matches."""
        path = f"{self._path}/versions/{segment(str(ref))}"
        return ModelVersion(self._t, self._t.call("GET", path, s.VersionOut))

    def version_by_tag(self, tag: str) -> ModelVersion:
        path = f"{self._path}/tags/{segment(tag)}"
        return ModelVersion(self._t, self._t.call("GET", path, s.VersionOut))

    # -- tags --------------------------------------------------------------------------

    def tags(self) -> dict[str, int]:
        """Current tags: tag -> version number."""
        return self._t.call("GET", self._path + "/tags", s.TagList).tags

    def set_tag(self, tag: str, version: str | int) -> ModelVersion:
        """Move the unique ``tag`` to ``version`` (label or number)."""
        path = f"{self._path}/tags/{segment(tag)}"
        info = self._t.call("PUT", path, s.VersionOut, json={"version": str(version)})
        return ModelVersion(self._t, info)

    def remove_tag(self, tag: str) -> None:
        self._t.send("DELETE", f"{self._path}/tags/{segment(tag)}")

    def tag_history(self, tag: str) -> list[s.TagEventOut]:
        """Every move of ``tag``, oldest first: version, previous version, who, when."""
        path = f"{self._path}/tags/{segment(tag)}/history"
        return self._t.call("GET", path, s.TagHistory).events


class ModelVersion(_Entity):
    """One version of a model: PENDING while its files arrive, then READY (frozen) or FAILED."""

    def __init__(self, transport: Transport, info: s.VersionOut) -> None:
        super().__init__(transport)
        self._set(info)

    def _set(self, info: s.VersionOut) -> None:
        self.info = info
        self._metadata = info.metadata
        self._model_path = f"/api/v1/models/{segment(info.namespace)}/{segment(info.model)}"
        # Labels are unique and matched first, so the label always names this version.
        self._path = f"{self._model_path}/versions/{segment(info.version)}"

    def __repr__(self) -> str:
        return (
            f"<ModelVersion {self.info.namespace}/{self.info.model} "
            f"{self.version} (#{self.number}) {self.state}>"
        )

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def version(self) -> str:
        """The label, e.g. ``"1.0.0"``."""
        return self.info.version

    @property
    def number(self) -> int:
        return self.info.number

    @property
    def name(self) -> str | None:
        return self.info.name

    @property
    def model_name(self) -> str:
        return self.info.model

    @property
    def namespace(self) -> str:
        return self.info.namespace

    @property
    def framework(self) -> str | None:
        return self.info.framework

    @property
    def state(self) -> VersionState:
        return self.info.state

    @property
    def tags(self) -> list[str]:
        return list(self.info.tags)

    @property
    def content_digest(self) -> str | None:
        return self.info.content_digest

    @property
    def import_task(self) -> str | None:
        """The id of the task importing ``model_files``, on a version created with them."""
        return self.info.import_task

    @property
    def runtime(self) -> RuntimeSpec | None:
        """How the version loads and predicts (given, or detected by the checks)."""
        return self.info.runtime

    @property
    def checks(self) -> CheckReport | None:
        """The server's checks as last fetched (``refresh`` or ``wait_for_checks``)."""
        return self.info.checks

    @property
    def input_schema(self) -> dict[str, Any] | None:
        return self.info.input_schema

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self.info.output_schema

    def refresh(self) -> ModelVersion:
        self._set(self._t.call("GET", self._path, s.VersionOut))
        return self

    def wait_for_checks(self, timeout: float | None = None, poll: float = 0.5) -> CheckReport:
        """Wait until the server's checks of this READY version have run and return their
        report (``state`` PASSED, WARNED, FAILED or ERROR); TimeoutError after ``timeout``
        seconds. FailedPrecondition when no checks are coming (the version is not READY, or
        the server does not check on finish: call :meth:`run_checks`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = min(poll, 0.1)
        while True:
            self.refresh()
            report = self.info.checks
            if report is None:
                raise FailedPrecondition(
                    f"version {self.version} has no checks (it is {self.state}); finish it, "
                    "or start them with run_checks()"
                )
            if report.state not in (CheckState.PENDING, CheckState.RUNNING):
                return report
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"the checks of version {self.version} are still {report.state} after "
                    f"{timeout} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, poll)

    def run_checks(self, wait: bool = True, timeout: float | None = None) -> CheckReport | None:
        """Check this READY version again; with ``wait`` return the new report."""
        self._t.call("POST", self._path + "/checks", s.TaskOut)
        return self.wait_for_checks(timeout) if wait else self.refresh().checks

    def upload_bundle(
        self,
        zip_path: PathLike,
        progress: Progress | None = None,
        *,
        props: ArtifactProps | None = None,
    ) -> list[Artifact]:
        """Upload one zip whose file members become this version's files (all or none: an
        unsafe or oversized member refuses the whole zip, naming it). With Gesund's artifact
        ``props`` the version gets their task and framework and the gesund runtime (see
        :mod:`modelyard.domain.gesund`)."""
        params = None
        if props is not None:
            params = {
                "model_type": props.model_type.value,
                "framework": props.framework.value,
                "include_model_files": str(props.include_model_files).lower(),
            }
        stored = self._t.put_file(
            self._path + "/bundle", Path(zip_path), s.FileList, progress, params
        )
        return [Artifact.from_wire(f) for f in stored.files]

    def download_bundle(self, dest_zip: PathLike, progress: Progress | None = None) -> Path:
        """Download every stored file as one zip at ``dest_zip``, with
        ``modelyard-manifest.json``; each member is checked against the manifest's SHA-256
        (:class:`IntegrityError` and no file left on a mismatch)."""
        dest = Path(dest_zip)
        self._t.download(self._path + "/bundle", dest, progress=progress)
        try:
            verify_bundle(dest)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return dest

    def finish(self) -> ModelVersion:
        """PENDING -> READY: the server verifies every file; they are immutable afterwards."""
        self._set(self._t.call("POST", self._path + "/finish", s.VersionOut))
        return self

    def fail(self, reason: str | None = None) -> ModelVersion:
        """PENDING -> FAILED, with a reason."""
        body = {"reason": reason}
        self._set(self._t.call("POST", self._path + "/fail", s.VersionOut, json=body))
        return self

    def import_files(
        self,
        files: Mapping[str, str],
        sha256: Mapping[str, str] | None = None,
        finish: bool = False,
        wait: bool = False,
        timeout: float | None = None,
    ) -> s.TaskOut:
        """Have the server copy files from URLs (target path -> ``http(s)://``, ``s3://`` or,
        where the admin allows it, ``file://``) into this PENDING version, checking each
        ``sha256`` given. Returns the task; with ``wait`` once it has ended (a FAILED task
        raises FailedPrecondition with its error). ``finish`` makes the version READY after."""
        body = {"files": dict(files), "sha256": dict(sha256 or {}), "finish": finish}
        task = self._t.call("POST", self._path + "/files:import", s.TaskOut, json=body)
        return wait_for(self._t, task.id, timeout) if wait else task

    def deploy(
        self,
        *,
        replicas: int = 1,
        max_batch_size: int | None = None,
        max_wait_ms: float | None = None,
        memory_mb: int | None = None,
        request_timeout_s: float | None = None,
        idle_ttl_s: float | None = None,
        deploy_on_predict: bool | None = None,
        public: bool | None = None,
        name: str | None = None,
        backend: str | None = None,
        force: bool = False,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Deployment:
        """(Owner or admin) serve this READY version; with ``wait``, once it is ACTIVE.

        ``max_batch_size`` > 1 groups concurrent requests into one model call, waiting at most
        ``max_wait_ms`` for a batch to fill. ``backend`` is ``"local"`` (worker processes on
        the server) or ``"ray"`` (a Ray cluster the server is connected to); unset, the
        server's default. ``force`` deploys although the checks FAILED.
        """
        body = {
            "namespace": self.namespace,
            "model": self.model_name,
            "version": self.version,
            "name": name,
            "backend": backend,
            "force": force,
            **deployment_body(
                replicas=replicas,
                max_batch_size=max_batch_size,
                max_wait_ms=max_wait_ms,
                memory_mb=memory_mb,
                request_timeout_s=request_timeout_s,
                idle_ttl_s=idle_ttl_s,
                deploy_on_predict=deploy_on_predict,
                public=public,
            ),
        }
        info = self._t.call("POST", DEPLOYMENTS, s.DeploymentOut, json=body)
        deployment = Deployment(self._t, info)
        return deployment.wait(timeout) if wait else deployment

    def predict(self, data: Any) -> Any:
        """Predict with this version's live deployment."""
        out = self._t.call(
            "POST", self._path + "/predict", s.PredictOut, json={"data": data}, long=True
        )
        return out.predictions

    def set_tag(self, tag: str) -> ModelVersion:
        """Move the unique ``tag`` of this model to this version."""
        path = f"{self._model_path}/tags/{segment(tag)}"
        self._set(self._t.call("PUT", path, s.VersionOut, json={"version": self.version}))
        return self

    def delete(self) -> None:
        self._t.send("DELETE", self._path)
