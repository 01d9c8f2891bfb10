"""Registry speed: modelyard vs ``mlflow server``, in one run, against real servers on loopback.

For each tool: start to first answer (fresh home, then a restart on the migrated database),
idle RSS of the server's process tree, creating --models models and as many versions one call at
a time through its Python client (modelyard SDK / MlflowClient), filling the database to --total
models by direct SQL, and searching by name prefix (first page of 50) --queries times.

    .venv/bin/python benchmarks/registry_speed.py                       # full: 1,000 / 100,000
    .venv/bin/python benchmarks/registry_speed.py --models 200 --total 5000   # quick

MLflow runs from its own venv, benchmarks/.venv-mlflow, made here on first use (pip install
mlflow). Only one server runs at a time, so the two never compete for the CPU.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    BENCH_DIR,
    MIB,
    PREFIX_KINDS,
    PrefixIndex,
    free_port,
    model_name,
    percentile,
    search_prefixes,
    spawn_server,
    tree_rss_bytes,
)

MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
GOAL_RATIO = 10.0
GOAL_P99_MS = 10.0
GOAL_RSS_MIB = 150.0
GOAL_START_S = 2.0


def ensure_mlflow_venv(venv: Path) -> Path:
    """The venv's python, after making the venv and installing mlflow if needed."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "mlflow").exists():
        print(f"[setup] creating {venv} and installing mlflow (once)...", flush=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "mlflow"], check=True, timeout=1800
        )
    return python


def modelyard_sdk():
    """``modelyard.Client`` (the SDK); imported late so --help works without it."""
    try:
        from modelyard import Client
    except ImportError:
        from modelyard.client import Client
    return Client


def run_modelyard(args: argparse.Namespace, work: Path) -> dict[str, object]:
    Client = modelyard_sdk()
    home = work / "modelyard-home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).parent / "modelyard"
    argv = [str(exe), "server", "--port", str(port)]
    env = {**os.environ, "MODELYARD_HOME": str(home)}
    env.pop("MODELYARD_DATABASE_URL", None)
    env.pop("MODELYARD_BLOB_URL", None)
    out: dict[str, object] = {"argv": "modelyard server --port N (MODELYARD_HOME=tmp)"}

    first = spawn_server("modelyard", argv, url + "/healthz", url, env, work / "my-first.log")
    out["first_start_s"] = first.start_s
    first.stop()
    server = spawn_server("modelyard", argv, url + "/healthz", url, env, work / "my.log")
    try:
        out["start_s"] = server.start_s
        time.sleep(args.settle)
        rss, nproc = tree_rss_bytes(server.pid)
        out["idle_rss"] = rss
        out["idle_procs"] = nproc

        token = (home / "token").read_text().strip()
        client = Client(url, token)
        t0 = time.perf_counter()
        models = [client.new_model(model_name(i), namespace="default") for i in range(args.models)]
        t1 = time.perf_counter()
        for m in models:
            m.new_model_version(version="1")
        t2 = time.perf_counter()
        out["models_per_s"] = args.models / (t1 - t0)
        out["versions_per_s"] = args.models / (t2 - t1)
        out["creates_per_s"] = 2 * args.models / (t2 - t0)
        out["loaded_rss"] = tree_rss_bytes(server.pid)[0]

        # Fill to --total by direct SQL: clone the API-made row of model 0 under new ids and
        # names, one executemany in one transaction, into the running server's database.
        from modelyard.domain.ids import new_id

        t3 = time.perf_counter()
        con = sqlite3.connect(home / "modelyard.db", timeout=60)
        con.row_factory = sqlite3.Row
        template = dict(
            con.execute("SELECT * FROM models WHERE name = ?", (model_name(0),)).fetchone()
        )
        cols = list(template)
        rows = []
        for i in range(args.models, args.total):
            row = dict(template, id=new_id(), name=model_name(i))
            rows.append(tuple(row[c] for c in cols))
        with con:
            con.executemany(
                f"INSERT INTO models ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                rows,
            )
        count = con.execute("SELECT count(*) FROM models").fetchone()[0]
        con.close()
        out["fill_s"] = time.perf_counter() - t3
        out["fill_method"] = (
            "direct SQL (sqlite3 executemany, one transaction) into models, "
            "rows cloned from an API-created one with new ids"
        )
        out["count"] = count

        index = PrefixIndex(args.total)
        times: list[float] = []
        kinds: dict[str, list[float]] = {}
        for n, (kind, prefix) in enumerate(search_prefixes(args.total, args.queries + args.warmup)):
            q0 = time.perf_counter()
            found = list(itertools.islice(client.list_models(name_prefix=prefix, page_size=50), 50))
            dt = time.perf_counter() - q0
            want = min(50, index.count(prefix))
            if len(found) != want or not all(m.name.startswith(prefix) for m in found):
                raise AssertionError(f"modelyard: {len(found)} results for {prefix!r}, want {want}")
            if n >= args.warmup:
                times.append(dt)
                kinds.setdefault(kind, []).append(dt)
        out["search_p50_ms"] = percentile(times, 50) * 1000
        out["search_p99_ms"] = percentile(times, 99) * 1000
        out["search_by_kind_p50_ms"] = {k: percentile(v, 50) * 1000 for k, v in kinds.items()}
        out["search_n"] = len(times)
        out["final_rss"] = tree_rss_bytes(server.pid)[0]
        client.close()
    finally:
        server.stop()
    return out


