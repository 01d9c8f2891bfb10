"""The request bodies of ML Commons' API, as its documentation and opensearch-py-ml send them.

Fields ML Commons ignores are ignored here too (its parsers skip unknown fields); fields of
features modelyard does not have (``connector``) are refused by the routes, naming them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.domain.runtime import EmbeddingFormat, FrameworkType, PoolingMode

AccessMode = Literal["public", "private", "restricted"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AccessBody(_Body):
    """Who may see a model group: ``access_mode`` and its ``backend_roles`` (teams)."""

    access_mode: AccessMode | None = None
    backend_roles: list[str] | None = None
    add_all_backend_roles: bool | None = None

    def given(self) -> bool:
        """Whether the body sets any access (``add_all_backend_roles: false`` sets none)."""
        return (
            self.access_mode is not None
            or self.backend_roles is not None
            or bool(self.add_all_backend_roles)
        )


class GroupRegister(AccessBody):
    name: str = Field(description="Globally unique: a model name in the `opensearch` namespace.")
    description: str | None = None


class GroupUpdate(AccessBody):
    name: str | None = Field(default=None, description="Refused: a model group keeps its name.")
    description: str | None = None


class ModelConfig(_Body):
    """``model_config``: what the text-embedding runtime needs, kept as given besides."""

    model_type: str | None = None
    embedding_dimension: int = Field(ge=1, le=65536)
    framework_type: FrameworkType
    all_config: str | None = None
    pooling_mode: PoolingMode | None = None
    normalize_result: bool | None = None
    model_max_length: int | None = Field(default=None, ge=1, le=1_000_000)


class _ModelFields(AccessBody):
    name: str
    version: str | int | None = Field(
        default=None, description="Kept as given; the version number is the group's next."
    )
    description: str | None = None
    model_format: EmbeddingFormat
    model_group_id: str | None = Field(
        default=None, description="Empty or absent: a group named after the model is created."
    )
    model_config_: ModelConfig = Field(alias="model_config")
    function_name: str | None = Field(default=None, description="TEXT_EMBEDDING only.")
    connector: dict[str, Any] | None = Field(default=None, description="Refused.")
    connector_id: str | None = Field(default=None, description="Refused.")


class ModelRegister(_ModelFields):
    url: str | None = Field(default=None, description="Where the model's zip is; required.")
    model_content_hash_value: str | None = Field(
        default=None, description="SHA-256 of the zip, checked when it is fetched."
    )


class ModelMeta(_ModelFields):
    model_content_hash_value: str = Field(description="SHA-256 of the whole zip.")
    model_content_size_in_bytes: int = Field(ge=0, description="The zip's size in bytes.")
    total_chunks: int = Field(ge=1, description="ceil(size / 10,000,000).")


class Predict(_Body):
    text_docs: list[str] = Field(min_length=1)
    return_number: bool | None = None
    target_response: list[str] | None = None
