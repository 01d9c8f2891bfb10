"""The OCI Data Science wire models the dialect reads and answers (camelCase, as the ``oci``
SDK sends and deserializes them). Fields the dialect does not use (retention and backup
settings) are accepted and ignored, so newer SDKs keep working."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Metadatum(_Wire):
    """One entry of a custom or defined metadata list."""

    key: str = Field(min_length=1, max_length=255)
    value: str | None = Field(default=None, max_length=255 * 1024)
    description: str | None = None
    category: str | None = None
    keywords: list[str] | None = None
    has_artifact: bool | None = None


class ModelCreate(_Wire):
    compartment_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1, description="The modelyard namespace")
    display_name: str | None = Field(default=None, max_length=255)
    description: str | None = None
    freeform_tags: dict[str, str] = Field(default_factory=dict)
    defined_tags: dict[str, dict[str, Any]] = Field(default_factory=dict)
    custom_metadata_list: list[Metadatum] = Field(default_factory=list)
    defined_metadata_list: list[Metadatum] = Field(default_factory=list)
    input_schema: str | None = None
    output_schema: str | None = None
    model_version_set_id: str | None = Field(
        default=None, description="The id of the modelyard model the version joins"
    )
    version_label: str | None = None


class ModelUpdate(_Wire):
    display_name: str | None = Field(default=None, max_length=255)
    description: str | None = None
    freeform_tags: dict[str, str] | None = None
    defined_tags: dict[str, dict[str, Any]] | None = None
    custom_metadata_list: list[Metadatum] | None = None
    defined_metadata_list: list[Metadatum] | None = None
    version_label: str | None = None


class Provenance(_Wire):
    repository_url: str | None = None
    git_branch: str | None = None
    git_commit: str | None = None
    script_dir: str | None = None
    training_script: str | None = None
    training_id: str | None = None


class ModelSummary(_Wire):
    id: str
    compartment_id: str | None
    project_id: str
    display_name: str | None
    created_by: str
    time_created: datetime
    lifecycle_state: str
    lifecycle_details: str | None = None
    model_version_set_id: str
    model_version_set_name: str
    version_id: int
    version_label: str
    category: str = "USER"
    is_model_by_reference: bool = False
    freeform_tags: dict[str, str] = Field(default_factory=dict)
    defined_tags: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Model(ModelSummary):
    description: str | None = None
    custom_metadata_list: list[Metadatum] = Field(default_factory=list)
    defined_metadata_list: list[Metadatum] = Field(default_factory=list)
    input_schema: str | None = None
    output_schema: str | None = None
