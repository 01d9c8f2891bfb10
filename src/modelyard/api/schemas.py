"""Wire models of ``/api/v1``: the only HTTP contract. The SDK imports these too.

Each response model is mapped from its domain entity once, in a ``from_entity`` classmethod.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.domain import entities as e
from modelyard.domain.access import Role, TokenScope
from modelyard.domain.audit import AuditEvent, AuditOutcome
from modelyard.domain.deployments import Batching, Deployment, DeploymentState, ServingBackend
from modelyard.domain.entities import MetaInfo, Provenance
from modelyard.domain.enums import AccessLevel, FileStorage, FileType, ParentKind, VersionState
from modelyard.domain.gc import GcReport
from modelyard.domain.keys import ApiKey
from modelyard.domain.runtime import CheckReport, RuntimeSpec
from modelyard.domain.tasks import Task, TaskKind, TaskState
from modelyard.domain.uploads import UploadSession


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- models -------------------------------------------------------------------------------


class ModelCreate(_In):
    name: str
    namespace: str = "default"
    owner: str | None = None
    task: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    model_card: str | None = None
    access: AccessLevel = AccessLevel.PRIVATE
    teams: list[str] | None = Field(
        default=None, description="The teams that may read a restricted model."
    )
    add_all_backend_roles: bool = Field(
        default=False, description="A restricted model lists all of its owner's teams."
    )
    protected_tags: list[str] = Field(
        default_factory=list,
        description="Tags only the owner, namespace admins and admins may move.",
    )


class ModelUpdate(_In):
    """Only the fields sent change; ``metadata`` is merged (a null value removes a key).
    ``access``, ``teams``, ``add_all_backend_roles`` and ``protected_tags`` need the right to
    manage the model (owner, namespace admin, admin)."""

    task: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    model_card: str | None = None
    access: AccessLevel | None = None
    teams: list[str] | None = None
    add_all_backend_roles: bool | None = None
    protected_tags: list[str] | None = None


class ModelOut(BaseModel):
    id: str
    namespace: str
    name: str
    owner: str
    task: str | None
    description: str | None
    metadata: dict[str, Any]
    model_card: str | None
    access: AccessLevel
    teams: list[str] = Field(default_factory=list)
    protected_tags: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_entity(cls, m: e.Model) -> ModelOut:
        return cls(**{f: getattr(m, f) for f in cls.model_fields})


class ModelList(BaseModel):
    models: list[ModelOut]
    next_page_token: str | None = None


# -- versions -----------------------------------------------------------------------------


class VersionCreate(_In):
    version: str | None = Field(
        default=None, description="Label such as '1.0.0'; defaults to the version number."
    )
    name: str | None = None
    description: str | None = None
    framework: str | None = None
    task: str | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    meta_info: MetaInfo = Field(default_factory=MetaInfo)
    provenance: Provenance = Field(default_factory=Provenance)
    metadata: dict[str, Any] = Field(default_factory=dict)
    unique_tags: list[str] = Field(default_factory=list)
    runtime: RuntimeSpec | None = Field(
        default=None,
        description="How the version loads and predicts; detected from its files by the "
        "checks when not given.",
    )
    model_files: dict[str, str] | None = Field(
        default=None,
        description="Target path -> source URL (DeepDev's model_files): the files are imported "
        "by a task, which finishes the version (READY) or fails it.",
    )
    model_files_sha256: dict[str, str] | None = Field(
        default=None, description="Expected SHA-256 per target path of model_files."
    )


class VersionUpdate(_In):
    name: str | None = None
    description: str | None = None
    framework: str | None = None
    task: str | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    meta_info: MetaInfo | None = None
    provenance: Provenance | None = None
    metadata: dict[str, Any] | None = None
    runtime: RuntimeSpec | None = Field(
        default=None, description="Changing it on a READY version checks the version again."
    )


class VersionFail(_In):
    reason: str | None = None


class VersionOut(BaseModel):
    id: str
    model_id: str
    namespace: str
    model: str
    number: int
    version: str = Field(description="The label")
    name: str | None
    description: str | None
    framework: str | None
    task: str | None
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    meta_info: MetaInfo
    provenance: Provenance
    metadata: dict[str, Any]
    runtime: RuntimeSpec | None = None
    checks: CheckReport | None = Field(
        default=None,
        description="The introspection checks: PENDING once READY, then their results.",
    )
    tags: list[str]
    state: VersionState
    status_message: str | None
    content_digest: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    import_task: str | None = Field(
        default=None,
        description="Id of the import task, on the answer to a create with model_files only.",
    )

    @classmethod
    def from_entity(cls, v: e.ModelVersion, import_task: str | None = None) -> VersionOut:
        skip = ("version", "tags", "import_task")
        fields = {f: getattr(v, f) for f in cls.model_fields if f not in skip}
        return cls(version=v.label, tags=list(v.tags), import_task=import_task, **fields)


class VersionList(BaseModel):
    versions: list[VersionOut]
    next_page_token: str | None = None


# -- files --------------------------------------------------------------------------------


class FileOut(BaseModel):
    id: str
    parent_kind: ParentKind
    parent_id: str
    path: str
    size: int | None
    sha256: str | None
    checksum: str | None = Field(description="'sha256:<hex>', the form ModelBox clients read")
    mime_type: str
    file_type: FileType
    storage: FileStorage
    uri: str | None
    created_at: datetime

    @classmethod
    def from_entity(cls, f: e.FileEntry) -> FileOut:
        fields = {k: getattr(f, k) for k in cls.model_fields if k != "checksum"}
        return cls(checksum=f"sha256:{f.sha256}" if f.sha256 else None, **fields)


class FileList(BaseModel):
    files: list[FileOut]


class UploadStart(_In):
    path: str
    size: int = Field(ge=0, description="The file's exact size in bytes")
    sha256: str | None = Field(default=None, description="Expected SHA-256; verified on finish")
    mime_type: str | None = None
    file_type: FileType | None = None


class UploadOut(BaseModel):
    id: str
    path: str
    size: int
    sha256: str | None
    received: list[tuple[int, int]] = Field(
        description="Byte ranges stored so far, [start, end) with end exclusive, sorted"
    )
    expires_at: datetime
    chunk_size_hint: int

    @classmethod
    def from_entity(cls, u: UploadSession, chunk_size_hint: int) -> UploadOut:
        return cls(
            id=u.id,
            path=u.path,
            size=u.size,
            sha256=u.sha256,
            received=[(a, b) for a, b in u.received],
            expires_at=u.expires_at,
            chunk_size_hint=chunk_size_hint,
        )


class UploadList(BaseModel):
    uploads: list[UploadOut]


class DedupFile(_In):
    path: str
    sha256: str
    size: int | None = Field(default=None, ge=0)
    mime_type: str | None = None
    file_type: FileType | None = None


class TrackedFile(_In):
    path: str
    uri: str
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = None
    mime_type: str | None = None
    file_type: FileType | None = None


class TrackFiles(_In):
    files: list[TrackedFile] = Field(min_length=1, max_length=10_000)


# -- metrics and metadata ----------------------------------------------------------------


class MetricIn(_In):
    key: str
    value: float | str | None = None
    value_bytes: str | None = Field(default=None, description="Base64 bytes, instead of value")
    step: int | None = None
    wallclock: float | None = Field(default=None, description="Unix seconds; default now")


class MetricsIn(_In):
    metrics: list[MetricIn] = Field(min_length=1)


class MetricOut(BaseModel):
    key: str
    value: float | str | None
    value_bytes: str | None = None
    step: int | None
    wallclock: float

    @classmethod
    def from_entity(cls, m: e.Metric) -> MetricOut:
        if isinstance(m.value, bytes):
            return cls(
                key=m.key,
                value=None,
                value_bytes=base64.b64encode(m.value).decode(),
                step=m.step,
                wallclock=m.wallclock,
            )
        return cls(key=m.key, value=m.value, step=m.step, wallclock=m.wallclock)


class MetricList(BaseModel):
    metrics: list[MetricOut]


class MetadataOut(BaseModel):
    metadata: dict[str, Any]


# -- tags ---------------------------------------------------------------------------------


class TagSet(_In):
    version: str = Field(description="Label or number of the version the tag moves to")


class TagList(BaseModel):
    tags: dict[str, int] = Field(description="tag -> version number")


class TagEventOut(BaseModel):
    tag: str
    action: Literal["set", "removed"]
    version_number: int | None
    previous_version_number: int | None
    moved_by: str
    moved_at: datetime

    @classmethod
    def from_entity(cls, t: e.TagEvent) -> TagEventOut:
        return cls(
            tag=t.tag,
            action="set" if t.version_id else "removed",
            version_number=t.version_number,
            previous_version_number=t.previous_version_number,
            moved_by=t.moved_by,
            moved_at=t.moved_at,
        )


class TagHistory(BaseModel):
    events: list[TagEventOut]


# -- users, tokens, namespaces ------------------------------------------------------------


class UserCreate(_In):
    name: str
    is_admin: bool = False


class UserOut(BaseModel):
    id: str
    name: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def from_entity(cls, u: e.User) -> UserOut:
        return cls(id=u.id, name=u.name, is_admin=u.is_admin, created_at=u.created_at)


class UserList(BaseModel):
    users: list[UserOut]


class MeOut(UserOut):
    """Who you are: your teams, your namespace roles and your token's scope."""

    teams: list[str] = Field(default_factory=list)
    namespaces: dict[str, Role] = Field(default_factory=dict)
    scope: TokenScope = TokenScope.WRITE

    @classmethod
    def from_caller(cls, u: e.User) -> MeOut:
        return cls(
            id=u.id,
            name=u.name,
            is_admin=u.is_admin,
            created_at=u.created_at,
            teams=sorted(u.memberships.teams),
            namespaces=dict(sorted(u.memberships.namespaces.items())),
            scope=TokenScope.READ if u.read_only else TokenScope.WRITE,
        )