def run_mlflow(args: argparse.Namespace, work: Path, workers: int | None) -> dict[str, object]:
    python = ensure_mlflow_venv(args.mlflow_venv)
    tag = "default" if workers is None else f"w{workers}"
    cmd = [
        str(python),
        str(BENCH_DIR / "_mlflow_driver.py"),
        "--workdir",
        str(work / f"mlflow-{tag}"),
        "--port",
        str(free_port()),
        "--models",
        str(args.models),
        "--total",
        str(args.total),
        "--queries",
        str(args.queries),
        "--warmup",
        str(args.warmup),
        "--settle",
        str(args.settle),
    ]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise RuntimeError(f"MLflow driver failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(v: object, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def report(args: argparse.Namespace, my: dict, mls: list[tuple[str, dict]]) -> None:
    def mib(v: object) -> float | None:
        return None if v is None else v / MIB

    def ratio(a: object, b: object) -> str:
        return "-" if a is None or b is None or not b else f"{a / b:.1f}x"

    def ok(cond: bool) -> str:
        return "MET" if cond else "MISSED"

    rows = [
        ("start to first answer, fresh home (s)", "first_start_s", ".2f", None),
        ("start to first answer, restart (s)", "start_s", ".2f", None),
        ("idle RSS, process tree (MiB)", "idle_rss", ".1f", mib),
        ("  processes in the tree", "idle_procs", "d", None),
        ("RSS after the creates (MiB)", "loaded_rss", ".1f", mib),
        (f"create models, 1 call each ({args.models}) /s", "models_per_s", ".1f", None),
        (f"create versions, 1 call each ({args.models}) /s", "versions_per_s", ".1f", None),
        ("creates, models + versions /s", "creates_per_s", ".1f", None),
        ("models in the database for search", "count", "d", None),
        ("fill by direct SQL (s)", "fill_s", ".2f", None),
        (f"search by prefix, first 50, p50 (ms, n={args.queries})", "search_p50_ms", ".2f", None),
        (f"search by prefix, first 50, p99 (ms, n={args.queries})", "search_p99_ms", ".2f", None),
        ("RSS after the searches (MiB)", "final_rss", ".1f", mib),
    ]
    w = 50
    head = f"{'':{w}} {'modelyard':>10}"
    for name, _ in mls:
        head += f" {name:>14} {'my/it':>7}"
    print()
    print(head)
    for label, key, spec, conv in rows:
        a = my.get(key)
        a = conv(a) if conv else a
        line = f"{label:{w}} {_fmt(a, spec):>10}"
        for _, ml in mls:
            b = ml.get(key)
            b = conv(b) if conv else b
            line += f" {_fmt(b, spec):>14} {ratio(a, b):>7}"
        print(line)
    print()
    print("search p50 by prefix kind, ms (matches at 100k: letter/org ~6,250, org-family ~312,")
    print("3-digits <=100, 4-digits 10, full 1, none 0):")
    for kind in PREFIX_KINDS:
        v = my["search_by_kind_p50_ms"][kind]
        line = f"  {kind:{w - 2}} {v:>10.2f}"
        for _, ml in mls:
            o = ml["search_by_kind_p50_ms"].get(kind)
            line += f" {_fmt(o, '.2f'):>14} {ratio(v, o):>7}"
        print(line)
    print()
    print(f"fill method (both tools the same way): {my['fill_method']}")
    print(f"modelyard: {my['argv']}; RSS sums the server's process tree")
    for name, ml in mls:
        print(f"{name}: mlflow {ml['version']} {ml['argv']}")
    print()
    print("goals (issue 2):")
    start = max(my["first_start_s"], my["start_s"])
    print(
        f"  start to first answer < {GOAL_START_S} s: {start:.2f} s (worst of fresh/restart), "
        f"{start / GOAL_START_S:.2f}x of the goal -> {ok(start < GOAL_START_S)}"
    )
    rss = my["idle_rss"] / MIB
    print(
        f"  idle RSS < {GOAL_RSS_MIB:.0f} MiB: {rss:.1f} MiB, {rss / GOAL_RSS_MIB:.2f}x of the "
        f"goal -> {ok(rss < GOAL_RSS_MIB)}"
    )
    p99 = my["search_p99_ms"]
    print(
        f"  search p99 < {GOAL_P99_MS:.0f} ms at {my['count']:,} models: {p99:.2f} ms, "
        f"{p99 / GOAL_P99_MS:.2f}x of the goal -> {ok(p99 < GOAL_P99_MS)}"
        + ("" if my["count"] >= 100_000 else "  (quick run: not at 100,000)")
    )
    for name, ml in mls:
        for key, what in (
            ("models_per_s", "model"),
            ("versions_per_s", "version"),
            ("creates_per_s", "model+version"),
        ):
            r = my[key] / ml[key]
            print(
                f"  {what} create rate >= {GOAL_RATIO:.0f}x {name}: {my[key]:.1f}/s vs "
                f"{ml[key]:.1f}/s = {r:.1f}x -> {ok(r >= GOAL_RATIO)}"
            )
    if not mls:
        print("  create rate vs MLflow: not measured (--skip-mlflow)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", type=int, default=1000, help="models (and versions) created")
    ap.add_argument("--total", type=int, default=100_000, help="models in the db for search")
    ap.add_argument("--queries", type=int, default=500, help="timed search queries")
    ap.add_argument("--warmup", type=int, default=20, help="untimed search queries first")
    ap.add_argument("--settle", type=float, default=2.0, help="idle seconds before RSS")
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--mlflow-venv", type=Path, default=MLFLOW_VENV)
    ap.add_argument(
        "--mlflow-workers",
        default="default,1",
        help="comma-separated MLflow configurations: 'default' (mlflow server as is: 4 uvicorn "
        "workers) and/or a --workers count",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.total < args.models:
        ap.error("--total must be >= --models")

    print(
        f"registry_speed  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}  "
        f"{platform.node()}  {os.cpu_count()} cores  Python {platform.python_version()}"
    )
    print(
        f"args: models={args.models} total={args.total} queries={args.queries} "
        f"warmup={args.warmup}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))
    try:
        t = time.perf_counter()
        my = run_modelyard(args, work)
        print(f"[modelyard done in {time.perf_counter() - t:.0f} s]", flush=True)
        mls: list[tuple[str, dict]] = []
        if not args.skip_mlflow:
            for conf in args.mlflow_workers.split(","):
                workers = None if conf.strip() == "default" else int(conf)
                name = "MLflow default" if workers is None else f"MLflow -w {workers}"
                t = time.perf_counter()
                mls.append((name, run_mlflow(args, work, workers)))
                print(f"[{name} done in {time.perf_counter() - t:.0f} s]", flush=True)
        report(args, my, mls)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
