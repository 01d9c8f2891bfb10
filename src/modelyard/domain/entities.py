"""The registry's nouns as immutable values. Built by keyword only; mapped from rows in one
function per type in ``store/sql.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from modelyard.domain.access import Guarded, Memberships, Role, TokenScope
from modelyard.domain.enums import AccessLevel, FileStorage, FileType, ParentKind, VersionState
from modelyard.domain.runtime import CheckReport, RuntimeSpec

T = TypeVar("T")


class MetaInfo(BaseModel):
    """What a version consumes and produces, and its size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_types: list[str] = Field(default_factory=list, max_length=16)
    output_types: list[str] = Field(default_factory=list, max_length=16)
    input_languages: list[str] = Field(default_factory=list, max_length=256)
    output_languages: list[str] = Field(default_factory=list, max_length=256)
    input_description: str | None = Field(default=None, max_length=10_000)
    output_description: str | None = Field(default=None, max_length=10_000)
    num_params: int | None = Field(default=None, ge=0)
    embedding_dimension: int | None = Field(default=None, gt=0)
    model_config_: dict[str, Any] | None = Field(
        default=None,
        alias="model_config",
        serialization_alias="model_config",
        description="A foreign platform's model configuration, kept as given.",
    )


class Provenance(BaseModel):
    """Where a version came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str | None = Field(default=None, max_length=2048)
    commit: str | None = Field(default=None, max_length=128)
    dirty: bool | None = None
    script: str | None = Field(default=None, max_length=2048)
    parent_run: str | None = Field(default=None, max_length=512)


@dataclass(frozen=True, kw_only=True)
class User:
    """A user; as an authenticated caller also what it belongs to and its token's scope."""

    id: str
    name: str
    is_admin: bool
    created_at: datetime
    # What the caller holds, not who it is: left out of equality.
    memberships: Memberships = field(default_factory=Memberships, compare=False)
    read_only: bool = field(default=False, compare=False)
    token_expires_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, kw_only=True)
class Team:
    """A group of users (OpenSearch's backend role); restricted models list teams."""

    id: str
    name: str
    description: str | None
    members: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class TokenInfo:
    """An API token as listed: never the token itself, which only its creator saw once."""

    id: str
    user: str
    name: str
    scope: TokenScope
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class Namespace:
    id: str
    name: str
    created_at: datetime
    open: bool = True
    members: tuple[tuple[str, Role], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Grant:
    user: str
    role: Role


@dataclass(frozen=True, kw_only=True)
class Model:
    id: str
    namespace: str
    name: str
    owner: str
    task: str | None
    description: str | None
    metadata: dict[str, Any]
    model_card: str | None
    access: AccessLevel
    created_at: datetime
    updated_at: datetime
    teams: tuple[str, ...] = ()
    protected_tags: tuple[str, ...] = ()

    @property
    def guarded(self) -> Guarded:
        return Guarded(
            id=self.id,
            namespace=self.namespace,
            owner=self.owner,
            access=self.access,
            teams=frozenset(self.teams),
        )


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    id: str
    model_id: str
    namespace: str
    model: str
    number: int
    label: str
    name: str | None
    description: str | None
    framework: str | None
    task: str | None
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    meta_info: MetaInfo
    provenance: Provenance
    metadata: dict[str, Any]
    runtime: RuntimeSpec | None
    checks: CheckReport | None
    tags: tuple[str, ...]
    state: VersionState
    status_message: str | None
    content_digest: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    id: str
    parent_kind: ParentKind
    parent_id: str
    path: str
    size: int | None
    sha256: str | None
    mime_type: str
    file_type: FileType
    storage: FileStorage
    uri: str | None
    created_at: datetime
    #: An MD5 hex digest a client gave (ModelBox's checksum), kept beside ``sha256``.
    md5: str | None = None


@dataclass(frozen=True, kw_only=True)
class Metric:
    key: str
    value: float | str | bytes
    step: int | None
    wallclock: float


@dataclass(frozen=True, kw_only=True)
class TagEvent:
    """One move of a tag: which version held it from when, and who moved it."""

    tag: str
    version_id: str | None
    version_number: int | None
    previous_version_number: int | None
    moved_by: str
    moved_at: datetime


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_page_token: str | None = None


def every(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paged listing: ``fetch(page_token)`` answers one page."""
    token = None
    while True:
        page = fetch(token)
        yield from page.items
        token = page.next_page_token
        if token is None:
            return


#: Who calls without a token: only a deployment made public for predictions answers them.
ANONYMOUS = User(
    id="",
    name="anonymous",
    is_admin=False,
    created_at=datetime(1970, 1, 1).astimezone(),
    read_only=True,
)
