"""The checks in a worker process: a model that hangs, eats memory, crashes or prints cannot
hurt the caller, and the report still names the check it broke."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from textwrap import dedent

from checks_support import score_bundle

from modelyard.domain.runtime import CheckReport, CheckState, CheckStatus
from modelyard.runtime.checks import CHECKS
from modelyard.runtime.sandbox import check_bundle

FAIL, SKIP = CheckStatus.FAIL, CheckStatus.SKIP


def plain_bundle(directory: Path, predict_body: str, *, load: str = "return {'bias': 1}") -> Path:
    """A python-flavor bundle that needs nothing but the standard library (so it runs under
    a small memory limit): score.py's predict has the given body."""
    directory.mkdir(parents=True, exist_ok=True)
    source = f"def load_model():\n    {load}\n\n\ndef predict(data, model=None):\n"
    source += "".join(f"    {line}\n" for line in dedent(predict_body).splitlines())
    (directory / "score.py").write_text("import os\nimport sys\nimport time\n\n" + source)
    (directory / "input_example.json").write_text("[[1, 2], [3, 4]]")
    return directory


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie nobody reaped yet counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def by_id(report: CheckReport) -> dict[str, tuple[CheckStatus, str]]:
    return {r.id: (r.status, r.message) for r in report.results}


class Watch:
    """Runs ``check_bundle`` in a thread while this one measures its own responsiveness (the
    longest gap between 10 ms sleeps) and peak memory."""

    def __init__(self) -> None:
        self.report: CheckReport | None = None
        self.longest_gap = 0.0
        self.peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def run(self, **kwargs: object) -> CheckReport:
        worker = threading.Thread(target=lambda: setattr(self, "report", check_bundle(**kwargs)))
        worker.start()
        last = time.monotonic()
        while worker.is_alive():
            time.sleep(0.01)
            now = time.monotonic()
            self.longest_gap = max(self.longest_gap, now - last)
            last = now
        worker.join()
        assert self.report is not None
        return self.report

    @property
    def peak_growth_mb(self) -> float:
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.peak_before) / 1024


def test_a_good_bundle_passes_in_a_worker_whose_prints_do_not_disturb(tmp_path: Path) -> None:
    score = ("import os\n" + score_bundle(tmp_path / "x").joinpath("score.py").read_text()).replace(
        "    return model.predict(data).tolist()",
        "    print('[1, 2, 3]')\n    os.write(1, b'{\"result\": \"not mine\"}\\n')\n"
        "    return model.predict(data).tolist()",
    )
    bundle = score_bundle(tmp_path / "good", score=score)

    report = check_bundle(bundle, timeout=120)

    assert report.state == CheckState.PASSED, report.results
    assert [r.id for r in report.results] == [c.id for c in CHECKS]
    assert by_id(report)["predict.example"] == (
        CheckStatus.PASS,
        "predicted on input_example.json: a list of 2 items",
    )
    assert report.runtime is not None and report.runtime.entry_point == "score.py"
    assert report.python is not None and report.python.startswith("Python 3.")
    assert report.input_schema is not None and report.input_schema["items"]["maxItems"] == 4
    assert report.output_schema is not None and report.output_schema["items"] == {"type": "integer"}
    assert report.message == "12 pass, 5 skip"


