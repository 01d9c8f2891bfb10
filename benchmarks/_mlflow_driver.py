"""The MLflow half of registry_speed.py. Runs in benchmarks/.venv-mlflow, prints one JSON line.

Not meant to be run by hand: registry_speed.py builds the venv and calls this with its flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from _common import (
    PrefixIndex,
    model_name,
    percentile,
    search_prefixes,
    spawn_server,
    tree_rss_bytes,
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--models", type=int, required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--queries", type=int, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=None, help="mlflow server --workers")
    args = ap.parse_args()

    import mlflow
    from mlflow import MlflowClient

    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    db = work / "mlflow.db"
    url = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    argv = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        str(work / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
    ]
    if args.workers is not None:
        argv += ["--workers", str(args.workers)]
    out: dict[str, object] = {"version": mlflow.__version__, "argv": " ".join(argv[1:])}

    # The first start creates and migrates the database; it is timed separately, then the
    # server is restarted on the migrated database (the start an operator sees every day).
    first = spawn_server("mlflow", argv, url + "/health", url, env, work / "server-first.log")
    out["first_start_s"] = first.start_s
    first.stop()
    server = spawn_server("mlflow", argv, url + "/health", url, env, work / "server.log")
    try:
        out["start_s"] = server.start_s
        time.sleep(args.settle)
        rss, nproc = tree_rss_bytes(server.pid)
        out["idle_rss"] = rss
        out["idle_procs"] = nproc

        client = MlflowClient(tracking_uri=url, registry_uri=url)
        t0 = time.perf_counter()
        for i in range(args.models):
            client.create_registered_model(model_name(i))
        t1 = time.perf_counter()
        for i in range(args.models):
            client.create_model_version(model_name(i), source=f"s3://bench/{model_name(i)}")
        t2 = time.perf_counter()
        out["models_per_s"] = args.models / (t1 - t0)
        out["versions_per_s"] = args.models / (t2 - t1)
        out["creates_per_s"] = 2 * args.models / (t2 - t0)
        out["loaded_rss"] = tree_rss_bytes(server.pid)[0]

        # Fill to --total by direct SQL: clone the API-made row of model 0 under new names,
        # one executemany in one transaction, into the running server's database.
        t3 = time.perf_counter()
        con = sqlite3.connect(db, timeout=60)
        con.row_factory = sqlite3.Row
        template = dict(con.execute("SELECT * FROM registered_models LIMIT 1").fetchone())
        cols = list(template)
        rows = []
        for i in range(args.models, args.total):
            row = dict(template)
            row["name"] = model_name(i)
            rows.append(tuple(row[c] for c in cols))
        with con:
            con.executemany(
                f"INSERT INTO registered_models ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' * len(cols))})",
                rows,
            )
        count = con.execute("SELECT count(*) FROM registered_models").fetchone()[0]
        con.close()
        out["fill_s"] = time.perf_counter() - t3
        out["fill_method"] = (
            "direct SQL (sqlite3 executemany, one transaction) into registered_models, "
            "rows cloned from an API-created one"
        )
        out["count"] = count

        index = PrefixIndex(args.total)
        prefixes = search_prefixes(args.total, args.queries + args.warmup)
        times: list[float] = []
        kinds: dict[str, list[float]] = {}
        for n, (kind, prefix) in enumerate(prefixes):
            q0 = time.perf_counter()
            found = client.search_registered_models(
                filter_string=f"name LIKE '{prefix}%'", max_results=50
            )
            dt = time.perf_counter() - q0
            want = min(50, index.count(prefix))
            if len(found) != want or not all(m.name.startswith(prefix) for m in found):
                raise AssertionError(f"MLflow: {len(found)} results for {prefix!r}, want {want}")
            if n >= args.warmup:
                times.append(dt)
                kinds.setdefault(kind, []).append(dt)
        out["search_p50_ms"] = percentile(times, 50) * 1000
        out["search_p99_ms"] = percentile(times, 99) * 1000
        out["search_by_kind_p50_ms"] = {k: percentile(v, 50) * 1000 for k, v in kinds.items()}
        out["search_n"] = len(times)
        out["final_rss"] = tree_rss_bytes(server.pid)[0]
    finally:
        server.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
