"""What the service needs from the outside world. ``store/`` and ``blobs/`` implement these.

Each :class:`MetadataStore` method is one atomic unit: it either happens whole or not at
all, and enforces the invariants that need the database to be checked race-free (unique
names, version numbering, state preconditions, tag moves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from modelyard.domain.access import Memberships, Role, TokenScope
from modelyard.domain.entities import (
    FileEntry,
    Metric,
    Model,
    ModelVersion,
    Namespace,
    Page,
    TagEvent,
    Team,
    TokenInfo,
    User,
)
from modelyard.domain.enums import VersionState


@dataclass(frozen=True, kw_only=True)
class ModelQuery:
    """Filters for listing models. ``viewer`` limits results to what that user may read."""

    viewer: User
    namespace: str | None = None
    name_prefix: str | None = None
    name_contains: str | None = None
    owner: str | None = None
    task: str | None = None
    tag: str | None = None
    page_size: int = 50
    page_token: str | None = None


@dataclass(frozen=True, kw_only=True)
class BlobInfo:
    sha256: str
    size: int


@dataclass(frozen=True, kw_only=True)
class StoredBlob:
    """A published blob as the store lists it."""

    sha256: str
    size: int
    modified_at: datetime


class MetadataStore(Protocol):
    # -- users and tokens ------------------------------------------------------------------
    def create_user(self, *, name: str, is_admin: bool) -> User:
        """Create a user. Raises AlreadyExists if the name is taken."""
        ...

    def get_user(self, name: str) -> User | None: ...

    def list_users(self) -> list[User]: ...

    def add_token(
        self,
        *,
        user_id: str,
        token_hash: str,
        name: str,
        expires_at: datetime | None,
        scope: TokenScope = TokenScope.WRITE,
    ) -> str:
        """Store a token's hash for a user; returns the token's id."""
        ...

    def user_for_token(self, token_hash: str, now: datetime) -> User | None:
        """The user a live (unexpired, unrevoked) token belongs to, with its memberships and
        the token's scope and expiry, or None."""
        ...

    def memberships(self, user_id: str) -> Memberships:
        """A user's teams, namespace roles and grants."""
        ...

    def list_tokens(self, user: str | None) -> list[TokenInfo]:
        """A user's tokens (None: everyone's), revoked ones included."""
        ...

    def get_token(self, token_id: str) -> TokenInfo | None: ...

    def revoke_token(self, token_id: str, at: datetime) -> str | None:
        """Revoke a live token; its hash, or None if there was none to revoke."""
        ...

    # -- teams -----------------------------------------------------------------------------
    def create_team(self, *, name: str, description: str | None) -> Team:
        """Raises AlreadyExists if the name is taken."""
        ...

    def get_team(self, name: str) -> Team | None: ...

    def list_teams(self) -> list[Team]: ...

    def delete_team(self, name: str) -> bool: ...

    def set_team_member(self, team: str, user: str, member: bool) -> Team: ...

    def team_ids(self, names: list[str]) -> dict[str, str]:
        """Name -> id of the teams among ``names`` that exist."""
        ...

    def set_model_teams(self, model_id: str, team_ids: list[str]) -> None:
        """Replace the teams a restricted model lists."""
        ...

    # -- namespaces ------------------------------------------------------------------------
    def ensure_namespace(self, name: str) -> Namespace:
        """Return the namespace, creating it (open, no members) if it does not exist yet."""
        ...

    def get_namespace(self, name: str) -> Namespace | None:
        """A namespace with its members."""
        ...

    def create_namespace(self, *, name: str, open: bool, admin_id: str) -> Namespace:
        """A new namespace whose one member is its admin. Raises AlreadyExists."""
        ...

    def update_namespace(self, name: str, *, open: bool) -> Namespace: ...

    def set_namespace_member(self, namespace: str, user: str, role: Role | None) -> Namespace:
        """Give a user a role in the namespace, or (None) take them out of it."""
        ...

    def list_namespaces(self, viewer: User) -> list[Namespace]:
        """Namespaces ``viewer`` is a member of or holds a readable model in (every
        namespace for admins)."""
        ...

    # -- grants ----------------------------------------------------------------------------
    def list_grants(self, model_id: str) -> list[tuple[str, Role]]: ...

    def set_grant(self, model_id: str, user: str, role: Role | None) -> bool:
        """Grant a model to a user (None: revoke); whether anything changed."""
        ...

    # -- models ----------------------------------------------------------------------------
    def create_model(self, model: Model, *, owner_id: str) -> Model:
        """Insert a model owned by the user ``owner_id``, creating its namespace if needed.
        Raises AlreadyExists if (namespace, name) is taken."""
        ...

    def get_model(self, namespace: str, name: str) -> Model | None: ...

    def get_model_by_id(self, model_id: str) -> Model | None: ...

    def list_models(self, query: ModelQuery) -> Page[Model]:
        """Models matching the query, ordered by (name, id), one page at a time."""
        ...

    def update_model(self, model_id: str, changes: Mapping[str, Any]) -> Model:
        """Set the given columns (description, task, model_card, access) and merge the
        ``metadata`` patch (a None value removes a key)."""
        ...

    def delete_model(self, model_id: str) -> None:
        """Delete a model with its versions, files, metrics and tags."""
        ...

    # -- versions --------------------------------------------------------------------------
    def create_version(self, version: ModelVersion, *, actor_id: str) -> ModelVersion:
        """Insert a version created by the user ``actor_id``, giving it the model's next number
        (and that number as label when the label is empty), and point its tags at it. Raises
        AlreadyExists on a taken label."""
        ...

    def get_version(self, model_id: str, ref: str) -> ModelVersion | None:
        """A version by label, or by number when ``ref`` is digits (a label made of digits
        is always the version's own number: create_version refuses any other)."""
        ...

    def get_version_by_id(self, version_id: str) -> ModelVersion | None: ...

    def list_versions(
        self, model_id: str, *, page_size: int, page_token: str | None
    ) -> Page[ModelVersion]: ...

    def versions_of(self, model_ids: Sequence[str]) -> dict[str, list[ModelVersion]]:
        """Every version of each of the models, oldest first; a model without versions (or
        unknown) is absent."""
        ...

    def update_version(self, version_id: str, changes: Mapping[str, Any]) -> ModelVersion:
        """Set plain columns and merge the ``metadata`` patch, as :meth:`update_model`."""
        ...

    def transition_version(
        self,
        version_id: str,
        *,
        expected: VersionState,
        to: VersionState,
        content_digest: str | None,
        status_message: str | None,
    ) -> ModelVersion:
        """Move a version's state; raises FailedPrecondition unless it is in ``expected``."""
        ...

    def finish_version(
        self, version_id: str, verify: Callable[[list[FileEntry]], str]
    ) -> ModelVersion:
        """PENDING -> READY in one transaction that holds the version: ``verify`` gets its
        files (no upload can slip in meanwhile) and returns the content digest, or raises.
        FailedPrecondition if the version is not PENDING."""
        ...

    def record_checks(
        self, version_id: str, task_id: str | None, changes: Mapping[str, Any]
    ) -> ModelVersion | None:
        """Apply ``changes`` (as :meth:`update_version`) to a READY version whose check run
        is still ``task_id``'s; None (nothing written) when the version is gone, no longer
        READY, or a newer check run replaced this one."""
        ...

    def delete_version(self, version_id: str, *, actor: str) -> None:
        """Delete a version with its files and metrics; its tags are removed, each removal
        recorded in the tag's history as done by ``actor``."""
        ...

    # -- files -----------------------------------------------------------------------------
    def put_files(self, entries: list[FileEntry], *, pending_version: str | None) -> None:
        """Insert or replace files by (parent, path), all of one parent. When
        ``pending_version`` is given the write happens only while that version is PENDING
        (FailedPrecondition otherwise). NotFound if the parent is gone."""
        ...

    def list_files(self, parent_id: str) -> list[FileEntry]: ...

    def get_file(self, parent_id: str, path: str) -> FileEntry | None: ...

    def referenced_blobs(self) -> set[str]:
        """Every SHA-256 (hex) named by any file row, of every model and version."""
        ...

    def blob_readable_by(self, sha256: str, viewer: User) -> bool:
        """Whether a stored file with these bytes belongs to a model ``viewer`` may read."""
        ...

    # -- metrics ---------------------------------------------------------------------------
    def add_metrics(self, parent_id: str, metrics: list[Metric]) -> None: ...

    def list_metrics(self, parent_id: str, key: str | None) -> list[Metric]:
        """Metrics by key, then step (steps first, in order), then wallclock."""
        ...

    # -- tags ------------------------------------------------------------------------------
    def move_tag(self, model_id: str, tag: str, version_id: str | None, *, actor: str) -> None:
        """Point a tag at a version (or remove it with None), recording the move."""
        ...

    def list_tags(self, model_id: str) -> dict[str, int]:
        """Current tags of a model: tag -> version number."""
        ...

    def tagged_version(self, model_id: str, tag: str) -> ModelVersion | None:
        """The version a tag of the model points at, or None."""
        ...

    def tag_history(self, model_id: str, tag: str | None) -> list[TagEvent]: ...


