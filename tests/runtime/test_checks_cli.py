"""``modelyard verify DIR``: the table, the JSON, and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

from checks_support import SCORE, score_bundle
from click.testing import CliRunner

from modelyard.cli.main import main
from modelyard.domain.runtime import CheckReport, CheckState


def test_a_good_bundle_prints_a_table_and_exits_zero(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path)

    result = CliRunner().invoke(main, ["verify", str(bundle), "--timeout", "120"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "MESSAGE"]
    assert any(line.split()[:2] == ["predict.example", "PASS"] for line in lines)
    assert lines[-1] == "checks: PASSED"


def test_a_failing_bundle_exits_one_naming_the_check(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, score=SCORE.split("def predict")[0])

    result = CliRunner().invoke(main, ["verify", str(bundle)])

    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if line.startswith("entry_point.sig"))
    assert row.split()[1] == "FAIL" and "score.py defines no predict()" in row
    assert result.output.splitlines()[-1] == "checks: FAILED"


def test_json_output_is_the_report(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path)

    result = CliRunner().invoke(main, ["verify", str(bundle), "--json", "--memory-mb", "3072"])

    assert result.exit_code == 0, result.output
    report = CheckReport.model_validate(json.loads(result.output))
    assert report.state == CheckState.PASSED
    assert report.runtime is not None and report.runtime.model_file == "model.skops"


def test_a_directory_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "nope")])

    assert result.exit_code == 2
    assert "does not exist" in result.output
