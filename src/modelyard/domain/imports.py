"""Import files from URLs into a version, as a persisted task.

Submitting checks everything that can be checked up front (who may write, the version is
``PENDING``, paths, URL schemes, hosts the SSRF guard refuses, expected digests) and answers
with a ``CREATED`` task; the guard checks again when the task fetches. A task
runner then calls :meth:`ImportService.run`, which streams each source into the blob store
through :meth:`RegistryService.begin_upload` (hashed on the way, bounded memory, the expected
digest checked on commit). A file that fails is aborted and stores nothing, and the task fails
with an error naming the file and the cause.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from modelyard.domain.access import Action
from modelyard.domain.audit import Auditor, audited
from modelyard.domain.bundles import BundleLimits, Bundles, Spool
from modelyard.domain.directory import check_model
from modelyard.domain.entities import FileEntry, Model, ModelVersion, Page, User
from modelyard.domain.enums import AccessLevel, VersionState
from modelyard.domain.ids import Digest, FilePath, new_id
from modelyard.domain.service import MAX_MODEL_CARD, FileTarget, RegistryService, Upload
from modelyard.domain.tasks import (
    NewTask,
    Task,
    TaskFailed,
    TaskKind,
    TaskQuery,
    TaskState,
    TaskStore,
)
from modelyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    ModelNotFound,
    NotFound,
    RegistryError,
    VersionNotFound,
)

MAX_FILES = 1000
MAX_URL = 4096
_TASK_ID = re.compile(r"^[0-9a-f]{32}$")
#: The name a bundle's URL goes by in its task's parameters (checked as a file path).
BUNDLE_FIELD = "bundle.zip"


class Fetcher(Protocol):
    """Reads source URLs (``modelyard.imports.sources.UrlFetcher``)."""

    def check(self, url: str, checked_hosts: set[tuple[str, int]] | None = None) -> None:
        """Raise OSError with a reason if no fetch of ``url`` could succeed (scheme, shape,
        a disabled source, a host the SSRF guard refuses); ``checked_hosts`` spares resolving
        a (host, port) again within one request."""
        ...

    def read(self, url: str) -> Iterator[bytes]:
        """The bytes at ``url`` in bounded chunks; OSError with a reason on any failure."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def redacted(url: str) -> str:
    """A URL without credentials, query or fragment (presigned URLs carry secrets there)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


class ImportService:
    def __init__(
        self,
        registry: RegistryService,
        tasks: TaskStore,
        fetcher: Fetcher,
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
        bundle_limits: BundleLimits | None = None,
    ) -> None:
        self.registry = registry
        self.tasks = tasks
        self.fetcher = fetcher
        #: What a zip imported by :meth:`create_version_from_bundle` may hold.
        self.bundle_limits = bundle_limits or BundleLimits()
        self._wake = wake
        self._clock = clock

    # -- submitting ------------------------------------------------------------------------

    def _params(
        self, files: Mapping[str, str], sha256: Mapping[str, str] | None, finish: bool
    ) -> dict[str, Any]:
        if not isinstance(files, Mapping) or not files:
            raise InvalidArgument("files: expected a map of target path -> URL", field="files")
        if len(files) > MAX_FILES:
            raise InvalidArgument(
                f"files: expected at most {MAX_FILES} entries, got {len(files)}", field="files"
            )
        checked: dict[str, str] = {}
        hosts: set[tuple[str, int]] = set()
        for path, url in files.items():
            field = f"files.{path}"
            FilePath.parse(path, field)
            if not isinstance(url, str) or not url or len(url) > MAX_URL or "\x00" in url:
                raise InvalidArgument(
                    f"{field}: expected a URL of at most {MAX_URL} characters", field=field
                )
            try:
                self.fetcher.check(url, hosts)
            except OSError as exc:
                raise InvalidArgument(f"{field}: {exc}", field=field) from None
            checked[path] = url
        digests: dict[str, str] = {}
        for path, value in (sha256 or {}).items():
            field = f"sha256.{path}"
            if path not in checked:
                raise InvalidArgument(f"{field}: {path!r} is not one of the files", field=field)
            digests[path] = Digest.parse(value, field)
        return {"files": checked, "sha256": digests, "finish": finish}

    def _submit(
        self, actor: User, model_id: str, version: ModelVersion, params: dict[str, Any]
    ) -> Task:
        task = self.tasks.create_task(
            NewTask(
                id=new_id(),
                kind=TaskKind.IMPORT_FILES,
                created_by_id=actor.id,
                model_id=model_id,
                version_id=version.id,
                params=params,
                created_at=self._clock(),
            )
        )
        self._wake()
        return self._public(task)

    @property
    def auditor(self) -> Auditor | None:
        return self.registry.auditor

    @audited("file.import")
    def import_files(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str,
        files: Mapping[str, str],
        sha256: Mapping[str, str] | None = None,
        *,
        finish: bool = False,
    ) -> Task:
        """Start importing ``files`` (target path -> source URL) into a PENDING version;
        ``finish`` makes the version READY once every file is in (FAILED if one fails)."""
        target = self.registry.file_target(actor, namespace, model_name, ref, write=True)
        assert target.version is not None
        params = self._params(files, sha256, finish)
        return self._submit(actor, target.model.id, target.version, params)

    @audited("version.create")
    def create_version(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        files: Mapping[str, str],
        sha256: Mapping[str, str] | None = None,
        *,
        card_file: str | None = None,
        **version_fields: Any,
    ) -> tuple[ModelVersion, Task]:
        """Create a version from a map of target path -> source URL (DeepDev's
        ``model_files``): the version is PENDING while the import runs, then READY, or FAILED
        with the import's error. ``card_file``, one of the files (UTF-8 markdown), becomes
        the model's card once the version is READY (DeepDev's ``index_page_file``)."""
        # Who may write is checked before any source is (no resolving hosts for strangers).
        self.registry.file_target(actor, namespace, model_name, None, write=True)
        params = self._params(files, sha256, finish=True)
        if card_file is not None:
            if card_file not in params["files"]:
                raise InvalidArgument(
                    f"card_file: {card_file!r} is not one of the files", field="card_file"
                )
            params["card_file"] = card_file
        version = self.registry.create_version(actor, namespace, model_name, **version_fields)
        return version, self._submit(actor, version.model_id, version, params)

    @audited("version.create")
    def register(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        files: Mapping[str, str],
        *,
        access: AccessLevel | None = None,
        owner: str | None = None,
        model_description: str | None = None,
        card_file: str | None = None,
        **version_fields: Any,
    ) -> tuple[ModelVersion, Task]:
        """Register a version from URLs, making its model first when there is none (owned by
        ``owner``, private unless ``access`` says otherwise): DeepDev's registration. An
        earlier FAILED version with the same label makes way for this one; ``access`` changes
        an existing model's level, which only who may manage it may do, once the version is
        made. A refused registration leaves nothing behind, a model it made included."""
        registry = self.registry
        label = version_fields.get("label")
        try:
            model: Model | None = registry.get_model(actor, namespace, model_name)
        except ModelNotFound:
            model = None
        if model is None:
            try:
                model = registry.create_model(
                    actor,
                    name=model_name,
                    namespace=namespace,
                    owner=owner,
                    description=model_description,
                    access=access or AccessLevel.PRIVATE,
                )
            except AlreadyExists:  # someone else's, hidden from the actor
                raise ModelNotFound(f"model {namespace}/{model_name} not found") from None
            made = True
        else:
            made = False
            if owner is not None and owner != model.owner:
                raise InvalidArgument(
                    f"owner: model {model_name} is owned by {model.owner}", field="owner"
                )
            if access is not None and access != model.access:
                check_model(actor, model, Action.MANAGE)
            self._replace_failed(actor, namespace, model_name, label)
        try:
            version, task = self.create_version(
                actor, namespace, model_name, files, card_file=card_file, **version_fields
            )
        except RegistryError:
            if made:
                registry.delete_model(actor, namespace, model_name)
            raise
        if not made and access is not None and access != model.access:
            registry.update_model(actor, namespace, model_name, {"access": access})
        return version, task

    def _replace_failed(
        self, actor: User, namespace: str, model_name: str, label: str | None
    ) -> None:
        if label is None:
            return
        try:
            earlier = self.registry.get_version(actor, namespace, model_name, label)
        except VersionNotFound:
            return
        if earlier.state == VersionState.FAILED:
            self.registry.delete_version(actor, namespace, model_name, earlier.label)

    @audited("version.create")
    def create_version_from_bundle(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        url: str,
        sha256: str | None = None,
        **version_fields: Any,
    ) -> tuple[ModelVersion, Task]:
        """Create a version from one zip at ``url`` whose members become its files (OpenSearch
        ML Commons' register by URL): PENDING while the import runs, then READY, or FAILED
        with the import's error (a wrong ``sha256`` of the zip, a refused member...)."""
        self.registry.file_target(actor, namespace, model_name, None, write=True)
        params = self._params(
            {BUNDLE_FIELD: url}, {BUNDLE_FIELD: sha256} if sha256 else None, finish=True
        )
        params["bundle"] = True
        version = self.registry.create_version(actor, namespace, model_name, **version_fields)
        return version, self._submit(actor, version.model_id, version, params)

    # -- reading ---------------------------------------------------------------------------

    def _public(self, task: Task) -> Task:
        if "files" not in task.params:
            return task
        files = {path: redacted(url) for path, url in task.params["files"].items()}
        return dataclasses.replace(task, params={**task.params, "files": files})

    def get_task(self, actor: User, task_id: str) -> Task:
        """A task on a model the actor may read; NotFound otherwise, as if it did not exist."""
        task = self.tasks.get_task(task_id) if _TASK_ID.match(task_id) else None
        try:
            if task is not None:
                self.registry.get_model(actor, task.namespace, task.model)
                return self._public(task)
        except ModelNotFound:
            pass
        raise NotFound(f"task {task_id!r} not found; `modelyard tasks list` shows your tasks")

    @audited("task.delete")
    def delete_task(self, actor: User, task_id: str) -> None:
        """Forget a task that has ended (whoever may delete its model: its owner, namespace
        admins, admins); one still CREATED or RUNNING is refused."""
        task = self.get_task(actor, task_id)
        self.registry.may_delete(actor, task.namespace, task.model)
        if task.state in (TaskState.CREATED, TaskState.RUNNING) or not self.tasks.delete_task(
            task.id
        ):
            raise FailedPrecondition(
                f"task {task_id} has not ended; delete it once it is COMPLETED or FAILED",
                details={"state": str(task.state)},
            )

    def list_tasks(
        self,
        actor: User,
        *,
        state: TaskState | str | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> Page[Task]:
        """Tasks on models the actor may read, newest first."""
        try:
            wanted = TaskState(state) if state is not None else None
        except ValueError:
            raise InvalidArgument(
                f"state: expected one of {[s.value for s in TaskState]}, got {state!r}",
                field="state",
            ) from None
        if not 1 <= page_size <= 1000:
            raise InvalidArgument(
                f"page_size: expected 1 to 1000, got {page_size}", field="page_size"
            )
        page = self.tasks.list_tasks(
            TaskQuery(viewer=actor, state=wanted, page_size=page_size, page_token=page_token)
        )
        return Page(
            items=[self._public(t) for t in page.items], next_page_token=page.next_page_token
        )

    # -- running ---------------------------------------------------------------------------

    def run(self, task: Task, heartbeat: Callable[[], None]) -> dict[str, Any]:
        """Import every file of an IMPORT_FILES task, as the user who created it. Returns the
        result (the files' ids); raises TaskFailed naming the file and the cause."""
        actor = self.registry.store.get_user(task.created_by)
        if actor is None:
            raise TaskFailed(f"user {task.created_by!r} who created the task no longer exists")
        finish = bool(task.params.get("finish"))
        try:
            result = self._import_all(actor, task, heartbeat)
            card = self._card(actor, task)
            if finish:
                try:
                    self.registry.finish_version(
                        actor, task.namespace, task.model, str(task.version)
                    )
                except RegistryError as exc:
                    raise TaskFailed(f"finishing version {task.version}: {exc.message}") from None
            if card is not None:
                self.registry.update_model(actor, task.namespace, task.model, {"model_card": card})
            return result
        except TaskFailed as exc:
            if finish:
                self._fail_version(actor, task, str(exc))
            raise

    def _import_all(self, actor: User, task: Task, heartbeat: Callable[[], None]) -> dict[str, Any]:
        if task.version is None:
            raise TaskFailed("the version to import into was deleted")
        try:
            target = self.registry.file_target(
                actor, task.namespace, task.model, task.version, write=True
            )
        except RegistryError as exc:
            raise TaskFailed(f"cannot import into version {task.version}: {exc.message}") from None
        if target.version is None or target.version.id != task.version_id:
            raise TaskFailed("the version to import into was deleted")
        digests: dict[str, str] = task.params.get("sha256", {})
        if task.params.get("bundle"):
            url = task.params["files"][BUNDLE_FIELD]
            return self._import_bundle(actor, target, url, digests.get(BUNDLE_FIELD), heartbeat)
        imported = []
        for path, url in task.params["files"].items():
            try:
                upload = self.registry.begin_upload(target, path, sha256=digests.get(path))
                entry = self._copy(upload, url, heartbeat)
            except (OSError, RegistryError) as exc:
                message = exc.message if isinstance(exc, RegistryError) else str(exc)
                raise TaskFailed(f"file {path} from {redacted(url)}: {message}") from None
            imported.append(
                {"path": entry.path, "id": entry.id, "sha256": entry.sha256, "size": entry.size}
            )
        return {"files": imported}

    def _import_bundle(
        self,
        actor: User,
        target: FileTarget,
        url: str,
        sha256: str | None,
        heartbeat: Callable[[], None],
    ) -> dict[str, Any]:
        """Spool the zip at ``url`` to a temporary file (hashed on the way), then store its
        members as the version's files; all or nothing."""
        assert target.version is not None
        source = f"the zip from {redacted(url)}"
        spool = Spool(self.bundle_limits)
        digest = hashlib.sha256()
        chunks = self.fetcher.read(url)
        try:
            for chunk in chunks:
                heartbeat()
                digest.update(chunk)
                spool.write(chunk)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise TaskFailed(
                    f"{source}: its bytes hash to sha256 {digest.hexdigest()}, expected {sha256}"
                )
            spool.file.seek(0)
            entries = Bundles(self.registry, self.bundle_limits).upload(
                actor,
                target.model.namespace,
                target.model.name,
                target.version.label,
                spool.file,
                locate_model_file=True,
            )
        except (OSError, RegistryError) as exc:
            message = exc.message if isinstance(exc, RegistryError) else str(exc)
            raise TaskFailed(f"{source}: {message}") from None
        finally:
            spool.close()
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return {
            "files": [
                {"path": e.path, "id": e.id, "sha256": e.sha256, "size": e.size} for e in entries
            ]
        }

    def _card(self, actor: User, task: Task) -> str | None:
        """The text of the task's ``card_file``, once imported; TaskFailed if it is not UTF-8
        text that fits in a model card."""
        path = task.params.get("card_file")
        if path is None:
            return None
        entry = self.registry.get_file(actor, task.namespace, task.model, task.version, path)
        too_long = TaskFailed(
            f"file {path}, the model card, is longer than the {MAX_MODEL_CARD} characters a "
            "model card holds"
        )
        if (entry.size or 0) > 4 * MAX_MODEL_CARD:  # UTF-8: at most 4 bytes a character
            raise too_long
        try:
            text = b"".join(self.registry.read_file(entry)).decode("utf-8")
        except UnicodeDecodeError:
            raise TaskFailed(f"file {path}, the model card, is not UTF-8 text") from None
        if len(text) > MAX_MODEL_CARD:
            raise too_long
        return text

    def _copy(self, upload: Upload, url: str, heartbeat: Callable[[], None]) -> FileEntry:
        chunks = self.fetcher.read(url)
        try:
            for chunk in chunks:
                heartbeat()
                upload.write(chunk)
            heartbeat()
            return upload.finish()
        except BaseException:
            upload.abort()
            raise
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _fail_version(self, actor: User, task: Task, reason: str) -> None:
        version = self.registry.store.get_version_by_id(task.version_id or "")
        if version is not None and version.state == VersionState.PENDING:
            self.registry.fail_version(
                actor, task.namespace, task.model, version.label, reason[:10_000]
            )