class TokenCreate(_In):
    user: str | None = Field(default=None, description="Whose token (admins only); default you")
    name: str = "api"
    expires_at: datetime | None = None
    scope: TokenScope = Field(
        default=TokenScope.WRITE, description="'read': the token never changes anything."
    )


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored")
    user: str
    id: str | None = None
    scope: TokenScope = TokenScope.WRITE
    expires_at: datetime | None = None


class TokenInfoOut(BaseModel):
    id: str
    user: str
    name: str
    scope: TokenScope
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_entity(cls, t: e.TokenInfo) -> TokenInfoOut:
        return cls(**{f: getattr(t, f) for f in cls.model_fields})


class TokenList(BaseModel):
    tokens: list[TokenInfoOut]


class TeamCreate(_In):
    name: str
    description: str | None = None


class TeamOut(BaseModel):
    name: str
    description: str | None
    members: list[str]
    created_at: datetime

    @classmethod
    def from_entity(cls, t: e.Team) -> TeamOut:
        return cls(
            name=t.name,
            description=t.description,
            members=list(t.members),
            created_at=t.created_at,
        )


class TeamList(BaseModel):
    teams: list[TeamOut]


class NamespaceCreate(_In):
    name: str
    open: bool = Field(
        default=False,
        description="Any user may create models in an open namespace; in a closed one only "
        "its writers and admins.",
    )


