"""The server checks what it registers: a real server (task runner, worker processes) checks
each version when it becomes READY, stores the report, the detected runtime and the inferred
schemas; defective bundles FAIL with the check that caught them while the API stays
responsive; the SDK and CLI show the results."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from checking_server import CHECK_MEMORY_MB, CHECK_TIMEOUT
from checks_support import broken_score, score_bundle
from click.testing import CliRunner

from modelyard import Client
from modelyard.cli.main import main
from modelyard.domain.runtime import CheckReport, CheckState, CheckStatus, Flavor
from modelyard.errors import FailedPrecondition

SPEC = "runtime:\n  flavor: sklearn\n  model_file: model.skops\n  entry_point: score.py\n"


def _register(client: Client, name: str, bundle: Path) -> Any:
    version = client.new_model(name).new_model_version("1", artifacts=[bundle])
    return version.finish()


def _result(report: CheckReport, check: str) -> Any:
    return next(r for r in report.results if r.id == check)


def test_a_good_bundle_passes_and_the_version_learns_its_runtime(
    client: Client, server: tuple[str, str, Path], tmp_path: Path
) -> None:
    bundle = score_bundle(tmp_path / "good")
    version = _register(client, "good", bundle)
    # Queued, or already picked up by one of the server's task threads.
    assert version.checks is not None
    assert version.checks.state in {CheckState.PENDING, CheckState.RUNNING}
    report = version.wait_for_checks(timeout=120)
    assert report.state == CheckState.PASSED, report
    assert {r.status for r in report.results} <= {CheckStatus.PASS, CheckStatus.SKIP}
    assert report.task and report.started_at and report.finished_at
    # Detected from the files and stored on the version, with the schemas of the example.
    assert version.runtime is not None
    assert (version.runtime.flavor, version.runtime.entry_point) == (Flavor.SKLEARN, "score.py")
    assert version.runtime.model_file == "model.skops"
    assert version.input_schema is not None and version.input_schema["type"] == "array"
    assert version.output_schema is not None
    # The scratch copy is gone once the run ended.
    assert list((server[2] / "checks").iterdir()) == []

    url, token, _ = server
    result = CliRunner().invoke(
        main, ["--url", url, "--token", token, "versions", "checks", "default/good", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "predict.example" in result.output and "checks: PASSED" in result.output

    again = version.run_checks(timeout=120)
    assert again is not None and again.state == CheckState.PASSED and again.task != report.task


def test_defects_fail_while_the_api_stays_responsive(client: Client, tmp_path: Path) -> None:
    # name: (how score_bundle builds the bundle, the check that must FAIL, words of its message)
    defects: dict[str, tuple[dict[str, Any], str, str]] = {
        "raises": (
            {
                "score": broken_score(
                    """
                    def predict(data, model=None):
                        raise RuntimeError("the scaler was never fitted")
                    """
                )
            },
            "predict.example",
            "the scaler was never fitted",
        ),
        "sleeps": (
            {
                "score": broken_score(
                    """
                    import time

                    def predict(data, model=None):
                        time.sleep(3600)
                    """
                )
            },
            "predict.example",
            f"did not finish within {CHECK_TIMEOUT}",
        ),
        "hogs": (
            {
                "score": broken_score(
                    """
                    def predict(data, model=None):
                        blocks = []
                        while True:
                            blocks.append(bytearray(64 * 1024 * 1024))
                    """
                )
            },
            "predict.example",
            f"memory limit of {CHECK_MEMORY_MB} MiB",
        ),
        "syntax": ({"score": "def load_model(:\n    pass\n"}, "entry_point.imports", "line 1"),
        "no-predict": (
            {"score": broken_score("")},
            "entry_point.signatures",
            "score.py defines no predict(): add def predict(data, model=",
        ),
        "no-model-file": (
            {"model_file": None, "files": {"modelyard.yaml": SPEC}},
            "model_file.present",
            "model.skops (runtime.model_file) is missing from the bundle",
        ),
        "wrong-format": (
            {
                "model_file": None,
                "files": {
                    "modelyard.yaml": "runtime:\n  flavor: onnx\n  model_file: model.onnx\n",
                    "model.onnx": "TODO: export the model here\n",
                },
            },
            "model_file.format",
            "model.onnx is a text file (first line: 'TODO: export the model here')",
        ),
        "unsatisfiable": (
            {"requirements": ["scikit-learn==0.0.1"]},
            "requirements.satisfied",
            "there is no version of scikit-learn==0.0.1",
        ),
    }
    versions = {}
    for name, (build, _, _) in defects.items():
        versions[name] = _register(client, f"broken-{name}", score_bundle(tmp_path / name, **build))

    # While the worker sleeps, eats memory or crashes, the API answers at once.
    slowest = 0.0
    deadline = time.monotonic() + CHECK_TIMEOUT * len(defects) + 120
    pending = set(defects)
    while pending and time.monotonic() < deadline:
        started = time.monotonic()
        assert client.list_models(page_size=5) is not None
        slowest = max(slowest, time.monotonic() - started)
        for name in list(pending):
            report = versions[name].refresh().checks
            if report is not None and report.state not in (CheckState.PENDING, CheckState.RUNNING):
                pending.discard(name)
        time.sleep(0.2)
    assert not pending, f"checks still running for {pending}"
    assert slowest < 2.0, f"an API call took {slowest:.2f} s while checks ran"

    for name, (_, check, message) in defects.items():
        report = versions[name].checks
        assert report is not None and report.state == CheckState.FAILED, (name, report)
        failed = _result(report, check)
        assert failed.status == CheckStatus.FAIL and message in failed.message, (name, failed)


def test_checks_on_demand_only_for_ready_versions(client: Client, tmp_path: Path) -> None:
    version = client.new_model("pending").new_model_version("1")
    with pytest.raises(FailedPrecondition, match="PENDING"):
        version.run_checks()
    with pytest.raises(FailedPrecondition, match="has no checks"):
        version.wait_for_checks(timeout=1)


def test_a_version_without_a_model_fails_the_runtime_check(client: Client, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("just notes")
    report = _register(client, "notes", data).wait_for_checks(timeout=120)
    assert report.state == CheckState.FAILED
    failed = _result(report, "runtime.spec")
    assert failed.status == CheckStatus.FAIL and "modelyard.yaml" in failed.message


def test_check_tasks_are_listed_like_other_tasks(
    client: Client, server: tuple[str, str, Path], tmp_path: Path
) -> None:
    version = _register(client, "listed", score_bundle(tmp_path / "b"))
    report = version.wait_for_checks(timeout=120)
    url, token, _ = server
    task = httpx.get(
        f"{url}/api/v1/tasks/{report.task}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert (task["kind"], task["state"]) == ("CHECK_VERSION", "COMPLETED")
    assert json.loads(json.dumps(task["result"]))["state"] == report.state
