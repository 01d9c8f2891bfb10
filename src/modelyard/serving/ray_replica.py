"""What runs inside the Ray cluster for the Ray serving backend
(:mod:`modelyard.serving.ray_backend`).

- :class:`BundleStore`, one detached actor per Ray namespace, keeps each served version's files
  (a tar) in Ray's object store, owned by itself, so a replica that Serve starts or restarts
  after the API server that deployed it died still finds them. The object store spills to disk
  when memory runs short.
- :class:`ModelReplica` is the Serve deployment: each replica fetches the tar once per node,
  unpacks it, loads the model through its flavor and answers predictions in one executor
  thread (the event loop keeps answering Serve's health checks). ``reconfigure`` applies the
  batching settings and request timeout without a restart; ``check_health`` fails while a
  prediction has run past the request timeout, so Serve replaces a hung replica.

Each answer is an :class:`~modelyard.serving.protocol.Outcome` as a dict, never an exception:
the API server tells bad input from a model's fault the same way for both backends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import shutil
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ray
from ray import serve

from modelyard.domain.runtime import RuntimeSpec
from modelyard.serving.batching import run_batch
from modelyard.serving.protocol import Outcome
from modelyard.serving.worker import predict_outcome

#: The bundle store's actor name in the API server's Ray namespace.
BUNDLES = "modelyard-bundles"


@ray.remote(num_cpus=0)
class BundleStore:
    def __init__(self) -> None:
        self._refs: dict[str, ray.ObjectRef] = {}

    def put(self, key: str, data: bytes) -> None:
        self._refs[key] = ray.put(data)

    def has(self, key: str) -> bool:
        return key in self._refs

    def get(self, key: str) -> list[ray.ObjectRef]:
        """The tar's object, in a list (a bare ref would be resolved on the way back)."""
        return [self._refs[key]] if key in self._refs else []

    def drop(self, key: str) -> None:
        self._refs.pop(key, None)


def bundle_store() -> Any:
    return BundleStore.options(name=BUNDLES, lifetime="detached", get_if_exists=True).remote()


def pack(directory: Path) -> bytes:
    """``directory``'s files as an uncompressed tar (model files rarely compress)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(directory, arcname="files")
    return out.getvalue()


def unpack(data: bytes, key: str) -> Path:
    """The bundle's directory on this node, unpacked once (into place by a rename)."""
    root = Path(tempfile.gettempdir()) / "modelyard-ray" / key
    if (root / "complete").is_file():
        return root / "files"
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root.parent))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(scratch, filter="data")
    (scratch / "complete").touch()
    try:
        os.rename(scratch, root)
    except OSError:  # another replica on this node unpacked it first
        shutil.rmtree(scratch, ignore_errors=True)
    return root / "files"


@serve.deployment(health_check_period_s=2, health_check_timeout_s=10, graceful_shutdown_timeout_s=5)
class ModelReplica:
    def __init__(self, key: str, spec: dict[str, Any]) -> None:
        from modelyard.runtime.predictor import load_predictor

        refs = ray.get(bundle_store().get.remote(key))
        if not refs:
            raise RuntimeError(f"the files of {key} are not in the cluster's bundle store")
        self.bundle = unpack(ray.get(refs[0]), key)
        self.predictor = load_predictor(self.bundle, RuntimeSpec.model_validate(spec))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._busy_since: float | None = None
        self._timeout = 30.0
        self._batching = False

    def reconfigure(self, config: dict[str, Any]) -> None:
        size = int(config["max_batch_size"])
        self._batching = size > 1
        self._batch.set_max_batch_size(max(size, 1))
        self._batch.set_batch_wait_timeout_s(float(config["max_wait_ms"]) / 1000)
        self._timeout = float(config["request_timeout_s"])

    def check_health(self) -> None:
        busy = self._busy_since
        if busy is not None and time.monotonic() - busy > self._timeout:
            raise RuntimeError(f"a prediction has run for more than {self._timeout:g} s")

    async def __call__(self, data: Any) -> dict[str, Any]:
        if self._batching:
            return await self._batch(data)
        [outcome] = await self._run([data])
        return outcome

    @serve.batch(max_batch_size=1, batch_wait_timeout_s=0.0)
    async def _batch(self, datas: list[Any]) -> list[dict[str, Any]]:
        return await self._run(datas)

    async def _run(self, datas: list[Any]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        outcomes = await loop.run_in_executor(self._executor, self._predict_all, datas)
        return [dataclasses.asdict(o) for o in outcomes]

    def _predict_all(self, datas: list[Any]) -> list[Outcome]:
        self._busy_since = time.monotonic()
        try:
            return run_batch(lambda data: predict_outcome(self.predictor, self.bundle, data), datas)
        finally:
            self._busy_since = None