class NamespaceUpdate(_In):
    open: bool


class MemberOut(BaseModel):
    user: str
    role: Role


class NamespaceOut(BaseModel):
    name: str
    created_at: datetime
    open: bool = True
    members: list[MemberOut] | None = Field(
        default=None, description="Shown to the namespace's admins and to admins."
    )

    @classmethod
    def from_entity(cls, n: e.Namespace, *, members: bool = False) -> NamespaceOut:
        return cls(
            name=n.name,
            created_at=n.created_at,
            open=n.open,
            members=[MemberOut(user=u, role=r) for u, r in n.members] if members else None,
        )


class NamespaceList(BaseModel):
    namespaces: list[NamespaceOut]


class RoleSet(_In):
    role: Role


class GrantOut(BaseModel):
    user: str
    role: Role


class GrantList(BaseModel):
    grants: list[GrantOut]

    @classmethod
    def of(cls, grants: list[tuple[str, Role]]) -> GrantList:
        return cls(grants=[GrantOut(user=u, role=r) for u, r in grants])


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str | None
    action: str
    outcome: AuditOutcome
    error_code: str | None
    message: str | None
    namespace: str | None
    model: str | None
    version: str | None
    target: str | None
    detail: dict[str, Any] | None
    client: str | None
    request_id: str | None

    @classmethod
    def from_entity(cls, a: AuditEvent) -> AuditEventOut:
        return cls(**{f: getattr(a, f) for f in cls.model_fields})


class AuditList(BaseModel):
    events: list[AuditEventOut]
    next_page_token: str | None = None


# -- admin --------------------------------------------------------------------------------


class GcBlobOut(BaseModel):
    sha256: str
    size: int
    modified_at: datetime


class GcOut(BaseModel):
    removed: int
    freed_bytes: int
    dry_run: bool
    blobs: list[GcBlobOut]

    @classmethod
    def from_report(cls, r: GcReport) -> GcOut:
        return cls(
            removed=r.removed,
            freed_bytes=r.freed_bytes,
            dry_run=r.dry_run,
            blobs=[
                GcBlobOut(sha256=b.sha256, size=b.size, modified_at=b.modified_at) for b in r.blobs
            ],
        )


