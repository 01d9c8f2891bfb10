"""Serving speed: modelyard's predictions vs a bare ASGI app, a minimal Starlette app, MLflow
and BentoML, in one run, on the same scikit-learn iris model, with wrk on 127.0.0.1.

Every target gets single-row predictions from ``wrk -t --threads -c --connections --latency``
(a Lua script sets the POST body and headers), --warmup seconds untimed, then --duration
seconds measured; one server at a time, so they never share the CPU with each other:

1. bare ASGI: a raw ASGI callable under uvicorn that answers a constant JSON (the floor);
2. minimal Starlette: parse the JSON body, ``model.predict`` in-process (uvicorn, one process,
   run as ``modelyard server`` runs it);
3. MLflow: ``mlflow models serve --env-manager local`` (as shipped: one uvicorn worker),
   ``POST /invocations`` with ``{"inputs": [[...]]}``;
4. BentoML: ``bentoml serve`` of a minimal ``@bentoml.service`` (_bentoml_service.py), from its
   own venv (made once under ~/.cache/modelyard-benchmarks/bentoml);
5. modelyard: ``modelyard server`` on a fresh home, the version registered and checked through
   the SDK, deployed with one replica, batching off (max_batch_size 1) and then each of
   --batch-configs; ``POST /api/v1/deployments/{id}/predict`` with ``{"data": [[...]]}``;
6. modelyard, batch-friendly models: TorchScript MLPs (each --mlp-sizes, random weights),
   batching off vs on. The default two: a small one whose single-row call (~40 us) costs less
   than the HTTP request around it, and a larger one whose call (~2 ms) costs more;
7. deploy to first prediction: seconds from the deploy call to the first 200 of a predict
   polled every 10 ms (the first deploy of a version copies its files; later ones do not).

For each: req/s, p50, p99, errors (non-2xx/3xx answers and socket errors), the server's CPU
per request (its whole process tree: for modelyard, the API server and the model's worker),
and the ratios; then the goals, PASS/MISS. With --profile auto, a modelyard phase that misses
its goal is run again for --profile-seconds under py-spy (API server and worker) and the
hottest frames are printed (not part of the numbers).

    .venv/bin/python benchmarks/serving_speed.py                       # all, ~6 min
    .venv/bin/python benchmarks/serving_speed.py --duration 3 --warmup 1 --skip-mlflow \\
        --skip-bentoml --skip-torch                                     # quick

Every process it starts is stopped by PID (its process group and its process tree), even on
failure, and the temp dir is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    Server,
    cpu_seconds,
    free_port,
    process_tree,
    spawn_server,
    tree_cpu_seconds,
)

BIN = Path(sys.executable).parent
BENTOML_VENV = Path.home() / ".cache" / "modelyard-benchmarks" / "bentoml"
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]

# Goals (issue 5)
GOAL_VS_MLFLOW = 3.0  # modelyard unbatched req/s >= 3x MLflow's
GOAL_VS_MINIMAL = 0.75  # modelyard unbatched req/s >= 0.75x minimal Starlette's
GOAL_P99_VS_MINIMAL = 2.0  # modelyard unbatched p99 <= 2x minimal Starlette's
GOAL_BATCHED_VS_MINIMAL = 1.0  # modelyard batched req/s >= 1.0x minimal Starlette's
GOAL_MLP_BATCHED = 3.0  # torch MLP batched req/s >= 3x unbatched


def log(msg: str) -> None:
    print(msg, flush=True)


# -- processes ------------------------------------------------------------------------------


class Servers:
    """Every server this run started; ``stop_all`` (in a finally) stops what is left."""

    def __init__(self) -> None:
        self.live: list[Server] = []

    def start(self, server: Server) -> Server:
        self.live.append(server)
        return server

    def stop(self, server: Server) -> None:
        """SIGTERM the server's process group, then anything left of its process tree (a
        modelyard worker or a BentoML worker runs in a session of its own), by PID."""
        tree = process_tree(server.pid)
        try:
            server.stop()
        finally:
            _stop_pids([p for p in tree if p != server.pid])
            if server in self.live:
                self.live.remove(server)

    def stop_all(self) -> None:
        for server in list(self.live):
            with contextlib.suppress(Exception):
                self.stop(server)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop_pids(pids: list[int], grace: float = 10.0) -> None:
    left = [p for p in pids if _alive(p)]
    for p in left:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    for p in left:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def pytest_running() -> list[int]:
    """PIDs of pytest runs on this machine (``pytest ...``, ``python -m pytest ...``)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        argv = cmdline(int(d.name))[:4]
        names = [Path(a).name for a in argv]
        if any(n in ("pytest", "py.test") for n in names[:2]) or (
            "-m" in argv and argv[argv.index("-m") + 1 :][:1] == ["pytest"]
        ):
            found.append(int(d.name))
    return found