class BlobWriter(Protocol):
    """A blob being written: bytes go to a temporary place and are hashed on the way."""

    def write(self, data: bytes) -> None: ...

    def commit(self, *, expected_sha256: str | None, expected_size: int | None) -> BlobInfo:
        """Verify, make durable and publish the blob. On a mismatch raises IntegrityError and
        keeps nothing."""
        ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end) of a blob (end None: to its end), in chunks."""
        ...

    def adopt(
        self, path: Path, *, expected_sha256: str | None, expected_size: int | None
    ) -> BlobInfo:
        """Publish a complete local file (a finished upload session's staging file) as a blob,
        verified like :meth:`BlobWriter.commit`. The file is consumed: moved into place where
        the store can, so its bytes are not written a second time. On a mismatch raises
        IntegrityError and stores nothing (the file stays for the caller to remove)."""
        ...

    def touch(self, sha256: str) -> bool:
        """Mark a blob as just used (its modification time is now), so garbage collection's
        grace period protects it while a new reference to it is being recorded. False if the
        blob is not there."""
        ...

    def iter_blobs(self) -> Iterator[StoredBlob]:
        """Every published blob; blobs still being written are not listed."""
        ...

    def delete(self, sha256: str, *, modified_before: datetime | None = None) -> bool:
        """Remove a blob; with ``modified_before``, only if it was last modified (written, or
        deduplicated onto) before that instant. True if a blob was removed."""
        ...
