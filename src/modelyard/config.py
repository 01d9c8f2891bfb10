"""Settings, read once from the environment (``MODELYARD_*``) and CLI flags, then frozen."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting has a working single-machine default under ``home``."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_", frozen=True, extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".modelyard",
        description="Directory for the SQLite database, blobs and the admin token.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database; default SQLite in home.",
    )
    blob_url: str | None = Field(
        default=None, description="Where file bytes go: file:///path; default home/blobs."
    )
    host: str = Field(default="127.0.0.1", description="Address the server binds to.")
    port: int = Field(default=8700, description="Port the server listens on.")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'modelyard.db'}"

    @property
    def blob_root(self) -> Path:
        if self.blob_url is None:
            return self.home / "blobs"
        if self.blob_url.startswith("file://"):
            return Path(self.blob_url.removeprefix("file://"))
        raise ValueError(
            f"MODELYARD_BLOB_URL: expected file:///path, got {self.blob_url!r} "
            "(S3 storage is not available yet)"
        )

    @property
    def token_file(self) -> Path:
        return self.home / "token"
