"""How a version runs, and what the checks found: values stored on the version.

``RuntimeSpec`` says which flavor loads the model file, which entry point (``score.py``) serves
it, and what it needs (python version, requirements, a conda YAML or a docker base image). It is
given at registration or detected from the files; ``text_embedding`` holds the settings of
OpenSearch ML Commons' sentence-embedding models (``TextEmbeddingSpec``), never detected.
``CheckReport`` holds the introspection results (``modelyard.runtime.checks``); the code that
loads and runs models lives in ``modelyard.runtime`` and never runs in the API process.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


class Flavor(StrEnum):
    SKLEARN = "sklearn"
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    PYTORCH = "pytorch"
    KERAS = "keras"
    PYTHON = "python"
    GESUND = "gesund"
    MLFLOW = "mlflow"
    TEXT_EMBEDDING = "text_embedding"


class EmbeddingFormat(StrEnum):
    """The model file of a text-embedding model (OpenSearch's ``model_format``)."""

    TORCH_SCRIPT = "TORCH_SCRIPT"
    ONNX = "ONNX"


class FrameworkType(StrEnum):
    """How a text-embedding model answers (OpenSearch's ``model_config.framework_type``)."""

    SENTENCE_TRANSFORMERS = "sentence_transformers"  # sentence embeddings, ready to use
    HUGGINGFACE_TRANSFORMERS = "huggingface_transformers"  # token embeddings, to be pooled


class PoolingMode(StrEnum):
    """How token embeddings become one sentence embedding."""

    MEAN = "mean"
    MEAN_SQRT_LEN = "mean_sqrt_len"
    MAX = "max"
    WEIGHTED_MEAN = "weightedmean"
    CLS = "cls"


class TextEmbeddingSpec(BaseModel):
    """How the ``text_embedding`` flavor turns texts into vectors: OpenSearch ML Commons'
    ``model_format`` and ``model_config`` (see ``modelyard.runtime.flavors.embedding``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_format: EmbeddingFormat
    framework_type: FrameworkType = FrameworkType.SENTENCE_TRANSFORMERS
    pooling_mode: PoolingMode = Field(
        default=PoolingMode.MEAN,
        description="Applied to token embeddings (ONNX models, TorchScript "
        "huggingface_transformers models); a TorchScript sentence_transformers model's "
        "sentence_embedding is used as it is.",
    )
    normalize_result: bool = Field(default=False, description="L2-normalize each embedding.")
    embedding_dimension: int = Field(
        ge=1, le=65536, description="The length of each vector; another length is an error."
    )
    tokenizer_file: str = Field(
        default="tokenizer.json",
        min_length=1,
        max_length=1024,
        description="A Hugging Face tokenizers file in the bundle.",
    )
    max_sequence_length: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Truncate each text to this many tokens; unset: the tokenizer file's own "
        "truncation.",
    )


class RuntimeSpec(BaseModel):
    """What a version needs to load and predict. Paths are relative to the version's files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flavor: Flavor
    model_file: str | None = Field(
        default=None, max_length=1024, description="The model file the flavor loads."
    )
    entry_point: str | None = Field(
        default=None,
        max_length=1024,
        description="A score.py with load_model() and predict(data, model=...); when set it "
        "serves the version and the flavor only says how the model file is stored.",
    )
    model_class: str | None = Field(
        default=None,
        max_length=512,
        description="'module.py:ClassName' of the network whose state_dict a pytorch model "
        "file holds.",
    )
    python_version: str | None = Field(
        default=None, max_length=64, description="'3.11', or a specifier such as '>=3.10'."
    )
    requirements: list[str] = Field(default_factory=list, max_length=500)
    conda_env: str | None = Field(default=None, max_length=1024, description="A conda YAML.")
    docker_image: str | None = Field(default=None, max_length=512)
    example: str | None = Field(
        default=None, max_length=1024, description="A JSON file holding an example input."
    )
    text_embedding: TextEmbeddingSpec | None = Field(
        default=None,
        validate_default=True,
        description="The text_embedding flavor's settings; required with that flavor only.",
    )

    @field_validator("text_embedding")
    @classmethod
    def _text_embedding_with_its_flavor(
        cls, value: TextEmbeddingSpec | None, info: ValidationInfo
    ) -> TextEmbeddingSpec | None:
        flavor = info.data.get("flavor")
        if flavor == Flavor.TEXT_EMBEDDING and value is None:
            raise PydanticCustomError(
                "text_embedding",
                "the text_embedding flavor needs its settings: model_format and "
                "embedding_dimension at least",
            )
        if value is not None and flavor is not None and flavor != Flavor.TEXT_EMBEDDING:
            raise PydanticCustomError(
                "text_embedding",
                "only the text_embedding flavor takes it, not {flavor}",
                {"flavor": str(flavor)},
            )
        return value


class CheckStatus(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"  # not run: an earlier check it depends on failed, or nothing to check


class CheckState(StrEnum):
    """The outcome of a version's check run as a whole."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PASSED = "PASSED"  # every check PASS (or SKIP)
    WARNED = "WARNED"  # no FAIL, at least one WARN
    FAILED = "FAILED"  # at least one FAIL: not deployable unless forced
    ERROR = "ERROR"  # the checks could not run at all (see message)


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="A stable check id such as 'model_file.loads'.")
    status: CheckStatus
    message: str = Field(description="What was found and, when not PASS, what to do.")
    duration_ms: int = 0


class CheckReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    state: CheckState
    results: list[CheckResult] = Field(default_factory=list)
    message: str | None = None
    runtime: RuntimeSpec | None = Field(
        default=None, description="The runtime spec the checks ran with (given or detected)."
    )
    python: str | None = Field(default=None, description="The interpreter that ran them.")
    input_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema inferred from the bundle's example input."
    )
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema inferred from the prediction on the example."
    )
    task: str | None = Field(default=None, description="The task that runs (or ran) them.")
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @staticmethod
    def state_of(results: list[CheckResult]) -> CheckState:
        statuses = {r.status for r in results}
        if CheckStatus.FAIL in statuses:
            return CheckState.FAILED
        if CheckStatus.WARN in statuses:
            return CheckState.WARNED
        return CheckState.PASSED

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == CheckStatus.FAIL]


def jsonable(report: CheckReport | RuntimeSpec | None) -> dict[str, Any] | None:
    return None if report is None else report.model_dump(mode="json", exclude_none=True)
