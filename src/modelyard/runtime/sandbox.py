"""Run the checks in a separate process, with a timeout and a memory limit.

:func:`check_bundle` starts ``python -P -m modelyard.runtime.sandbox --memory-mb N`` (the
worker) and reads its results as they come; model code never runs in the caller's process.

- **Memory**: the worker's first act is ``setrlimit(RLIMIT_DATA, N MiB)``: an allocation past
  the limit fails (``MemoryError`` in Python, "can't allocate memory" in torch, ``bad_alloc``
  in C++) and the check that made it FAILs with "exceeded the memory limit of N MiB".
  ``RLIMIT_DATA`` (Linux 4.7 and later) counts the heap and every private writable mapping,
  so thread stacks (8 MiB each, reserved) count but shared libraries and reserved-only
  address space do not. ``RLIMIT_AS`` proved too blunt: measured with torch 2.13, onnxruntime
  1.31 and Keras 3 imported and predicting under 4096 MiB, a model could still allocate 3504
  MiB under ``RLIMIT_DATA`` but only 2320 MiB under ``RLIMIT_AS`` with 2-thread pools, and
  1968 against 464 MiB with 64-thread pools (194 threads, as on a 64-core machine).
  ``RLIMIT_AS`` is the fallback where ``RLIMIT_DATA`` cannot be set. Subprocesses the model
  starts inherit the limit (each its own).
- **Time**: the caller waits ``timeout`` seconds in all; then it kills the worker's process
  group (the model's own subprocesses too). The check that was running FAILs with "did not
  finish within N s", and those after it SKIP.
- **Output**: the worker writes one JSON line per finished check on its stdout; the model's
  own prints (Python's and C libraries', fd 1) go to its stderr, whose last lines are kept for
  a message when the worker dies.
- **Environment**: when the bundle's requirements are not installed here and the caller gives
  ``environments`` (a cache directory), an environment is built once with uv
  (:mod:`modelyard.runtime.environments`) and the worker runs in it
  (``requirements.environment``). Building is not counted in ``timeout``.

:func:`check_bundle` never raises for a fault of the model's: everything ends up in the
report (state ERROR when the worker could not run at all).
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import queue
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from modelyard.domain.runtime import (
    CheckReport,
    CheckResult,
    CheckState,
    CheckStatus,
    RuntimeSpec,
)
from modelyard.errors import RegistryError

_STDERR_TAIL = 4000
_EOF = object()


def check_bundle(
    bundle: Path,
    spec: RuntimeSpec | None = None,
    *,
    sha256: Mapping[str, str] | None = None,
    input_schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    timeout: float = 120,
    memory_mb: int = 4096,
    python: str | None = None,
    environments: Path | None = None,
) -> CheckReport:
    """Check the bundle directory ``bundle`` in a worker process and report.

    ``spec``: the runtime spec to check (None: detected from the files); ``sha256``: relative
    path -> digest the registry holds; the schemas: the version's (None: the bundle's files);
    ``timeout``: seconds the worker may take; ``memory_mb``: its memory limit (see above);
    ``python``: the interpreter to run it (default: this one, or the environment built under
    ``environments`` when the requirements are not installed here).
    """
    from modelyard.runtime.ads import ads_results
    from modelyard.runtime.checks import CHECKS

    started = datetime.now(UTC)
    environment = None
    if python is None:
        environment, python = _environment(bundle, spec, environments)
    request = {
        "bundle": str(bundle.resolve()),
        "spec": spec.model_dump(mode="json") if spec else None,
        "sha256": dict(sha256 or {}),
        "input_schema": input_schema,
        "output_schema": output_schema,
    }
    outcome = _Worker(python, memory_mb, timeout).run(bundle, request)
    results: list[CheckResult] = []
    stopped_at = None
    for check in CHECKS:
        if check.sandbox:
            results.append(environment or _skipped(check.id, "the caller chose the interpreter"))
        elif check.id in outcome.results:
            results.append(outcome.results[check.id])
        elif stopped_at is None:
            stopped_at = check.id
            results.append(_fail(check.id, outcome.why(timeout, memory_mb, bundle)))
        else:
            results.append(_skipped(check.id, f"not run: the worker stopped at {stopped_at}"))
    # ADS's introspection tests, under their own keys (read from the files, never run)
    results += ads_results(bundle, {r.id: r for r in results})
    finished = datetime.now(UTC)
    if not outcome.results and outcome.error:
        return CheckReport(
            state=CheckState.ERROR,
            message=outcome.error,
            runtime=spec,
            started_at=started,
            finished_at=finished,
        )
    state = CheckReport.state_of(results)
    return CheckReport(
        state=state,
        results=results,
        message=_summary(results, stopped_at, outcome, timeout),
        runtime=outcome.runtime or spec,
        python=outcome.python,
        input_schema=outcome.schemas.get("input_schema"),
        output_schema=outcome.schemas.get("output_schema"),
        started_at=started,
        finished_at=finished,
    )


# -- the caller's side ------------------------------------------------------------------------


class _Outcome:
    """What the worker reported, and how it ended."""

    def __init__(self) -> None:
        self.results: dict[str, CheckResult] = {}
        self.runtime: RuntimeSpec | None = None
        self.python: str | None = None
        self.schemas: dict[str, dict[str, Any]] = {}
        self.timed_out = False
        self.returncode: int | None = None
        self.stderr = ""
        #: Set when the worker could not run at all.
        self.error: str | None = None

    def why(self, timeout: float, memory_mb: int, bundle: Path) -> str:
        """Why the check that was running when the worker stopped did not finish."""
        if self.timed_out:
            return (
                f"did not finish within {timeout:g} s (the check run's time limit); look for "
                "an endless loop or a call that blocks, or allow more time (--timeout)"
            )
        said = self._last_words(bundle)
        lowered = self.stderr.lower()
        if any(sign in lowered for sign in _MEMORY_SIGNS):
            return (
                f"exceeded the memory limit of {memory_mb} MiB: the worker died when an "
                f"allocation failed{said}; give it more memory (--memory-mb) or use less"
            )
        code = self.returncode
        if code == -signal.SIGKILL:
            return (
                "the worker was killed (SIGKILL) from outside: the system may have run out of "
                f"memory; give it a memory limit it can have (--memory-mb){said}"
            )
        if code is not None and code < 0:
            return (
                f"the worker died of {signal.Signals(-code).name}, a crash in native code (a "
                f"compiled package, or a signal the model sent){said}; run the same code "
                "outside modelyard to find it"
            )
        return f"the worker exited with status {code} before finishing{said}"

    def _last_words(self, bundle: Path) -> str:
        """Where in the bundle's code the worker died (the innermost frame of faulthandler's
        dump), else the last lines it wrote on stderr."""
        root = bundle.resolve()
        for match in _FRAME.finditer(self.stderr):
            path = Path(match["file"])
            if path.is_relative_to(root):
                where = path.relative_to(root).as_posix()
                return f" in {where} line {match['line']}, in {match['function']}"
        lines = [
            line.strip()
            for line in self.stderr.splitlines()
            if line.strip() and not line.startswith("Extension modules")
        ]
        return f"; its last words: {' | '.join(lines[-3:])}" if lines else ""


#: A frame of faulthandler's dump, innermost first: '  File "/b/score.py", line 9 in predict'.
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)', re.M)
_MEMORY_SIGNS = (
    "memoryerror",
    "bad_alloc",
    "cannot allocate memory",
    "can't allocate memory",
    "out of memory",
    "memory allocation of",
)


class _Worker:
    def __init__(self, python: str, memory_mb: int, timeout: float) -> None:
        self.command = [python, "-P", "-m", "modelyard.runtime.sandbox"]
        self.command += ["--memory-mb", str(memory_mb)]
        self.timeout = timeout

    def run(self, bundle: Path, request: dict[str, Any]) -> _Outcome:
        outcome = _Outcome()
        env = worker_env()
        try:
            process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=bundle,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            outcome.error = f"the check worker could not start ({self.command[0]}): {exc}"
            return outcome
        lines: queue.Queue[Any] = queue.Queue()
        stderr: deque[str] = deque()
        readers = [
            threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True),
            threading.Thread(target=_read_tail, args=(process.stderr, stderr), daemon=True),
        ]
        for reader in readers:
            reader.start()
        writer = threading.Thread(
            target=_write_request, args=(process.stdin, json.dumps(request).encode()), daemon=True
        )
        writer.start()
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    outcome.timed_out = True
                    break
                if line is _EOF:
                    break
                _take(outcome, line)
        finally:
            _kill_group(process)
            outcome.returncode = process.wait()
            for reader, stream in zip(readers, (process.stdout, process.stderr), strict=True):
                reader.join(timeout=5)
                if stream is not None and not reader.is_alive():
                    # else a process that left the group still holds the pipe: leave it be
                    stream.close()
        outcome.stderr = "".join(stderr)[-_STDERR_TAIL:]
        if not outcome.results and not outcome.timed_out:
            outcome.error = (
                f"the check worker ({' '.join(self.command)}) ended (status "
                f"{outcome.returncode}) without reporting: {outcome.stderr.strip()[-1000:]}"
            )
        return outcome


def _take(outcome: _Outcome, line: bytes) -> None:
    try:
        message = json.loads(line)
    except ValueError:
        return
    if not isinstance(message, dict):
        return
    if "result" in message:
        result = CheckResult.model_validate(message["result"])
        outcome.results[result.id] = result
    elif "runtime" in message:
        outcome.runtime = RuntimeSpec.model_validate(message["runtime"])
    elif "python" in message:
        outcome.python = str(message["python"])
    elif "schema" in message:
        outcome.schemas[message["schema"]] = message["value"]


def _write_request(stream: IO[bytes], request: bytes) -> None:
    try:
        with contextlib.suppress(OSError):  # the worker died before reading it all
            stream.write(request)
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def _read_lines(stream: IO[bytes], lines: queue.Queue[Any]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(_EOF)


def _read_tail(stream: IO[bytes], tail: deque[str]) -> None:
    size = 0
    for chunk in iter(lambda: stream.read1(8192), b""):  # type: ignore[attr-defined]
        text = chunk.decode("utf-8", "replace")
        tail.append(text)
        size += len(text)
        while size > 2 * _STDERR_TAIL and len(tail) > 1:
            size -= len(tail.popleft())


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the worker and every process it started (its session's group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _environment(
    bundle: Path, spec: RuntimeSpec | None, environments: Path | None
) -> tuple[CheckResult, str]:
    """``requirements.environment``'s result and the interpreter the worker runs on."""
    from packaging.requirements import InvalidRequirement, Requirement

    from modelyard.runtime.detect import completed, detect
    from modelyard.runtime.environments import ensure_environment
    from modelyard.runtime.requirements import unsatisfied

    here = sys.executable
    if spec is None:
        try:
            spec = detect(bundle)
        except Exception:  # a bundle detection cannot read: runtime.spec says why
            return _skipped("requirements.environment", "no runtime spec (see runtime.spec)"), here
    else:
        spec = completed(spec, bundle)
    try:
        requirements = [Requirement(r) for r in spec.requirements]
    except InvalidRequirement:
        return _skipped("requirements.environment", "see requirements.parse"), here
    missing = unsatisfied(requirements)
    if not missing:
        return _skipped(
            "requirements.environment", "not needed: every requirement is installed"
        ), here
    if environments is None:
        return _skipped(
            "requirements.environment",
            f"not built: {', '.join(missing)} not installed here, and no environment cache "
            "was given (modelyard verify --env-dir DIR builds one)",
        ), here
    start = time.monotonic()
    try:
        python = ensure_environment(spec.requirements, spec.python_version, environments)
    except RegistryError as exc:
        return _fail("requirements.environment", exc.message), here
    took = time.monotonic() - start
    result = CheckResult(
        id="requirements.environment",
        status=CheckStatus.PASS,
        message=f"the checks ran in {python.parent.parent} (with {', '.join(missing)}; ready in "
        f"{took:.1f} s)",
        duration_ms=round(took * 1000),
    )
    return result, str(python)


