"""ADS's introspection tests in the check report: each under its ADS key, with the status of
the modelyard checks that prove it, or of ADS's own rule where none does."""

from __future__ import annotations

from pathlib import Path

from modelyard.domain.runtime import CheckResult, CheckStatus
from modelyard.runtime.ads import ADS_TESTS, ads_results
from modelyard.runtime.references import scan_references

RUNTIME = """\
MODEL_ARTIFACT_VERSION: '{version}'
MODEL_DEPLOYMENT:
  INFERENCE_CONDA_ENV:
    INFERENCE_ENV_PATH: {path}
    INFERENCE_PYTHON_VERSION: '{python}'
"""


def bundle(tmp_path: Path, score: str, **runtime: str) -> Path:
    values = {"version": "3.0", "path": "oci://b@n/conda/pack", "python": "3.11", **runtime}
    (tmp_path / "runtime.yaml").write_text(RUNTIME.format(**values))
    (tmp_path / "score.py").write_text(score)
    return tmp_path


def results(**statuses: CheckStatus) -> dict[str, CheckResult]:
    ids = {c for t in ADS_TESTS for c in t.proven_by}
    return {
        i: CheckResult(id=i, status=statuses.get(i.replace(".", "_"), CheckStatus.PASS), message="")
        for i in ids
    }


def by_key(found: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.id.removeprefix("ads."): r for r in found}


def test_a_bundle_without_runtime_yaml_gets_no_ads_results(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text("def predict(data): ...\n")
    assert ads_results(tmp_path, results()) == []


def test_every_ads_test_is_reported_and_passes_on_a_good_artifact(tmp_path: Path) -> None:
    good = bundle(tmp_path, "def load_model(): ...\ndef predict(data, model=None): ...\n")
    found = ads_results(good, results())
    assert [r.id for r in found] == [f"ads.{t.key}" for t in ADS_TESTS]
    assert {r.status for r in found} == {CheckStatus.PASS}, found


def test_the_proving_checks_status_carries_over(tmp_path: Path) -> None:
    good = bundle(tmp_path, "def predict(data, model=None): ...\n")
    found = by_key(ads_results(good, results(entry_point_signatures=CheckStatus.FAIL)))
    for key in ("score_load_model", "score_predict", "score_predict_arg"):
        assert found[key].status == CheckStatus.FAIL
        assert "entry_point.signatures: FAIL" in found[key].message
    assert found["score_py"].status == CheckStatus.PASS


def test_adss_own_rules_warn_where_no_modelyard_check_proves_them(tmp_path: Path) -> None:
    odd = bundle(tmp_path, "def predict(x, model=None): ...\n", version="2.0", path="''", python="")
    found = by_key(ads_results(odd, results()))
    assert found["runtime_version"].status == CheckStatus.WARN
    assert "MODEL_ARTIFACT_VERSION is '2.0'" in found["runtime_version"].message
    assert found["runtime_env_path"].status == CheckStatus.WARN
    assert found["runtime_env_python"].status == CheckStatus.WARN
    assert found["score_predict_data"].status == CheckStatus.WARN
    assert "named 'data'" in found["score_predict_data"].message


def test_adss_optional_manifest_is_not_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(
        'MANIFEST = "model_artifact_manifest.json"\nLABELS = "labels.txt"\n'
    )
    missing = scan_references(tmp_path, ["score.py"]).missing
    assert len(missing) == 1 and "'labels.txt'" in missing[0]
