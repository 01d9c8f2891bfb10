"""OCI ADS's introspection tests, reported under their ADS keys beside modelyard's checks.

ADS checks an artifact before saving it to the model catalog
(``ads/model/model_artifact_boilerplate/artifact_introspection_test``); its list is a subset
of what modelyard's checks prove. For a bundle with ADS's ``runtime.yaml`` at its top, each
ADS test is reported again as ``ads.<key>`` (``ads.score_py``, ``ads.runtime_env_path``, ...)
with the status of the modelyard checks that prove it (:data:`ADS_TESTS` names them), and,
where no modelyard check does, of ADS's own rule on ``runtime.yaml`` or ``score.py``. A rule
that modelyard does not need to serve the model (the conda pack's path, the artifact version)
is a WARN, not a FAIL: the model serves here, and OCI would refuse the artifact.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelyard.domain.runtime import CheckResult, CheckStatus

RUNTIME_YAML = "runtime.yaml"
SCORE_PY = "score.py"
#: ADS's pattern for ``INFERENCE_PYTHON_VERSION`` (3.6 to 3.14).
_PYTHON = re.compile(r"^3\.([6-9]|1[0-4])(\.\d+)?$")

Rule = Callable[[Path, Mapping[str, Any]], str | None]


@dataclass(frozen=True, kw_only=True)
class AdsTest:
    """One ADS introspection test: its key, what it checks, the modelyard checks that prove
    it, and ADS's own rule where none does (None when it holds, else what is wrong)."""

    key: str
    description: str
    proven_by: tuple[str, ...] = ()
    rule: Rule | None = None


def _deployment(runtime: Mapping[str, Any]) -> Mapping[str, Any]:
    deployment = runtime.get("MODEL_DEPLOYMENT")
    conda = deployment.get("INFERENCE_CONDA_ENV") if isinstance(deployment, dict) else None
    return conda if isinstance(conda, dict) else {}


def _score_at_top(bundle: Path, runtime: Mapping[str, Any]) -> str | None:
    return None if (bundle / SCORE_PY).is_file() else "score.py is not at the artifact's top"


def _predict_takes_data(bundle: Path, runtime: Mapping[str, Any]) -> str | None:
    try:
        tree = ast.parse((bundle / SCORE_PY).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None  # the modelyard checks report it
    for node in tree.body:
        if (
            isinstance(node, ast.FunctionDef)
            and node.name == "predict"
            and (not node.args.args or node.args.args[0].arg != "data")
        ):
            return "predict()'s first parameter must be named 'data'"
    return None


def _artifact_version(bundle: Path, runtime: Mapping[str, Any]) -> str | None:
    version = runtime.get("MODEL_ARTIFACT_VERSION")
    if str(version) == "3.0":
        return None
    return f"MODEL_ARTIFACT_VERSION is {version!r}, OCI needs '3.0'"


def _python_version(bundle: Path, runtime: Mapping[str, Any]) -> str | None:
    version = str(_deployment(runtime).get("INFERENCE_PYTHON_VERSION") or "")
    if _PYTHON.match(version):
        return None
    return (
        f"MODEL_DEPLOYMENT.INFERENCE_CONDA_ENV.INFERENCE_PYTHON_VERSION is {version!r}, "
        "not 3.6 or later"
    )


def _env_path(bundle: Path, runtime: Mapping[str, Any]) -> str | None:
    if _deployment(runtime).get("INFERENCE_ENV_PATH"):
        return None
    return (
        "MODEL_DEPLOYMENT.INFERENCE_CONDA_ENV.INFERENCE_ENV_PATH is empty (ADS leaves it so "
        "when it cannot resolve the conda pack: prepare(inference_conda_env=...) online)"
    )


ADS_TESTS: tuple[AdsTest, ...] = (
    AdsTest(
        key="score_py",
        description="score.py is at the artifact's top",
        proven_by=("entry_point.imports",),
        rule=_score_at_top,
    ),
    AdsTest(
        key="runtime_yaml",
        description="runtime.yaml is at the artifact's top",
        proven_by=("runtime.spec",),
    ),
    AdsTest(
        key="score_syntax",
        description="score.py has no syntax errors",
        proven_by=("entry_point.imports",),
    ),
    AdsTest(
        key="score_load_model",
        description="score.py defines load_model()",
        proven_by=("entry_point.signatures",),
    ),
    AdsTest(
        key="score_predict",
        description="score.py defines predict()",
        proven_by=("entry_point.signatures",),
    ),
    AdsTest(
        key="score_predict_data",
        description="predict()'s only required parameter is named 'data'",
        proven_by=("entry_point.signatures",),
        rule=_predict_takes_data,
    ),
    AdsTest(
        key="score_predict_arg",
        description="predict()'s other parameters have defaults",
        proven_by=("entry_point.signatures",),
    ),
    AdsTest(
        key="runtime_version",
        description="runtime.yaml's MODEL_ARTIFACT_VERSION is 3.0",
        rule=_artifact_version,
    ),
    AdsTest(
        key="runtime_env_python",
        description="runtime.yaml's INFERENCE_PYTHON_VERSION is 3.6 or later",
        proven_by=("python.version",),
        rule=_python_version,
    ),
    AdsTest(
        key="runtime_env_path",
        description="runtime.yaml's INFERENCE_ENV_PATH is set",
        rule=_env_path,
    ),
    AdsTest(
        key="runtime_path_exist",
        description="the inference environment exists (modelyard serves in an environment "
        "built from the requirements, not in the conda pack)",
        proven_by=("requirements.satisfied",),
    ),
)

_ORDER = (CheckStatus.PASS, CheckStatus.SKIP, CheckStatus.WARN, CheckStatus.FAIL)


def is_ads_artifact(bundle: Path) -> bool:
    return (bundle / RUNTIME_YAML).is_file()


def _runtime(bundle: Path) -> Mapping[str, Any]:
    try:
        loaded = yaml.safe_load((bundle / RUNTIME_YAML).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def ads_results(bundle: Path, results: Mapping[str, CheckResult]) -> list[CheckResult]:
    """The ADS tests' results (``ads.<key>``) for an ADS artifact, from the modelyard checks'
    ``results`` (by id); none for a bundle without runtime.yaml."""
    if not is_ads_artifact(bundle):
        return []
    runtime = _runtime(bundle)
    answers = []
    for test in ADS_TESTS:
        statuses = [results[c].status for c in test.proven_by if c in results]
        notes = [f"{c}: {results[c].status}" for c in test.proven_by if c in results]
        problem = test.rule(bundle, runtime) if test.rule is not None else None
        if problem is not None:
            statuses.append(CheckStatus.WARN)
            notes.insert(0, f"{problem}; modelyard serves it, OCI would refuse it")
        status = max(statuses, key=_ORDER.index) if statuses else CheckStatus.PASS
        if not notes:
            notes = ["ADS's rule holds"]
        answers.append(
            CheckResult(
                id=f"ads.{test.key}",
                status=status,
                message=f"{test.description} ({'; '.join(notes)})",
            )
        )
    return answers