def _fail(check: str, message: str) -> CheckResult:
    return CheckResult(id=check, status=CheckStatus.FAIL, message=message)


def _skipped(check: str, message: str) -> CheckResult:
    return CheckResult(id=check, status=CheckStatus.SKIP, message=message)


def _summary(
    results: list[CheckResult], stopped_at: str | None, outcome: _Outcome, timeout: float
) -> str:
    counts = {s: sum(r.status == s for r in results) for s in CheckStatus}
    text = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
    failed = [r.id for r in results if r.status == CheckStatus.FAIL]
    if failed:
        text += f"; failed: {', '.join(failed)}"
    if stopped_at and outcome.timed_out:
        text += f"; stopped after {timeout:g} s while {stopped_at} ran"
    elif stopped_at:
        text += f"; the worker died while {stopped_at} ran"
    return text


# -- the worker's side ------------------------------------------------------------------------


def limit_memory(memory_mb: int) -> None:
    """Limit the worker's data (heap and private writable mappings) to ``memory_mb`` MiB, or
    its address space where that cannot be set (see the module's doc). No core dumps."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for kind in (resource.RLIMIT_DATA, resource.RLIMIT_AS):
        _, hard = resource.getrlimit(kind)
        limit = memory_mb << 20
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        try:
            resource.setrlimit(kind, (limit, hard))
        except (ValueError, OSError):
            continue
        return


#: Set by whoever starts a worker to its own pid (:func:`worker_env`), so that a worker whose
#: starter died before the worker got going knows it at once.
PARENT_PID = "MODELYARD_PARENT_PID"


def worker_env() -> dict[str, str]:
    """The environment a worker process (check or serving) is started with."""
    return {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        PARENT_PID: str(os.getpid()),
    }


def exit_with_parent(poll: float = 0.5) -> None:
    """Exit (status 1) once the process that started this worker has died, so a server that
    was killed leaves no worker behind: a daemon thread compares the parent pid with the one
    the starter gave (:data:`PARENT_PID`; else the parent at the time of this call)."""
    parent = int(os.environ.get(PARENT_PID) or os.getppid())

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        print("modelyard worker: the parent process ended; exiting", file=sys.stderr)
        sys.stderr.flush()
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _results_channel() -> IO[str]:
    """The worker's stdout, for results only: fd 1 then points at stderr, so what the model
    prints (from Python or C) cannot be taken for a result; stdin is emptied."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return channel


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m modelyard.runtime.sandbox")
    parser.add_argument("--memory-mb", type=int, required=True)
    args = parser.parse_args(argv)
    limit_memory(args.memory_mb)
    exit_with_parent()
    faulthandler.enable()  # a crash in native code leaves the Python stack on stderr
    request = json.loads(sys.stdin.buffer.read())
    channel = _results_channel()

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    from modelyard.runtime.checks import run_checks

    send({"python": f"Python {sys.version.split()[0]} ({sys.executable})"})
    run = run_checks(
        Path(request["bundle"]),
        RuntimeSpec.model_validate(request["spec"]) if request["spec"] else None,
        sha256=request["sha256"],
        input_schema=request["input_schema"],
        output_schema=request["output_schema"],
        memory_mb=args.memory_mb,
    )
    sent: set[str] = set()
    for result in run:
        send({"result": result.model_dump(mode="json")})
        if run.spec is not None and "runtime" not in sent:
            send({"runtime": run.spec.model_dump(mode="json")})
            sent.add("runtime")
        for key in ("input_schema", "output_schema"):
            value = getattr(run, key)
            if value is not None and key not in sent:
                send({"schema": key, "value": value})
                sent.add(key)
    channel.close()
    sys.stderr.flush()
    os._exit(0)  # threads the model started must not keep the worker alive


if __name__ == "__main__":
    main()