class Problem(BaseModel):
    """RFC 9457 problem details, with modelyard's stable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, str]] = Field(default_factory=list)
    request_id: str | None = None


# -- tasks and URL imports ----------------------------------------------------------------


class ImportFiles(_In):
    files: dict[str, str] = Field(
        min_length=1, max_length=1000, description="Target path -> source URL"
    )
    sha256: dict[str, str] = Field(
        default_factory=dict, description="Expected SHA-256 per target path; verified"
    )
    finish: bool = Field(default=False, description="Make the version READY once every file is in")


class TaskOut(BaseModel):
    id: str
    kind: TaskKind
    state: TaskState
    created_by: str
    namespace: str
    model: str
    version: str | None
    params: dict[str, Any] = Field(description="What the task does; URLs without secrets")
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_entity(cls, t: Task) -> TaskOut:
        return cls(**{f: getattr(t, f) for f in cls.model_fields})


class TaskList(BaseModel):
    tasks: list[TaskOut]
    next_page_token: str | None = None


# -- deployments ----------------------------------------------------------------------------


class _DeploymentFields(_In):
    replicas: int | None = Field(default=None, description="Worker processes serving it (1-64).")
    batching: dict[str, Any] | None = Field(
        default=None,
        description="Adaptive micro-batching: {max_batch_size (1-1024), max_wait_ms (0-1000)}.",
    )
    memory_mb: int | None = Field(default=None, description="Memory limit of each replica, MiB.")
    request_timeout_s: float | None = Field(
        default=None, description="Longest a prediction may take (default 30 s)."
    )
    idle_ttl_s: float | None = Field(
        default=None, description="Undeploy after this long without a prediction."
    )
    deploy_on_predict: bool | None = Field(
        default=None, description="A prediction while STOPPED deploys it again."
    )
    public: bool | None = Field(
        default=None,
        description="Anyone may predict with it by id or V2 name, without a token.",
    )

    def settings(self) -> dict[str, Any]:
        return self.model_dump(
            include=set(_DeploymentFields.model_fields), exclude_unset=True, exclude_none=True
        )


class DeploymentCreate(_DeploymentFields):
    namespace: str
    model: str
    version: str | None = Field(default=None, description="A label or number; or give tag.")
    tag: str | None = Field(default=None, description="Deploy the version holding this tag.")
    name: str | None = Field(
        default=None, description="The KServe V2 model name (default: the model's name)."
    )
    backend: str | None = Field(default=None, description="local (default) or ray.")
    force: bool = Field(default=False, description="Deploy even though its checks FAILED.")


class DeploymentUpdate(_DeploymentFields):
    pass


class DeploymentOut(BaseModel):
    id: str
    name: str
    namespace: str
    model: str
    version: str
    version_number: int
    backend: ServingBackend
    state: DeploymentState
    status_message: str | None
    replicas: int
    replicas_ready: int = Field(description="Replicas answering on the server that answered.")
    batching: Batching
    memory_mb: int | None
    request_timeout_s: float
    idle_ttl_s: float | None
    deploy_on_predict: bool
    public: bool = False
    forced: bool
    task_id: str | None = Field(description="The deploy task: poll GET /api/v1/tasks/{id}.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    endpoints: dict[str, str]

    @classmethod
    def from_entity(cls, d: Deployment, replicas_ready: int = 0) -> DeploymentOut:
        settings = d.settings
        return cls(
            **{f: getattr(d, f) for f in cls.model_fields if hasattr(d, f)},
            **settings.model_dump(),
            replicas_ready=replicas_ready,
            endpoints={
                "predict": f"/api/v1/deployments/{d.id}/predict",
                "v2_infer": f"/v2/models/{d.name}/versions/{d.version}/infer",
                "status": f"/api/v1/deployments/{d.id}",
            },
        )


class DeploymentList(BaseModel):
    deployments: list[DeploymentOut]
    next_page_token: str | None = None


class PredictIn(_In):
    data: Any = Field(description="What the model predicts on: rows, an object of inputs...")


class PredictOut(BaseModel):
    predictions: Any
    deployment: str
    model: str = Field(description="namespace/model")
    version: str


# -- signing keys ---------------------------------------------------------------------------


class KeyCreate(_In):
    public_key: str = Field(description="PEM of an RSA public key (-----BEGIN PUBLIC KEY-----)")
    name: str | None = Field(default=None, description="A label; default the fingerprint")


class KeyOut(BaseModel):
    id: str
    user: str
    name: str
    fingerprint: str = Field(description="OCI's fingerprint: MD5 of the DER key, colon hex")
    public_key: str
    created_at: datetime

    @classmethod
    def from_entity(cls, key: ApiKey) -> KeyOut:
        return cls(
            id=key.id,
            user=key.user,
            name=key.name,
            fingerprint=key.fingerprint,
            public_key=key.public_key,
            created_at=key.created_at,
        )


class KeyList(BaseModel):
    keys: list[KeyOut]