def test_a_predict_that_sleeps_forever(tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    bundle = plain_bundle(
        tmp_path / "b",
        f"""\
        import subprocess
        proc = subprocess.Popen(["sleep", "3600"])
        open({str(child)!r}, "w").write(str(proc.pid))
        time.sleep(3600)
        """,
    )
    watch = Watch()
    start = time.monotonic()

    report = watch.run(bundle=bundle, timeout=4)

    elapsed = time.monotonic() - start
    assert 4 <= elapsed < 10
    status, message = by_id(report)["predict.example"]
    assert status == FAIL
    assert message.startswith("did not finish within 4 s (the check run's time limit); look for")
    assert by_id(report)["predict.output_schema"] == (
        SKIP,
        "not run: the worker stopped at predict.example",
    )
    assert by_id(report)["model.loads"][0] == CheckStatus.PASS
    assert report.state == CheckState.FAILED
    assert report.message is not None and "stopped after 4 s while predict.example ran" in (
        report.message
    )
    assert watch.longest_gap < 0.5  # the caller stayed responsive throughout
    assert gone(int(child.read_text()))  # the model's own subprocess went with the worker


def test_a_predict_that_allocates_without_bound(tmp_path: Path) -> None:
    bundle = plain_bundle(
        tmp_path,
        """\
        blocks = []
        while True:
            blocks.append(bytearray(16 << 20))
        """,
    )
    watch = Watch()

    report = watch.run(bundle=bundle, timeout=60, memory_mb=256)

    status, message = by_id(report)["predict.example"]
    assert status == FAIL
    assert message.startswith(
        "predicting on input_example.json failed: exceeded the memory limit of 256 MiB: "
        "MemoryError (score.py line 12, in predict); give it more memory (--memory-mb)"
    )
    assert by_id(report)["model.loads"][0] == CheckStatus.PASS
    assert watch.peak_growth_mb < 50  # the 256 MiB were the worker's, not the caller's


def test_a_model_that_kills_its_worker(tmp_path: Path) -> None:
    bundle = plain_bundle(tmp_path, "os.kill(os.getpid(), 11)")

    report = check_bundle(bundle, timeout=60)

    status, message = by_id(report)["predict.example"]
    assert status == FAIL
    assert message.startswith("the worker died of SIGSEGV")
    assert by_id(report)["predict.output_schema"][1] == (
        "not run: the worker stopped at predict.example"
    )
    assert report.message is not None and "the worker died while predict.example ran" in (
        report.message
    )


def test_a_load_model_that_exits(tmp_path: Path) -> None:
    bundle = plain_bundle(tmp_path, "return data", load="sys.exit('no GPU here')")

    status, message = by_id(check_bundle(bundle, timeout=60))["model.loads"]

    assert status == FAIL
    assert message.startswith(
        "loading the model with score.py's load_model() failed: SystemExit: no GPU here "
        "(score.py line 6, in load_model)"
    )


def test_a_worker_that_cannot_start_is_an_error_not_an_exception(tmp_path: Path) -> None:
    bundle = plain_bundle(tmp_path, "return data")

    report = check_bundle(bundle, python=str(tmp_path / "no-such-python"))

    assert report.state == CheckState.ERROR
    assert report.message is not None
    assert report.message.startswith("the check worker could not start")


def test_the_report_round_trips_as_json(tmp_path: Path) -> None:
    bundle = plain_bundle(tmp_path, "return [sum(row) for row in data]")

    report = check_bundle(bundle, timeout=60)

    again = CheckReport.model_validate(json.loads(report.model_dump_json()))
    assert again == report
    assert again.state == CheckState.PASSED
    assert again.output_schema == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "array",
        "items": {"type": "integer"},
    }


CHECK_AND_LEAVE = """
import subprocess, sys
from modelyard.runtime.sandbox import worker_env
request = sys.argv[1].encode()
worker = subprocess.Popen(
    [sys.executable, "-P", "-m", "modelyard.runtime.sandbox", "--memory-mb", "1024"],
    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    start_new_session=True, env=worker_env(),
)
worker.stdin.write(request)
worker.stdin.close()
print(worker.pid)
"""


def test_a_check_worker_exits_when_the_process_that_started_it_dies(tmp_path: Path) -> None:
    """A server killed mid-check (SIGKILL) must not leave a hanging model running."""
    bundle = plain_bundle(tmp_path / "b", "time.sleep(3600)")
    request = {
        "bundle": str(bundle),
        "spec": None,
        "sha256": {},
        "input_schema": None,
        "output_schema": None,
    }
    parent = subprocess.run(
        [sys.executable, "-c", CHECK_AND_LEAVE, json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pid = int(parent.stdout)
    try:
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone(pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
