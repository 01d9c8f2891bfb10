"""Helpers shared by the benchmarks: ports, spawning servers, RSS, model names, statistics.

Standard library only, so the MLflow driver (which runs in its own venv) can import it too.
"""

from __future__ import annotations

import math
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
MIB = 1024 * 1024

# -- model names -------------------------------------------------------------------------------
# Name i is "<org>-<family>-<nnnnn>": 16 orgs (distinct first letters) x 20 families, with a
# 5-digit counter per (org, family). Prefixes of a name then match thousands (one letter, "org-"),
# hundreds ("org-family-"), up to 100 / 10 ("org-family-000", "org-family-0001"), one (the full
# name) or no model at all.
ORGS = [
    "acme",
    "bolt",
    "cedar",
    "delta",
    "ember",
    "flux",
    "gamma",
    "helio",
    "iris",
    "jade",
    "kilo",
    "lumen",
    "mesa",
    "nova",
    "orbit",
    "prism",
]
FAMILIES = [
    "bert",
    "gpt",
    "llama",
    "t5",
    "vit",
    "resnet",
    "whisper",
    "clip",
    "sam",
    "yolo",
    "mistral",
    "phi",
    "gemma",
    "qwen",
    "falcon",
    "bloom",
    "opt",
    "xlnet",
    "electra",
    "deberta",
]
_GROUPS = len(ORGS) * len(FAMILIES)


def model_name(i: int) -> str:
    org = ORGS[i % len(ORGS)]
    family = FAMILIES[(i // len(ORGS)) % len(FAMILIES)]
    return f"{org}-{family}-{i // _GROUPS:05d}"


PREFIX_KINDS = (
    "letter",
    "org",
    "org-family",
    "3-digits",
    "4-digits",
    "full",
    "none",
)


def search_prefixes(total: int, n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` (kind, prefix) pairs drawn round-robin over PREFIX_KINDS from models 0..total-1."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for k in range(n):
        kind = PREFIX_KINDS[k % len(PREFIX_KINDS)]
        name = model_name(rng.randrange(total))
        org, family, num = name.split("-")
        prefix = {
            "letter": name[0],
            "org": f"{org}-",
            "org-family": f"{org}-{family}-",
            "3-digits": f"{org}-{family}-{num[:3]}",
            "4-digits": f"{org}-{family}-{num[:4]}",
            "full": name,
            "none": f"{org}-{family}-x",
        }[kind]
        out.append((kind, prefix))
    return out


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        for task in task_dir.iterdir():
            text = (task / "children").read_text().split()
            kids.extend(int(c) for c in text)
    except OSError:
        pass
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/<pid>/task/*/children)."""
    seen: list[int] = []
    todo = [pid]
    while todo and len(seen) < 1000:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(_children(p))
    return seen


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (VmRSS from /proc/<pid>/status), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def tree_rss_bytes(pid: int) -> tuple[int, int]:
    """(summed RSS of ``pid`` and its descendants, number of processes)."""
    pids = process_tree(pid)
    return sum(rss_bytes(p) for p in pids), len(pids)


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    start_s: float  # spawn -> first 200 from the health endpoint
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group (it was started in its own session), then KILL."""
        if self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(5)


def spawn_server(
    name: str,
    argv: Sequence[str],
    health_url: str,
    base_url: str,
    env: dict[str, str],
    log: Path,
    timeout: float = 120.0,
) -> Server:
    """Spawn ``argv`` in a new session and poll ``health_url`` every 10 ms until it answers 200.

    The start time runs from just before the spawn to the first 200.
    """
    logf = open(log, "wb")  # noqa: SIM115 - kept open for the server's lifetime
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(health_url, timeout=1) as r:
                if r.status == 200:
                    return Server(name, proc, base_url, time.perf_counter() - t0, log)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.01)
    server = Server(name, proc, base_url, float("nan"), log)
    server.stop()
    raise RuntimeError(f"{name} did not answer {health_url} within {timeout}s; see {log}")


def idle_rss(pid: int, settle_s: float = 2.0) -> tuple[int, int]:
    """Tree RSS after ``settle_s`` of idleness: (bytes, process count)."""
    time.sleep(settle_s)
    return tree_rss_bytes(pid)


# -- statistics --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


class PrefixIndex:
    """How many of models 0..total-1 start with a prefix (to check what a search returned)."""

    def __init__(self, total: int) -> None:
        self.names = sorted(model_name(i) for i in range(total))

    def count(self, prefix: str) -> int:
        import bisect

        lo = bisect.bisect_left(self.names, prefix)
        hi = bisect.bisect_left(self.names, prefix + "\U0010ffff")
        return hi - lo


# -- transfer measurements (storage_throughput.py and its MLflow driver) ------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (utime + stime from /proc/<pid>/stat), 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants."""
    return sum(cpu_seconds(p) for p in process_tree(pid))


def self_cpu_seconds() -> float:
    """CPU seconds of this process, all threads."""
    t = os.times()
    return t.user + t.system


class TreeRssSampler:
    """Samples the summed RSS of a process tree every ``interval`` s on a thread (``with``)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import threading

        self.pid = pid
        self.interval = interval
        self.base = tree_rss_bytes(pid)[0]
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(tree_rss_bytes(self.pid)[0])
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def peak(self) -> int:
        return max(self.samples, default=self.base)

    @property
    def growth(self) -> int:
        return self.peak - self.base


def measure(
    pids: dict[str, int], fn: Callable[[], object], interval: float = 0.05
) -> dict[str, float]:
    """Run ``fn()`` while sampling the RSS of each named process tree; wall and CPU seconds.

    Returns seconds, client_cpu (this process), and per name: <name>_base, <name>_peak,
    <name>_growth (bytes), <name>_cpu (seconds of the tree's CPU during the call).
    """
    samplers = {name: TreeRssSampler(pid, interval) for name, pid in pids.items()}
    cpu0 = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    for s in samplers.values():
        s.__enter__()
    try:
        c0 = self_cpu_seconds()
        t0 = time.perf_counter()
        fn()
        took = time.perf_counter() - t0
        client_cpu = self_cpu_seconds() - c0
        time.sleep(interval * 2)
    finally:
        for s in samplers.values():
            s.__exit__()
    out: dict[str, float] = {"seconds": took, "client_cpu": client_cpu}
    for name, s in samplers.items():
        out[f"{name}_base"] = s.base
        out[f"{name}_peak"] = s.peak
        out[f"{name}_growth"] = s.growth
        out[f"{name}_cpu"] = tree_cpu_seconds(pids[name]) - cpu0[name]
    return out
