"""DeepDev's request and answer bodies, as its registration guide describes them.

``model_config``, ``model_files`` and ``model_metainfo`` are the three sections of a
registration; every file reference in ``model_config`` and ``model_metainfo`` is a key of
``model_files`` (the target file name), and languages are given only for SOURCE_CODE and
NATURAL_LANGUAGE inputs or outputs.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import FieldError, InvalidArgument


class ModelType(StrEnum):
    ENCODER = "ENCODER"
    DECODER = "DECODER"
    SEQ2SEQ = "SEQ2SEQ"


class IOType(StrEnum):
    SOURCE_CODE = "SOURCE_CODE"
    NATURAL_LANGUAGE = "NATURAL_LANGUAGE"
    CLASS_LABEL = "CLASS_LABEL"
    OTHER = "OTHER"


#: The input/output types that have languages.
WITH_LANGUAGES = frozenset({IOType.SOURCE_CODE, IOType.NATURAL_LANGUAGE})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DeepDevConfig(_Body):
    name: str = Field(description="The model's name; the same as in the path.")
    version: str = Field(description="The model's version; the same as in the path.")
    owner: str | None = Field(
        default=None,
        description="The owning user; yours unless you are an admin registering for someone.",
    )
    private: bool | None = Field(
        default=None,
        description="Private models are unlisted and invisible to others, and still "
        "deployable by their owner; false makes the model public. A new model is private "
        "unless this is false; for an existing one, unset keeps its visibility.",
    )
    inference_script: str = Field(
        description="The inference entry script, a key of model_files: init() and "
        "run(raw_data), or load_model() and predict(data, model=None)."
    )
    conda_file: str | None = Field(
        default=None, description="A conda environment YAML, a key of model_files."
    )
    docker_base_image: str | None = Field(
        default=None, max_length=512, description="A Docker base image to run the model on."
    )


class DeepDevMetainfo(_Body):
    type: ModelType
    description: str = Field(default="", max_length=10_000)
    index_page_file: str = Field(
        description="Markdown describing the model, a key of model_files; shown as the model card."
    )
    input_types: list[IOType] = Field(min_length=1, max_length=16)
    input_languages: list[str] = Field(default_factory=list, max_length=256)
    input_description: str = Field(max_length=10_000)
    output_types: list[IOType] = Field(min_length=1, max_length=16)
    output_languages: list[str] = Field(default_factory=list, max_length=256)
    output_description: str = Field(max_length=10_000)
    num_params: int = Field(ge=0, le=10**15)


class Registration(_Body):
    """``PUT /api/v1.0/model/{model_name}/{model_version}``."""

    config: DeepDevConfig = Field(alias="model_config")
    model_files: dict[str, str] = Field(
        min_length=1, description="Target file name -> source URL, copied at registration."
    )
    model_metainfo: DeepDevMetainfo

    def check(self) -> None:
        """Refuse what the field types alone do not: references that are not files, no
        environment, languages for types that have none."""
        errors = []
        files = self.model_files
        for field, value in (
            ("model_config.inference_script", self.config.inference_script),
            ("model_config.conda_file", self.config.conda_file),
            ("model_metainfo.index_page_file", self.model_metainfo.index_page_file),
        ):
            if value is not None and value not in files:
                errors.append(
                    FieldError(field=field, message=f"{value!r} is not a key of model_files")
                )
        if self.config.conda_file is None and self.config.docker_base_image is None:
            errors.append(
                FieldError(
                    field="model_config.conda_file",
                    message="give an environment: conda_file or docker_base_image",
                )
            )
        info = self.model_metainfo
        for side in ("input", "output"):
            types = set(getattr(info, f"{side}_types"))
            if getattr(info, f"{side}_languages") and not types & WITH_LANGUAGES:
                errors.append(
                    FieldError(
                        field=f"model_metainfo.{side}_languages",
                        message="languages apply only to SOURCE_CODE and NATURAL_LANGUAGE "
                        f"{side}_types",
                    )
                )
        if errors:
            raise InvalidArgument(
                "; ".join(f"{e.field}: {e.message}" for e in errors),
                field=errors[0].field,
                errors=errors,
            )


class Visibility(_Body):
    """``PATCH /api/v1.0/model/{model_name}/{model_version}``."""

    private: bool


class Accepted(BaseModel):
    """The answer to a registration or a deployment: where to follow it."""

    model_name: str
    model_version: str
    status: str
    status_url: str = Field(description="GET it to follow the registration or deployment.")
    task_id: str | None = Field(
        default=None, description="The task doing the work, also at /api/v1/tasks/{task_id}."
    )


class StoredFile(BaseModel):
    size: int | None
    sha256: str | None
    url: str = Field(description="Where modelyard serves the file's bytes.")


class RegisteredModel(BaseModel):
    """``GET /api/v1.0/model/{model_name}/{model_version}``."""

    model_config = ConfigDict(protected_namespaces=(), populate_by_name=True)

    config: dict[str, Any] = Field(serialization_alias="model_config")
    model_files: dict[str, StoredFile]
    model_metainfo: dict[str, Any]
    status: str = Field(description="REGISTERING, REGISTERED or FAILED.")
    error: str | None = None
    created_at: datetime


class ModelSummary(BaseModel):
    name: str
    owner: str
    private: bool
    versions: list[str]


class ModelListing(BaseModel):
    models: list[ModelSummary]


class DeploymentRequest(_Body):
    """``PUT /api/v1.0/deployment/{model_name}/{model_version}``; every field optional."""

    replicas: int = Field(default=1, ge=1, le=64)
    public: bool = Field(
        default=False,
        description="Anyone may predict without a token (DeepDev's 'available but unlisted' "
        "inference APIs); by default callers need a token that may read the model.",
    )


class DeploymentStatus(BaseModel):
    """``GET /api/v1.0/deployment/{model_name}/{model_version}``."""

    model_name: str
    model_version: str
    deployment_id: str
    status: str = Field(description="PENDING, DEPLOYING, ACTIVE, FAILED or STOPPED.")
    ready_replicas: int
    error: str | None = None
    scoring_url: str = Field(description="POST the model's input here for predictions.")