def wait_for_quiet(args: argparse.Namespace) -> float:
    """With --wait-idle: wait (polling every 30 s, up to --wait-max-min) until no pytest
    runs; the seconds waited."""
    if not args.wait_idle:
        return 0.0
    t0 = time.monotonic()
    deadline = t0 + args.wait_max_min * 60
    while (pids := pytest_running()) and time.monotonic() < deadline:
        log(f"[waiting: pytest is running (pids {pids[:5]}); next look in 30 s]")
        time.sleep(30)
    if pytest_running():
        log(f"[still a pytest after {args.wait_max_min} min: measuring anyway]")
    return time.monotonic() - t0


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    v = [int(x) / tick for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return user + nice + system + irq + softirq, steal


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- wrk ------------------------------------------------------------------------------------

_LUA = """-- written by serving_speed.py
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"connect\\": %d, \\"read\\": %d, "
    .. "\\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"mean_us\\": %.1f, "
    .. "\\"max_us\\": %d, \\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, "
    .. "\\"p999_us\\": %d}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


def lua_script(path: Path, body: str, headers: dict[str, str]) -> Path:
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    path.write_text(_LUA.format(body=body, headers=lines))
    return path


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    """wrk's --latency text report, and the JSON line of the script's done()."""
    res: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["text_rps"] = float(m.group(1)) if m else float("nan")
    res["text_pct_ms"] = {
        int(p): _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)
    }
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["text_socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["text_non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"^WRK_JSON (\{.*\})$", out, re.M)
    if m:
        j = json.loads(m.group(1))
        res["requests"] = j["requests"]
        res["seconds"] = j["duration_us"] / 1e6
        res["rps"] = j["requests"] / res["seconds"]
        res["p50_ms"] = j["p50_us"] / 1e3
        res["p90_ms"] = j["p90_us"] / 1e3
        res["p99_ms"] = j["p99_us"] / 1e3
        res["p999_ms"] = j["p999_us"] / 1e3
        res["max_ms"] = j["max_us"] / 1e3
        res["socket_errors"] = j["connect"] + j["read"] + j["write"] + j["timeout"]
        res["non2xx"] = j["status"]
    else:  # the text alone
        res["rps"] = res["text_rps"]
        res["p50_ms"] = res["text_pct_ms"].get(50, float("nan"))
        res["p99_ms"] = res["text_pct_ms"].get(99, float("nan"))
        res["socket_errors"] = res["text_socket_errors"]
        res["non2xx"] = res["text_non2xx"]
        m = re.search(r"(\d+) requests in", out)
        res["requests"] = int(m.group(1)) if m else 0
    res["errors"] = res["socket_errors"] + res["non2xx"]
    return res


def run_wrk(args: argparse.Namespace, url: str, script: Path, seconds: float) -> dict[str, Any]:
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s"]
    argv += ["--latency", "--timeout", f"{args.wrk_timeout:g}s", "-s", str(script), url]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    res = parse_wrk(done.stdout)
    res["wrk_cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    res["raw"] = done.stdout
    return res


# -- one target -----------------------------------------------------------------------------


@dataclass
class Target:
    label: str
    url: str  # the full predict URL
    body: str  # the JSON body of one single-row prediction
    headers: dict[str, str]
    expect: Callable[[Any], bool]  # checks the decoded answer of one request
    pids: list[int] = field(default_factory=list)  # process tree roots whose CPU is counted


def post(url: str, body: str, headers: dict[str, str], timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def measure(args: argparse.Namespace, work: Path, t: Target) -> dict[str, Any]:
    """One request checked, --warmup s of wrk, then --duration s measured."""
    status, raw = post(t.url, t.body, t.headers)
    if status != 200 or not t.expect(json.loads(raw)):
        raise RuntimeError(f"{t.label}: the check request got {status}: {raw[:500]!r}")
    script = lua_script(
        work / f"wrk-{re.sub(r'[^a-z0-9]+', '-', t.label.lower())}.lua", t.body, t.headers
    )
    waited = wait_for_quiet(args)
    if args.warmup > 0:
        run_wrk(args, t.url, script, args.warmup)
    busy_before = pytest_running()
    load0 = loadavg()
    cpu0 = sum(tree_cpu_seconds(p) for p in t.pids)
    root0 = sum(cpu_seconds(p) for p in t.pids)
    busy0, steal0 = machine_cpu()
    res = run_wrk(args, t.url, script, args.duration)
    cpu = sum(tree_cpu_seconds(p) for p in t.pids) - cpu0
    root = sum(cpu_seconds(p) for p in t.pids) - root0
    busy1, steal1 = machine_cpu()
    res.update(
        label=t.label,
        server_cpu=cpu,
        server_cpu_ms_per_req=cpu / max(1, res["requests"]) * 1000,
        server_cores=cpu / res["seconds"],
        # the server's own process (modelyard: the API server) and the rest of its tree
        # (modelyard: the model's worker)
        root_cpu_ms_per_req=root / max(1, res["requests"]) * 1000,
        root_cores=root / res["seconds"],
        rest_cpu_ms_per_req=(cpu - root) / max(1, res["requests"]) * 1000,
        rest_cores=(cpu - root) / res["seconds"],
        wrk_cores=res["wrk_cpu"] / res["seconds"],
        # the rest of the machine: other sessions' processes (and this one, idle meanwhile)
        other_cores=max(0.0, busy1 - busy0 - cpu - res["wrk_cpu"]) / res["seconds"],
        steal_cores=(steal1 - steal0) / res["seconds"],
        answer=json.loads(raw),
        waited_s=waited,
        pytest_during=sorted(set(busy_before) | set(pytest_running())),
        load=f"{load0} -> {loadavg()}",
    )
    log(
        f"[{t.label}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.2f} ms, p99 "
        f"{res['p99_ms']:.2f} ms, errors {res['errors']}, server {res['server_cores']:.2f} cores"
        f", wrk {res['wrk_cores']:.2f}, others {res['other_cores']:.2f}, steal "
        f"{res['steal_cores']:.2f}, load {res['load']}"
        + (f", PYTEST RUNNING {res['pytest_during']}" if res["pytest_during"] else "")
        + "]"
    )
    return res


# -- the models -----------------------------------------------------------------------------


@dataclass
class Mlp:
    name: str  # "MLP 64-512-512-10"
    bundle: Path  # modelyard bundle: model.pt (TorchScript) + input_example.json
    row: list[float]
    outputs: int


@dataclass
class Models:
    joblib: Path  # the iris estimator (minimal Starlette, BentoML)
    iris_bundle: Path  # modelyard bundle: model.skops + input_example.json
    mlflow: Path | None  # mlflow.sklearn.save_model directory
    iris_answer: list[Any]  # model.predict([IRIS_ROW]) in this process
    sklearn_version: str
    mlps: list[Mlp] = field(default_factory=list)
    #: in-process seconds of one model call: {"sklearn": (1 row, --inproc-rows rows), ...}
    inproc: dict[str, tuple[float, float]] = field(default_factory=dict)


def make_models(args: argparse.Namespace, work: Path) -> Models:
    import joblib
    import numpy as np
    import sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from modelyard.runtime.flavors.sklearn import SklearnFlavor

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    answer = model.predict(np.array([IRIS_ROW])).tolist()
    path = work / "iris.joblib"
    joblib.dump(model, path)
    bundle = work / "iris-bundle"
    SklearnFlavor(format="skops").save(model, bundle)
    (bundle / "input_example.json").write_text(json.dumps([IRIS_ROW, x[100].tolist()]))
    ml_dir = None
    if not args.skip_mlflow:
        import mlflow.sklearn

        ml_dir = work / "mlflow-iris"
        # pinned here: else MLflow infers them by importing what this process has (torch...)
        reqs = [f"scikit-learn=={sklearn.__version__}"]
        mlflow.sklearn.save_model(model, str(ml_dir), pip_requirements=reqs)
    models = Models(path, bundle, ml_dir, answer, sklearn.__version__)
    if not args.skip_torch:
        models.mlps = [make_mlp(sizes, work) for sizes in mlp_sizes(args)]
    n = args.inproc_rows
    rows = np.array([IRIS_ROW] * n)
    models.inproc["sklearn"] = (
        call_seconds(lambda: model.predict(rows[:1])),
        call_seconds(lambda: model.predict(rows)),
    )
    for mlp in models.mlps:
        import torch

        net = torch.jit.load(str(mlp.bundle / "model.pt"))
        x = torch.tensor([mlp.row] * n)
        with torch.inference_mode():
            models.inproc[mlp.name] = (
                call_seconds(lambda: net(x[:1])),  # noqa: B023 (called at once)
                call_seconds(lambda: net(x)),  # noqa: B023
            )
    return models


def call_seconds(fn: Callable[[], object], repeat: int = 300) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls, after 20 untimed ones."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def mlp_sizes(args: argparse.Namespace) -> list[list[int]]:
    """The layer sizes of each MLP: --mlp-sizes as given, else the default two."""
    given = args.mlp_sizes or ["64,512,512,10", "256,2048,2048,2048,10"]
    return [[int(s) for s in sizes.split(",")] for sizes in given]


def make_mlp(sizes: list[int], work: Path) -> Mlp:
    """A TorchScript MLP of ``sizes`` (random weights, seed 0) and one input row."""
    import warnings

    import torch

    name = "MLP " + "-".join(map(str, sizes))
    bundle = work / name.lower().replace(" ", "-")
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).eval()
    bundle.mkdir(parents=True)
    with warnings.catch_warnings():  # TorchScript is deprecated, and still what users have
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(bundle / "model.pt"))
    rows = torch.randn(2, sizes[0]).round(decimals=4).tolist()
    (bundle / "input_example.json").write_text(json.dumps(rows))
    return Mlp(name, bundle, rows[0], sizes[-1])


# -- the baselines --------------------------------------------------------------------------


def json_headers() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def baseline_phase(
    args: argparse.Namespace, work: Path, servers: Servers, models: Models, which: str
) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, str(BENCH_DIR / "_serving_apps.py"), which, "--port", str(port)]
    if which == "starlette":
        argv += ["--model", str(models.joblib)]
    server = servers.start(
        spawn_server(which, argv, url + "/healthz", url, dict(os.environ), work / f"{which}.log")
    )
    try:
        label = "bare ASGI (uvicorn)" if which == "bare" else "minimal Starlette + predict"
        target = Target(
            label,
            url + "/predict",
            json.dumps({"data": [IRIS_ROW]}),
            json_headers(),
            lambda a: a == {"predictions": models.iris_answer} or which == "bare",
            [server.pid],
        )
        res = measure(args, work, target)
        res["start_s"] = server.start_s
        return res
    finally:
        servers.stop(server)


def mlflow_phase(
    args: argparse.Namespace, work: Path, servers: Servers, models: Models
) -> dict[str, Any]:
    import mlflow

    assert models.mlflow is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(BIN / "mlflow"), "models", "serve", "-m", str(models.mlflow)]
    argv += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    if args.mlflow_workers is not None:
        argv += ["--workers", str(args.mlflow_workers)]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}  # it execs `uvicorn`
    env["MLFLOW_TRACKING_URI"] = (work / "mlruns").as_uri()
    server = servers.start(
        spawn_server("mlflow", argv, url + "/ping", url, env, work / "mlflow.log", timeout=300)
    )
    try:
        target = Target(
            f"MLflow {mlflow.__version__} models serve",
            url + "/invocations",
            json.dumps({"inputs": [IRIS_ROW]}),
            json_headers(),
            lambda a: a == {"predictions": models.iris_answer},
            [server.pid],
        )
        res = measure(args, work, target)
        res["start_s"] = server.start_s
        res["procs"] = len(process_tree(server.pid))
        res["argv"] = "mlflow " + " ".join(argv[1:]).replace(str(work), "<tmp>")
        return res
    finally:
        servers.stop(server)


def ensure_bentoml_venv(venv: Path, sklearn_version: str) -> Path:
    """The venv's python, after making it (pip install bentoml scikit-learn==<ours>) if it is
    missing or holds another scikit-learn."""
    python = venv / "bin" / "python"
    probe = "import importlib.metadata as m; print(m.version('scikit-learn'))"
    if (venv / "bin" / "bentoml").exists():
        got = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == sklearn_version:
            return python
    log(f"[setup] creating {venv} (pip install bentoml scikit-learn=={sklearn_version}), once")
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    with (venv.parent / "bentoml-pip.log").open("wb") as out:
        subprocess.run(
            [str(python), "-m", "pip", "install", "bentoml", f"scikit-learn=={sklearn_version}"],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=3600,
        )
    return python


def bentoml_phase(
    args: argparse.Namespace, work: Path, servers: Servers, models: Models
) -> dict[str, Any]:
    python = ensure_bentoml_venv(args.bentoml_venv, models.sklearn_version)
    version = subprocess.run(
        [str(python), "-c", "import bentoml; print(bentoml.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    service_dir = work / "bento"
    service_dir.mkdir()
    shutil.copyfile(BENCH_DIR / "_bentoml_service.py", service_dir / "service.py")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = python.parent / "bentoml"
    argv = [str(exe), "serve", "service:IrisClassifier", "--working-dir", str(service_dir)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(
        PATH=f"{python.parent}:{os.environ.get('PATH', '')}",
        BENTOML_HOME=str(work / "bentoml-home"),
        BENTOML_DO_NOT_TRACK="True",
        BENCH_MODEL_PATH=str(models.joblib),
    )
    logf = work / "bentoml.log"
    server = servers.start(spawn_server("bentoml", argv, url + "/readyz", url, env, logf, 300))
    try:
        target = Target(
            f"BentoML {version} serve",
            url + "/predict",
            json.dumps({"data": [IRIS_ROW]}),
            json_headers(),
            lambda a: a == models.iris_answer,
            [server.pid],
        )
        res = measure(args, work, target)
        res["start_s"] = server.start_s
        res["procs"] = len(process_tree(server.pid))
        return res
    finally:
        servers.stop(server)


# -- modelyard ------------------------------------------------------------------------------


def worker_pids(server_pid: int) -> list[int]:
    return [
        p for p in process_tree(server_pid) if "modelyard.serving.worker" in " ".join(cmdline(p))
    ]


def worker_counters(pid: int) -> dict[str, Any] | None:
    """The worker's own counters (its ping: requests taken, model calls), over its socket."""
    argv = cmdline(pid)
    if "--socket" not in argv:
        return None
    path = argv[argv.index("--socket") + 1]
    body = json.dumps({"id": 1, "op": "ping"}).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(struct.pack(">I", len(body)) + body)
            head = _recv(s, 4)
            (size,) = struct.unpack(">I", head)
            answer = json.loads(_recv(s, size))
    except (OSError, ValueError):
        return None
    return answer.get("result")


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("closed")
        buf += chunk
    return buf


@dataclass
class Live:
    """A modelyard server, its client and token."""

    server: Server
    url: str
    token: str
    client: Any


def deploy_first(
    live: Live, version: Any, name: str, batch: int, wait_ms: float, body: str
) -> tuple[Any, float, float]:
    """Deploy (wait=False) and poll predict every 10 ms until it answers 200: (deployment,
    seconds from the deploy call to the first 200, seconds the deploy call itself took)."""
    import httpx

    t0 = time.perf_counter()
    dep = version.deploy(
        replicas=1, max_batch_size=batch, max_wait_ms=wait_ms, name=name, wait=False
    )
    call_s = time.perf_counter() - t0
    headers = {"Authorization": f"Bearer {live.token}", "Content-Type": "application/json"}
    url = f"{live.url}/api/v1/deployments/{dep.id}/predict"
    deadline = t0 + 600
    last = ""
    with httpx.Client(timeout=30) as http:
        while time.perf_counter() < deadline:
            r = http.post(url, content=body, headers=headers)
            if r.status_code == 200:
                first = time.perf_counter() - t0
                dep.wait(timeout=60)
                return dep, first, call_s
            if r.status_code not in (409, 503):
                raise RuntimeError(f"deployment {name}: predict answered {r.status_code}: {r.text}")
            last = r.text
            time.sleep(0.01)
    raise RuntimeError(f"deployment {name}: no prediction within 600 s ({last[:300]})")


def undeploy(live: Live, dep: Any) -> None:
    workers = worker_pids(live.server.pid)
    dep.undeploy()
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)


