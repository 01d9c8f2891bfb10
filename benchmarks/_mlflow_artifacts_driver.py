"""The MLflow half of storage_throughput.py. Runs in benchmarks/.venv-mlflow, prints one JSON line.

Starts ``mlflow server --serve-artifacts`` (SQLite backend, ``--artifacts-destination`` in
--workdir) on 127.0.0.1, creates a run, uploads --file to it through the artifact proxy
(``MlflowClient.log_artifact``: the tracking URI is http://127.0.0.1:port, so the bytes go over
HTTP to the server, which writes them under the destination), downloads it back
(``mlflow.artifacts.download_artifacts``), and checks size and SHA-256 (outside the timing).
The server's process tree RSS is sampled every --sample-ms during each transfer.

Not meant to be run by hand: storage_throughput.py calls it with its flags.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from _common import measure, spawn_server, tree_rss_bytes


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--file", type=Path, required=True)
    ap.add_argument("--sha256", required=True)
    ap.add_argument("--sample-ms", type=float, default=50.0)
    ap.add_argument("--workers", type=int, default=None, help="mlflow server --workers")
    args = ap.parse_args()

    import mlflow
    from mlflow import MlflowClient

    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    argv = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{work / 'mlflow.db'}",
        "--serve-artifacts",
        "--artifacts-destination",
        str(work / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
    ]
    if args.workers is not None:
        argv += ["--workers", str(args.workers)]
    out: dict[str, object] = {"version": mlflow.__version__, "argv": " ".join(argv[1:])}
    interval = args.sample_ms / 1000
    size = args.file.stat().st_size

    server = spawn_server("mlflow", argv, url + "/health", url, env, work / "server.log")
    try:
        out["start_s"] = server.start_s
        time.sleep(2.0)
        out["idle_rss"], out["procs"] = tree_rss_bytes(server.pid)
        mlflow.set_tracking_uri(url)
        client = MlflowClient(tracking_uri=url)
        exp = client.create_experiment("storage-throughput")
        run = client.create_run(exp)
        run_id = run.info.run_id
        out["artifact_uri"] = run.info.artifact_uri

        out["upload"] = measure(
            {"server": server.pid},
            lambda: client.log_artifact(run_id, str(args.file)),
            interval,
        )
        stored = list((work / "artifacts").rglob(args.file.name))
        if len(stored) != 1 or stored[0].stat().st_size != size:
            raise AssertionError(f"MLflow stored {stored!r}, expected one file of {size} bytes")

        dest = work / "download"
        dest.mkdir()
        got: list[str] = []
        out["download"] = measure(
            {"server": server.pid},
            lambda: got.append(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=args.file.name, dst_path=str(dest)
                )
            ),
            interval,
        )
        path = Path(got[0])
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if path.stat().st_size != size or digest != args.sha256:
            raise AssertionError(f"MLflow download differs: {path.stat().st_size} bytes {digest}")
        shutil.rmtree(dest)
        out["final_rss"] = tree_rss_bytes(server.pid)[0]
    finally:
        server.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
