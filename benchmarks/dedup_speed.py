"""Dedup before transfer: a first 1 GiB upload vs registering the same file in a second version.

Starts a modelyard server on a fresh home (in a temp dir), writes --size-gib of random bytes,
and times, each against a new PENDING version of one model:

1. the first upload through the SDK (``upload_artifact``: hash, dedup miss, resumable session
   in 16 MiB chunks, finish);
2. the same file again through the SDK: it hashes the local file, the dedup call finds the
   content, and no byte is sent;
3. the same file registered by a client that already knows its SHA-256 (as OpenSearch's
   ``model_content_hash_value`` carries it): one ``POST .../files:dedup``.

The goal (issue 3) is that registering the second version takes < 1% of the first upload.

    .venv/bin/python benchmarks/dedup_speed.py                  # 1 GiB
    .venv/bin/python benchmarks/dedup_speed.py --size-gib 0.25  # quick
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from _common import MIB, free_port, spawn_server

from modelyard import Client

GOAL = 0.01


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(16 * MIB, left))
            f.write(block)
            left -= len(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    args = parser.parse_args()
    size = int(args.size_gib * 1024 * MIB)

    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        root = Path(tmp)
        local = root / "model.bin"
        write_random(local, size)
        home = root / "home"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        server = spawn_server(
            "modelyard",
            [
                str(Path(sys.executable).parent / "modelyard"),
                "server",
                "--home",
                str(home),
                "--port",
                str(port),
            ],
            f"{url}/healthz",
            url,
            env,
            root / "server.log",
        )
        try:
            token = (home / "token").read_text().strip()
            with Client(url, token) as client:
                model = client.new_model("dedup-bench")
                v1 = model.new_model_version()
                t0 = time.perf_counter()
                [first] = v1.upload_artifact(local)
                first_s = time.perf_counter() - t0

                v2 = model.new_model_version()
                t0 = time.perf_counter()
                [second] = v2.upload_artifact(local)
                sdk_s = time.perf_counter() - t0
                assert second.sha256 == first.sha256

                v3 = model.new_model_version()
                body = {"path": "model.bin", "sha256": first.sha256, "size": size}
                with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as h:
                    t0 = time.perf_counter()
                    r = h.post(
                        f"/api/v1/models/default/dedup-bench/versions/{v3.number}/files:dedup",
                        json=body,
                    )
                    known_s = time.perf_counter() - t0
                    r.raise_for_status()

            t0 = time.perf_counter()
            with local.open("rb") as f:
                hashlib.file_digest(f, "sha256")
            hash_s = time.perf_counter() - t0
            blobs = [p for p in (home / "blobs" / "sha256").rglob("*") if p.is_file()]
        finally:
            server.stop()

    mb = size / 1e6
    print(
        f"# dedup_speed  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {platform.node()}  "
        f"{os.cpu_count()} cores  Python {platform.python_version()}"
    )
    print(f"file: {size / MIB:,.0f} MiB of random bytes; blobs stored afterwards: {len(blobs)}")
    print(
        f"first upload (SDK: hash + session chunks + finish): {first_s:8.3f} s  "
        f"({mb / first_s:,.0f} MB/s)"
    )
    print(
        f"second version, SDK upload_artifact (local hash + dedup): {sdk_s:8.3f} s  "
        f"ratio {sdk_s / first_s:.4f}  (local SHA-256 alone: {hash_s:.3f} s)"
    )
    print(
        f"second version, known SHA-256 (one POST files:dedup): {known_s * 1000:8.2f} ms  "
        f"ratio {known_s / first_s:.5f}  goal < {GOAL}: "
        f"{'met' if known_s / first_s < GOAL else 'missed'}"
    )


if __name__ == "__main__":
    main()