def modelyard_source(args: argparse.Namespace, work: Path) -> str:
    """What the modelyard server runs, in words; with --modelyard-ref, extracts that commit's
    src/ (git archive) into the work dir and sets args.modelyard_src to it."""
    repo = BENCH_DIR.parent

    def git(*argv: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    args.modelyard_src = None
    if args.modelyard_ref:
        sha = git("rev-parse", "--short", args.modelyard_ref)
        if not sha:
            raise RuntimeError(f"--modelyard-ref {args.modelyard_ref}: not a commit here")
        dest = work / f"modelyard-{sha}"
        dest.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", sha, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        args.modelyard_src = dest / "src"
        return f"commit {sha} ({args.modelyard_ref}), src/ extracted with git archive"
    sha = git("rev-parse", "--short", "HEAD")
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    if not dirty:
        return f"the working tree at {sha}, src/ clean"
    return (
        f"the working tree at {sha} WITH UNCOMMITTED CHANGES in src/ ({len(dirty)}: "
        f"{', '.join(dirty[:6])}{', ...' if len(dirty) > 6 else ''})"
    )


def modelyard_phase(
    args: argparse.Namespace,
    work: Path,
    servers: Servers,
    models: Models,
    goals_for: Callable[[str, dict[str, Any], dict[str, Any]], bool],
) -> dict[str, Any]:
    from modelyard import Client

    home = work / "modelyard-home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(kv.split("=", 1) for kv in args.server_env)
    if args.modelyard_src is not None:  # the server and its workers import modelyard from there
        env["PYTHONPATH"] = os.pathsep.join(
            [str(args.modelyard_src), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
    argv = [*shlex.split(args.modelyard_command), "server", "--home", str(home)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    logf = work / "modelyard.log"
    try:
        server = servers.start(spawn_server("modelyard", argv, url + "/healthz", url, env, logf))
    except RuntimeError:
        log("[modelyard server log, last lines]\n" + logf.read_text(errors="replace")[-3000:])
        raise
    out: dict[str, Any] = {"runs": {}, "deploys": [], "start_s": server.start_s}
    try:
        token = (home / "token").read_text().strip()
        client = Client(url, token, timeout=120)
        live = Live(server, url, token, client)
        headers = {"Authorization": f"Bearer {token}", **json_headers()}

        def register(name: str, bundle: Path) -> Any:
            t0 = time.perf_counter()
            version = client.new_model(name).new_model_version("1", artifacts=[bundle]).finish()
            report = version.wait_for_checks(timeout=600)
            took = time.perf_counter() - t0
            log(f"[modelyard: {name} registered, checks {report.state} in {took:.1f} s]")
            out[f"{name}_checks"] = str(report.state)
            return version

        configs = [(1, 0.0), *parse_configs(args.batch_configs)]
        phases: list[tuple[str, Any, str, Callable[[Any], bool]]] = []
        iris = register("iris", models.iris_bundle)
        iris_body = json.dumps({"data": [IRIS_ROW]})
        phases.append(
            ("sklearn", iris, iris_body, lambda a: a["predictions"] == models.iris_answer)
        )
        for mlp in models.mlps:
            version = register(mlp.name.lower().replace(" ", "-"), mlp.bundle)
            body = json.dumps({"data": [mlp.row]})
            phases.append(
                (mlp.name, version, body, lambda a, n=mlp.outputs: len(a["predictions"][0]) == n)
            )
        n = 0
        for kind, version, body, expect in phases:
            for i, (batch, wait_ms) in enumerate(configs):
                n += 1
                key = f"{kind} " + ("unbatched" if batch == 1 else f"b={batch} w={wait_ms:g}")
                dep, first_s, call_s = deploy_first(
                    live, version, f"{kind.split()[0].lower()}-{n}", batch, wait_ms, body
                )
                # the first deploy of a version copies its files into the serving directory
                out["deploys"].append(
                    {"what": key, "first_s": first_s, "call_s": call_s, "first": i == 0}
                )
                log(f"[modelyard {key}: deploy to first prediction {first_s:.2f} s]")
                workers = worker_pids(server.pid)
                before = {p: worker_counters(p) for p in workers}
                target = Target(
                    f"modelyard {key}",
                    f"{url}/api/v1/deployments/{dep.id}/predict",
                    body,
                    headers,
                    expect,
                    [server.pid],
                )
                res = measure(args, work, target)
                res["batch"], res["wait_ms"] = batch, wait_ms
                after = {p: worker_counters(p) for p in workers}
                res["avg_batch"] = _avg_batch(before, after)
                out["runs"][key] = res
                if args.profile == "always" or (
                    args.profile == "auto" and not goals_for(key, res, out["runs"])
                ):
                    log(f"[profiling modelyard {key} with py-spy for {args.profile_seconds:g} s]")
                    res["profile"] = profile(args, work, target, server.pid)
                undeploy(live, dep)
        client.close()
    except BaseException:
        if logf.exists():
            log("[modelyard server log, last lines]\n" + logf.read_text(errors="replace")[-3000:])
        raise
    finally:
        servers.stop(server)
    return out


def parse_configs(text: str) -> list[tuple[int, float]]:
    """'32:0,32:2' -> [(32, 0.0), (32, 2.0)] (max_batch_size:max_wait_ms)."""
    out = []
    for part in text.split(","):
        if part.strip():
            b, _, w = part.partition(":")
            out.append((int(b), float(w or 0)))
    return out


def _avg_batch(before: dict[int, Any], after: dict[int, Any]) -> float | None:
    reqs = calls = 0
    for pid, a in after.items():
        b = before.get(pid)
        if not a or not b:
            return None
        reqs += a["requests"] - b["requests"]
        calls += a["batches"] - b["batches"]
    return reqs / calls if calls else None


# -- py-spy ---------------------------------------------------------------------------------


def profile(args: argparse.Namespace, work: Path, t: Target, server_pid: int) -> dict[str, Any]:
    """wrk for --profile-seconds while py-spy records the API server and each worker (raw
    collapsed stacks, --profile-rate Hz); the hottest frames of each."""
    spy = BIN / "py-spy"
    if not spy.exists() and shutil.which("py-spy") is None:
        return {"error": "no py-spy (pip install py-spy)"}
    exe = str(spy) if spy.exists() else str(shutil.which("py-spy"))
    pids = {"API server": server_pid}
    for i, p in enumerate(worker_pids(server_pid)):
        pids[f"worker {i}" if i else "worker"] = p
    script = work / "wrk-profile.lua"
    lua_script(script, t.body, t.headers)
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    result: dict[str, Any] = {}
    try:
        for name, pid in pids.items():
            out = work / f"spy-{pid}.txt"
            procs[name] = (
                subprocess.Popen(
                    [
                        *(exe, "record", "--pid", str(pid), "--rate", str(args.profile_rate)),
                        *("--nonblocking", "--gil", "--nolineno", "--full-filenames"),
                        *("--format", "raw", "--output", str(out)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
                out,
            )
        time.sleep(1.0)  # attach
        res = run_wrk(args, t.url, script, args.profile_seconds)
        result["rps"], result["requests"], result["seconds"] = (
            res["rps"],
            res["requests"],
            res["seconds"],
        )
    finally:
        for proc, _ in procs.values():
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGINT)
        for proc, _ in procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    for name, (_, out) in procs.items():
        result[name] = summarize(out, args.profile_rate, result.get("requests", 0))
    return result


def _short(frame: str) -> str:
    """'func (/long/path/pkg/mod.py)' -> 'func (pkg/mod.py)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    parts = where.split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if where else name


def _area(frame: str) -> str:
    """Where a frame's code lives: 'modelyard/serving', 'starlette', 'stdlib asyncio', ..."""
    where = frame.partition(" (")[2].rstrip(")")
    if "/site-packages/" in where:
        return where.split("/site-packages/")[1].split("/")[0].removesuffix(".py")
    if "/src/modelyard/" in where:
        sub = where.split("/src/modelyard/")[1].split("/")
        return "modelyard/" + (sub[0].removesuffix(".py") if len(sub) > 1 else sub[0])
    m = re.search(r"/lib/python3\.\d+/([^/]+)", where)
    if m:
        return "stdlib " + m.group(1).removesuffix(".py")
    return where or frame


#: Leaf frames that are a thread waiting, not working (py-spy's idle detection misses some).
_IDLE = ("select (selectors.py)", "wait (threading.py)", "_worker (futures/thread.py)")


def summarize(path: Path, rate: int, requests: int) -> dict[str, Any] | None:
    """Self time by leaf frame and by area (package) of the leaf, inclusive time of each
    modelyard function, in CPU microseconds per request; idle leaves left out."""
    if not path.exists():
        return None
    leaves: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        leaf = _short(frames[-1])
        if leaf in _IDLE:
            idle += n
            continue
        total += n
        leaves[leaf] += n
        areas[_area(frames[-1])] += n
        for f in {f for f in frames if "/src/modelyard/" in f}:
            own[_short(f)] += n
    us = 1e6 / rate / max(1, requests)  # CPU microseconds per request of one sample
    return {
        "samples": total,
        "idle_samples": idle,
        "us_per_req": total * us,
        "leaves": [(f, c, c * us) for f, c in leaves.most_common(15)],
        "areas": [(f, c, c * us) for f, c in areas.most_common(15)],
        "own": [(f, c, c * us) for f, c in own.most_common(30)],
    }


# -- report ---------------------------------------------------------------------------------


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or not b else f"{a / b:.2f}x"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(args: argparse.Namespace, res: dict[str, Any]) -> None:
    rows: list[dict[str, Any]] = []
    for key in ("bare", "minimal", "mlflow", "bentoml"):
        if key in res:
            rows.append(res[key])
    my = res.get("modelyard", {"runs": {}, "deploys": []})
    rows.extend(my["runs"].values())
    print()
    print(
        f"single-row predictions, wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
        f"(after {args.warmup:g} s warm-up), 127.0.0.1, one server at a time"
    )
    head = (
        f"{'target':46} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'p99.9':>7} {'errors':>6} "
        f"{'srv CPU':>7} {'srv':>5} {'wrk':>5} {'other':>5} {'steal':>5} {'batch':>5}"
    )
    print(head)
    print(
        f"{'':46} {'':7} {'':7} {'':7} {'ms':>7} {'':6} {'ms/req':>7} {'cores':>5} "
        f"{'cores':>5} {'cores':>5} {'cores':>5} {'avg':>5}"
    )
    print("-" * len(head))
    for r in rows:
        avg = r.get("avg_batch")
        print(
            f"{r['label'][:46]:46} {r['rps']:7.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} "
            f"{r.get('p999_ms', float('nan')):7.2f} {r['errors']:6d} "
            f"{r['server_cpu_ms_per_req']:7.3f} {r['server_cores']:5.2f} {r['wrk_cores']:5.2f} "
            f"{r['other_cores']:5.2f} {r['steal_cores']:5.2f} "
            f"{'-' if avg is None else format(avg, '.1f'):>5}"
        )
    print(
        "errors: non-2xx/3xx answers + socket errors (connect, read, write, timeout > "
        f"{args.wrk_timeout:g} s). srv CPU: the server's whole process tree (modelyard: API "
        "server\n+ the model's worker). other: the rest of the machine (other sessions' "
        "processes); steal: CPU the hypervisor\ngave to other VMs; both from /proc/stat. batch "
        "avg: requests per model call, from the worker's counters."
    )
    busy = [r["label"] for r in rows if r.get("pytest_during")]
    if busy:
        print(f"WARNING: a pytest run was on the machine during: {', '.join(busy)}")
    else:
        print("no pytest run was on the machine during any measurement")
    for r in rows:
        if r["errors"]:
            print(f"ERRORS in {r['label']}: {r['non2xx']} non-2xx/3xx, {r['socket_errors']} socket")
    split = [r for r in rows if r["label"].startswith("modelyard")]
    if split:
        print("modelyard's CPU by process (from /proc): the API server vs the model's worker")
        for r in split:
            print(
                f"  {r['label'][:46]:46} API server {r['root_cpu_ms_per_req']:6.3f} ms/req "
                f"({r['root_cores']:.2f} cores)   worker {r['rest_cpu_ms_per_req']:6.3f} ms/req "
                f"({r['rest_cores']:.2f} cores)"
            )
    print("load average (1, 5, 15 min) at the start -> end of each measurement:")
    for r in rows:
        print(f"  {r['label'][:44]:44} {r['load']}")

    base, mini = res.get("bare"), res.get("minimal")
    ml, bento = res.get("mlflow"), res.get("bentoml")
    sk = {k: v for k, v in my["runs"].items() if k.startswith("sklearn")}
    if sk:
        print()
        print(
            "modelyard sklearn vs the others: req/s ratio (higher is better) / p99 ratio "
            "(lower is better)"
        )
        others = [("bare ASGI", base), ("minimal", mini), ("MLflow", ml), ("BentoML", bento)]
        print(f"  {'':28}" + "".join(f" {n:>18}" for n, _ in others))
        for key, r in sk.items():
            line = f"  {key:28}"
            for _, o in others:
                cell = (
                    "-"
                    if o is None
                    else (
                        f"{fmt_ratio(r['rps'], o['rps'])} / {fmt_ratio(r['p99_ms'], o['p99_ms'])}"
                    )
                )
                line += f" {cell:>18}"
            print(line)

    if res.get("inproc"):
        n = args.inproc_rows
        print()
        print(
            f"one model call in this process (median): 1 row vs {n} rows, and the most batching "
            "of that size could give"
        )
        for name, (one, many) in res["inproc"].items():
            print(
                f"  {name:26} 1 row {one * 1e6:8.1f} us   {n} rows {many * 1e6:8.1f} us   "
                f"-> {n * one / many:5.1f}x the rows per second of the model alone"
            )

    if my["deploys"]:
        print()
        print(
            "deploy to first prediction (deploy call, wait=False, to the first 200 of a "
            "predict polled every 10 ms):"
        )
        for d in my["deploys"]:
            tag = " (first deploy of the version: copies its files)" if d["first"] else ""
            print(
                f"  {d['what']:36} {d['first_s']:6.2f} s  (the deploy call: "
                f"{d['call_s'] * 1000:.0f} ms){tag}"
            )

    print()
    print("goals:")
    un = sk.get("sklearn unbatched")
    batched = [v for k, v in sk.items() if k != "sklearn unbatched"]
    best = max(batched, key=lambda r: r["rps"]) if batched else None
    if un and ml:
        r = un["rps"] / ml["rps"]
        print(
            f"  modelyard unbatched >= {GOAL_VS_MLFLOW:g}x MLflow req/s: {un['rps']:.0f} vs "
            f"{ml['rps']:.0f} = {r:.2f}x -> {verdict(r >= GOAL_VS_MLFLOW)}"
        )
    else:
        print("  modelyard unbatched vs MLflow: not measured")
    if un and mini:
        r = un["rps"] / mini["rps"]
        print(
            f"  modelyard unbatched >= {GOAL_VS_MINIMAL:g}x minimal req/s: {un['rps']:.0f} vs "
            f"{mini['rps']:.0f} = {r:.2f}x -> {verdict(r >= GOAL_VS_MINIMAL)}"
        )
        r = un["p99_ms"] / mini["p99_ms"]
        print(
            f"  modelyard unbatched p99 <= {GOAL_P99_VS_MINIMAL:g}x minimal p99: "
            f"{un['p99_ms']:.2f} vs {mini['p99_ms']:.2f} ms = {r:.2f}x -> "
            f"{verdict(r <= GOAL_P99_VS_MINIMAL)}"
        )
    if best and mini:
        r = best["rps"] / mini["rps"]
        print(
            f"  modelyard batched (best: {best['label'][10:]}) >= {GOAL_BATCHED_VS_MINIMAL:g}x "
            f"minimal req/s: {best['rps']:.0f} vs {mini['rps']:.0f} = {r:.2f}x -> "
            f"{verdict(r >= GOAL_BATCHED_VS_MINIMAL)}"
        )
    for name in res.get("mlps", []):
        unbatched = f"{name} unbatched"
        mlp = {k: v for k, v in my["runs"].items() if k.startswith(f"{name} ")}
        if unbatched not in mlp or len(mlp) < 2:
            continue
        u = mlp[unbatched]
        b = max((v for k, v in mlp.items() if k != unbatched), key=lambda r: r["rps"])
        r = b["rps"] / u["rps"]
        print(
            f"  torch {name} batched (best: {b['label'][10:]}) >= "
            f"{GOAL_MLP_BATCHED:g}x unbatched: {b['rps']:.0f} vs {u['rps']:.0f} = {r:.2f}x -> "
            f"{verdict(r >= GOAL_MLP_BATCHED)}"
        )

    print()
    for key in ("mlflow", "bentoml"):
        if key in res:
            r = res[key]
            extra = f", `{r['argv']}`" if "argv" in r else ""
            print(f"{r['label']}: {r['procs']} processes, start {r['start_s']:.1f} s{extra}")
    if "modelyard" in res:
        cmd = (
            "modelyard"
            if args.modelyard_command == str(BIN / "modelyard")
            else (args.modelyard_command)
        )
        env = "".join(f" {kv}" for kv in args.server_env)
        print(f"modelyard under test: {res['source']}")
        print(
            f"modelyard: `{cmd} server --home <tmp> --host 127.0.0.1 --port N`{env}, start "
            f"{my['start_s']:.2f} s; checks: "
            + ", ".join(
                f"{k.removesuffix('_checks')} {v}" for k, v in my.items() if k.endswith("_checks")
            )
        )

    for key, r in my["runs"].items():
        p = r.get("profile")
        if not p:
            continue
        print()
        if "error" in p:
            print(f"py-spy, modelyard {key}: {p['error']}")
            continue
        print(
            f"py-spy, modelyard {key}: {p['rps']:.0f} req/s while profiled "
            f"({p['requests']} requests in {p['seconds']:.1f} s, {args.profile_rate} Hz); CPU "
            "us per request"
        )
        for who in [k for k in p if k.startswith(("API", "worker"))]:
            s = p[who]
            if not s:
                print(f"  {who}: no profile")
                continue
            print(
                f"  {who}: {s['samples']} busy samples = {s['us_per_req']:.0f} us CPU per request "
                f"({s['idle_samples']} idle samples left out)"
            )
            for title, key, n in (
                ("self time by area (package of the leaf frame)", "areas", 10),
                ("self time by leaf frame", "leaves", 12),
                ("inclusive time of modelyard's functions", "own", args.profile_top),
            ):
                print(f"    {title}:")
                for f, c, us in s[key][:n]:
                    print(f"      {us:7.1f} us {c / max(1, s['samples']):6.1%}  {f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per target")
    ap.add_argument("--warmup", type=float, default=2.0, help="untimed wrk seconds first")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--wrk-timeout", type=float, default=5.0, help="wrk --timeout, seconds")
    ap.add_argument(
        "--batch-configs",
        default="32:0,32:2",
        help="modelyard batched deployments, max_batch_size:max_wait_ms, comma-separated "
        "(batching off is always measured too)",
    )
    ap.add_argument(
        "--mlp-sizes",
        action="append",
        default=[],
        help="a torch MLP's layer sizes, e.g. 64,512,512,10; repeatable (default: "
        "64,512,512,10 and 256,2048,2048,2048,10)",
    )
    ap.add_argument(
        "--inproc-rows", type=int, default=32, help="batch of the in-process model timing"
    )
    ap.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of the modelyard server (its workers inherit it), e.g. "
        "OMP_NUM_THREADS=1; repeatable",
    )
    ap.add_argument(
        "--modelyard-command",
        default=str(BIN / "modelyard"),
        help="how to run modelyard's CLI (default: this venv's `modelyard`); `server ...` is "
        "appended",
    )
    ap.add_argument(
        "--modelyard-ref",
        default=None,
        metavar="COMMIT",
        help="serve modelyard as of this commit (its src/ from git archive, on the server's "
        "PYTHONPATH) instead of the working tree, e.g. HEAD while src/ is being edited",
    )
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--skip-bentoml", action="store_true")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-baselines", action="store_true", help="no bare ASGI / Starlette")
    ap.add_argument("--skip-modelyard", action="store_true")
    ap.add_argument("--mlflow-workers", type=int, default=None, help="default: as shipped (1)")
    ap.add_argument("--bentoml-venv", type=Path, default=BENTOML_VENV)
    ap.add_argument("--profile", choices=["auto", "always", "never"], default="auto")
    ap.add_argument("--profile-seconds", type=float, default=5.0)
    ap.add_argument("--profile-rate", type=int, default=200, help="py-spy samples/s")
    ap.add_argument("--profile-top", type=int, default=25, help="modelyard functions printed")
    ap.add_argument(
        "--wait-idle",
        action="store_true",
        help="before each measurement, wait until no pytest runs on the machine (polls "
        "every 30 s, up to --wait-max-min)",
    )
    ap.add_argument("--wait-max-min", type=float, default=60.0)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        ap.error("wrk is not installed (apt-get install wrk)")

    log(
        f"serving_speed  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}  {platform.node()}  "
        f"{os.cpu_count()} cores  Python {platform.python_version()}"
    )
    log(f"args: {' '.join(sys.argv[1:]) or '(defaults)'}")
    log(f"load average at start: {loadavg()}")
    work = Path(tempfile.mkdtemp(prefix="modelyard-serving-bench-"))
    servers = Servers()
    res: dict[str, Any] = {}
    try:
        res["source"] = modelyard_source(args, work)
        log(f"modelyard under test: {res['source']}")
        models = make_models(args, work)
        res["inproc"] = models.inproc
        res["mlps"] = [mlp.name for mlp in models.mlps]
        log(
            f"models: iris LogisticRegression (scikit-learn {models.sklearn_version}), "
            f"predict({IRIS_ROW}) = {models.iris_answer}"
            + "".join(f"; torch {mlp.name} (TorchScript)" for mlp in models.mlps)
        )
        if not args.skip_baselines:
            res["bare"] = baseline_phase(args, work, servers, models, "bare")
            res["minimal"] = baseline_phase(args, work, servers, models, "starlette")
        if not args.skip_mlflow:
            res["mlflow"] = mlflow_phase(args, work, servers, models)
        if not args.skip_bentoml:
            res["bentoml"] = bentoml_phase(args, work, servers, models)

        def goals_for(key: str, r: dict[str, Any], runs: dict[str, Any]) -> bool:
            mini, ml = res.get("minimal"), res.get("mlflow")
            if r["errors"]:
                return False
            if key == "sklearn unbatched":
                ok = True
                if mini:
                    ok &= r["rps"] >= GOAL_VS_MINIMAL * mini["rps"]
                    ok &= r["p99_ms"] <= GOAL_P99_VS_MINIMAL * mini["p99_ms"]
                if ml:
                    ok &= r["rps"] >= GOAL_VS_MLFLOW * ml["rps"]
                return ok
            if key.startswith("sklearn"):
                return not mini or r["rps"] >= GOAL_BATCHED_VS_MINIMAL * mini["rps"]
            kind = key.rsplit(" ", 1 if key.endswith(" unbatched") else 2)[0]
            unbatched = runs.get(f"{kind} unbatched")
            if key.startswith("MLP") and not key.endswith(" unbatched") and unbatched:
                return r["rps"] >= GOAL_MLP_BATCHED * unbatched["rps"]
            return True

        if not args.skip_modelyard:
            res["modelyard"] = modelyard_phase(args, work, servers, models, goals_for)
    finally:
        servers.stop_all()
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    log(f"load average at end: {loadavg()}")
    report(args, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
