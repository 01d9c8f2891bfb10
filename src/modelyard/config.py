"""Settings, read once from the environment (``MODELYARD_*``) and CLI flags, then frozen."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelyard.domain.deployments import ServingBackend


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
        default=None,
        description="Where file bytes go: file:///path or s3://bucket/prefix; default home/blobs.",
    )
    s3_endpoint: str | None = Field(
        default=None, description="S3 endpoint URL (SeaweedFS, MinIO, ...); default AWS."
    )
    s3_access_key: str | None = Field(default=None, description="S3 access key id.")
    s3_secret_key: SecretStr | None = Field(default=None, description="S3 secret access key.")
    s3_region: str | None = Field(default=None, description="S3 region.")
    gc_grace_seconds: int = Field(
        default=3600,
        ge=0,
        description="Garbage collection keeps unreferenced blobs younger than this.",
    )
    upload_session_ttl_seconds: int = Field(
        default=86_400,
        gt=0,
        description="Resumable upload sessions expire this long after they start.",
    )
    import_allowed_hosts: str = Field(
        default="",
        description="URL imports may reach these hosts, IPs and CIDRs (comma-separated) even "
        "though they are loopback, private, link-local or metadata addresses.",
    )
    import_allow_file_urls: bool = Field(
        default=False, description="Allow file:// imports, which read the server's disk."
    )
    import_max_bytes: int = Field(
        default=1 << 40, gt=0, description="Largest file a URL import may fetch, in bytes."
    )
    bundle_max_size: int = Field(
        default=64 * 1024**3,
        gt=0,
        description="Largest total uncompressed size of an uploaded zip bundle, in bytes.",
    )
    check_on_finish: bool = Field(
        default=True,
        description="Check every version in a worker process when it becomes READY.",
    )
    check_timeout_seconds: int = Field(
        default=300, gt=0, description="Time a version's check run may take, in seconds."
    )
    check_memory_mb: int = Field(
        default=4096, ge=256, description="Memory limit of a check worker process, in MiB."
    )
    serving_backend: ServingBackend = Field(
        default=ServingBackend.LOCAL,
        description="Where deployments run unless they say: local (worker processes) or ray.",
    )
    ray_address: str | None = Field(
        default=None,
        description="HOST:PORT of a Ray cluster's head node: deployments with backend ray "
        "run there as Ray Serve replicas (needs the ray extra).",
    )
    serving_max_payload_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest prediction request body (native and KServe V2), in bytes.",
    )
    deploy_ready_timeout_seconds: int = Field(
        default=300, gt=0, description="Time a deployment's replicas may take to load the model."
    )
    auth_failure_limit: int = Field(
        default=20,
        ge=0,
        description="Failed authentications one client address may make within "
        "auth_failure_window_seconds before it is refused with 429 (0: no limit).",
    )
    auth_failure_window_seconds: int = Field(
        default=60, gt=0, description="The window of auth_failure_limit, in seconds."
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A failed webhook delivery is tried again after this long, doubled after "
        "each further failure (up to webhook_retry_max_seconds).",
    )
    webhook_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="The longest wait between two webhook delivery attempts."
    )
    webhook_max_attempts: int = Field(
        default=12, ge=1, description="A webhook delivery is FAILED after this many attempts."
    )
    host: str = Field(default="127.0.0.1", description="Address the server binds to.")
    port: int = Field(default=8700, description="Port the server listens on.")
    grpc_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the gRPC server (ModelBox's API), on the same host; off unless "
        "given (needs the grpc extra).",
    )
    grpc_anonymous_namespaces: str = Field(
        default="",
        description="Namespaces (comma-separated) where gRPC calls without credentials act "
        "as the user grpc-anonymous, a writer there and nowhere else; none by default.",
    )
    grpc_max_message_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest gRPC message received or sent, in bytes (an upload streams its "
        "file in many).",
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'modelyard.db'}"

    @property
    def token_file(self) -> Path:
        return self.home / "token"
