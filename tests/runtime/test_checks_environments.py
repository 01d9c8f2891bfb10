"""Isolated environments built with uv for requirements this interpreter lacks (PyPI is
reachable from the test machine; the package is tiny and pure Python)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from textwrap import dedent

import pytest

from modelyard.domain.runtime import CheckState, CheckStatus
from modelyard.errors import InvalidArgument
from modelyard.runtime.environments import MARKER, ensure_environment
from modelyard.runtime.sandbox import check_bundle

TINY = "tomli-w==1.0.0"  # not installed in modelyard's own environment


def test_an_environment_is_built_once_and_sees_both_worlds(tmp_path: Path) -> None:
    cache = tmp_path / "envs"
    start = time.monotonic()

    python = ensure_environment([TINY], None, cache)

    built_in = time.monotonic() - start
    marker = python.parent.parent / MARKER
    assert python.is_file() and marker.is_file()
    code = "import tomli_w, modelyard, numpy; print(tomli_w.dumps({'a': 1}).strip())"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "a = 1"

    written = marker.stat().st_mtime_ns
    start = time.monotonic()
    again = ensure_environment([TINY], "3", cache)

    assert again == python
    assert time.monotonic() - start < min(1.0, built_in)
    assert marker.stat().st_mtime_ns == written  # reused, not rebuilt
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [
        python.parent.parent.name
    ]


def test_a_failed_build_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "envs"

    with pytest.raises(InvalidArgument) as raised:
        ensure_environment(["tomli-w==0.0.0.1"], None, cache)

    assert raised.value.message.startswith("uv could not build the environment: ")
    assert "tomli-w==0.0.0.1" in raised.value.message
    assert [p.suffix for p in cache.iterdir()] == [".lock"]


def test_a_python_version_this_interpreter_is_not(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as raised:
        ensure_environment([TINY], ">=3.99", tmp_path)

    assert raised.value.field == "python_version"
    assert "the bundle needs Python >=3.99, but environments are built on" in raised.value.message


def test_the_checks_run_in_the_environment(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "requirements.txt").write_text(f"{TINY}\n")
    (bundle / "input_example.json").write_text('{"a": 1}')
    (bundle / "score.py").write_text(
        dedent(
            """\
            import tomli_w


            def load_model():
                return tomli_w


            def predict(data, model=None):
                return {"toml": model.dumps(data)}
            """
        )
    )

    without = check_bundle(bundle, timeout=60)
    report = check_bundle(bundle, timeout=60, environments=tmp_path / "envs")

    results = {r.id: r for r in without.results}
    assert results["requirements.environment"].status == CheckStatus.SKIP
    assert results["requirements.environment"].message.startswith(
        "not built: tomli-w==1.0.0 (not installed) not installed here, and no environment cache"
    )
    assert results["entry_point.imports"].status == CheckStatus.FAIL
    results = {r.id: r for r in report.results}
    assert report.state == CheckState.PASSED, report.results
    assert results["requirements.environment"].message.startswith(
        f"the checks ran in {tmp_path / 'envs'}/"
    )
    assert results["requirements.satisfied"].status == CheckStatus.PASS
    assert report.python is not None and str(tmp_path / "envs") in report.python
