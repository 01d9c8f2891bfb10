"""Serving workers, end to end: real models in real worker processes, called through replicas.

Each test starts its own worker (a replica is bound to the event loop of its ``asyncio.run``).
The models are tiny: a scikit-learn classifier saved as skops, and ``score.py`` bundles that
need only the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.runtime.flavors.sklearn import SklearnFlavor
from modelyard.serving.errors import (
    PredictionFailed,
    PredictionTimeout,
    ReplicaFailed,
    ReplicaGone,
)
from modelyard.serving.replica import Replica, start_replica

Bundle = tuple[Path, RuntimeSpec]

ROWS = np.random.default_rng(1).random((32, 4)).round(3).tolist()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short private directory for sockets (AF_UNIX paths hold at most 107 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="my-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[LogisticRegression, Bundle]:
    """A logistic regression of 4 features, and its skops bundle."""
    x = np.random.default_rng(0).random((60, 4))
    model = LogisticRegression().fit(x, (x[:, 0] + x[:, 1] > 1).astype(int))
    bundle = tmp_path_factory.mktemp("sklearn")
    return model, (bundle, SklearnFlavor(format="skops").save(model, bundle))


def score_bundle(directory: Path, source: str) -> Bundle:
    """A python-flavor bundle: ``score.py`` is ``source``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "score.py").write_text(dedent(source))
    return directory, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py")


DOUBLER = """\
    import os
    import sys
    import time


    def load_model():
        return 2


    def predict(data, model=None):
        {body}
        return [row * model for row in data]
    """


def doubler(directory: Path, body: str = "pass") -> Bundle:
    """A bundle whose predict runs ``body`` (one line), then doubles each row."""
    return score_bundle(directory, DOUBLER.replace("{body}", body))


@contextlib.asynccontextmanager
async def running(bundle: Bundle, socket_dir: Path, **options: Any) -> AsyncIterator[Replica]:
    replica = await start_replica(*bundle, socket_path=socket_dir / "r.sock", **options)
    try:
        yield replica
    finally:
        await replica.kill()


def predicted(model: LogisticRegression, rows: list[list[float]]) -> list[int]:
    return model.predict(np.asarray(rows)).tolist()


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie nobody reaped yet counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_answers_equal_the_models_for_single_and_concurrent_requests(
    classifier: tuple[LogisticRegression, Bundle], socket_dir: Path
) -> None:
    model, bundle = classifier

    async def scenario() -> None:
        async with running(bundle, socket_dir) as replica:
            assert await replica.predict(ROWS[:3], timeout=10) == predicted(model, ROWS[:3])
            answers = await asyncio.gather(*(replica.predict([r], timeout=10) for r in ROWS))
            assert answers == [predicted(model, [r]) for r in ROWS]
            status = await replica.ping(timeout=5)
            assert status["pid"] == replica.pid
            assert status["busy_for"] == 0
            assert status["requests"] == status["batches"] == 1 + len(ROWS)  # no batching
            assert replica.in_flight == 0 and replica.alive

    asyncio.run(scenario())


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(
    classifier: tuple[LogisticRegression, Bundle], socket_dir: Path
) -> None:
    model, bundle = classifier

    async def scenario() -> None:
        async with running(bundle, socket_dir, max_batch_size=16, max_wait_ms=20) as replica:
            answers = await asyncio.gather(*(replica.predict([r], timeout=10) for r in ROWS))
            assert answers == [predicted(model, [r]) for r in ROWS]
            status = await replica.ping(timeout=5)
            assert status["requests"] == len(ROWS)
            assert 2 <= status["batches"] < len(ROWS)

    asyncio.run(scenario())


def test_an_object_of_lists_is_split_back_by_each_requests_rows(
    tmp_path: Path, socket_dir: Path
) -> None:
    source = """\
        def load_model():
            return None


        def predict(data, model=None):
            return {"sums": [sum(row) for row in data], "firsts": [row[0] for row in data]}
        """
    bundle = score_bundle(tmp_path / "columns", source)
    requests = [[[i, 1]] * (1 + i % 3) for i in range(12)]

    async def scenario() -> None:
        async with running(bundle, socket_dir, max_batch_size=16, max_wait_ms=50) as replica:
            answers = await asyncio.gather(*(replica.predict(d, timeout=10) for d in requests))
            status = await replica.ping(timeout=5)
        assert answers == [
            {"sums": [sum(row) for row in data], "firsts": [row[0] for row in data]}
            for data in requests
        ]
        assert status["batches"] < status["requests"] == len(requests)

    asyncio.run(scenario())


def test_data_of_the_wrong_shape_fails_alone_in_its_batch(
    classifier: tuple[LogisticRegression, Bundle], socket_dir: Path
) -> None:
    model, bundle = classifier

    async def scenario() -> None:
        async with running(bundle, socket_dir, max_batch_size=16, max_wait_ms=200) as replica:
            calls = [replica.predict([r], timeout=10) for r in ROWS[:5]]
            calls.insert(2, replica.predict([[1.0, 2.0]], timeout=10))
            answers = await asyncio.gather(*calls, return_exceptions=True)
            status = await replica.ping(timeout=5)
        assert status["batches"] == 1 + 6  # the joined call failed, then one call each
        wrong = answers.pop(2)
        assert isinstance(wrong, PredictionFailed) and wrong.kind == "invalid"
        assert wrong.message.startswith("data:") and "4 features" in wrong.message
        assert answers == [predicted(model, [r]) for r in ROWS[:5]]

    asyncio.run(scenario())


def test_a_predict_that_raises_fails_with_the_models_error(
    tmp_path: Path, socket_dir: Path
) -> None:
    bundle = doubler(tmp_path / "raises", "raise RuntimeError('no luck today')")

    async def scenario() -> None:
        async with running(bundle, socket_dir) as replica:
            with pytest.raises(PredictionFailed) as failed:
                await replica.predict([1], timeout=10)
            assert replica.alive

        assert failed.value.kind == "model"
        assert failed.value.message == (
            "RuntimeError: no luck today (score.py line 11, in predict)"
        )

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        ("os._exit(1)", 1, "exit code 1"),
        ("__import__('ctypes').string_at(0)", -11, "exit code -11, killed by SIGSEGV"),
    ],
)
def test_a_predict_that_kills_the_process_says_so_and_the_replica_exits(
    tmp_path: Path, socket_dir: Path, body: str, code: int, reason: str
) -> None:
    bundle = doubler(tmp_path / "exits", body)

    async def scenario() -> None:
        async with running(bundle, socket_dir) as replica:
            with pytest.raises(ReplicaGone) as died:
                await replica.predict([1], timeout=10)
            assert await asyncio.wait_for(replica.exited(), 5) == code
            assert not replica.alive and replica.returncode == code
            with pytest.raises(ReplicaGone, match=f"is gone \\({reason}\\)"):
                await replica.predict([1], timeout=10)
        assert died.value.message == f"the model's worker process died while predicting ({reason})"

    asyncio.run(scenario())


def test_a_predict_that_hangs_times_out_and_ping_shows_it_busy(
    tmp_path: Path, socket_dir: Path
) -> None:
    bundle = doubler(tmp_path / "hangs", "time.sleep(3600)")

    async def scenario() -> None:
        async with running(bundle, socket_dir) as replica:
            started = time.monotonic()
            with pytest.raises(PredictionTimeout, match=r"did not answer within 0\.5 s"):
                await replica.predict([1], timeout=0.5)
            assert 0.5 <= time.monotonic() - started < 2
            status = await replica.ping(timeout=5)
            assert status["busy_for"] >= 0.5
            assert replica.in_flight == 0 and replica.alive

    asyncio.run(scenario())


def test_a_model_that_does_not_load_fails_the_start_with_its_error(
    tmp_path: Path, socket_dir: Path
) -> None:
    source = """\
        def load_model():
            raise FileNotFoundError("weights.bin is missing")


        def predict(data, model=None):
            return data
        """
    bundle = score_bundle(tmp_path / "broken", source)

    async def scenario() -> None:
        with pytest.raises(ReplicaFailed) as failed:
            await start_replica(*bundle, socket_path=socket_dir / "r.sock")
        assert "FileNotFoundError: weights.bin is missing (score.py line 2" in failed.value.message

    asyncio.run(scenario())
    assert not (socket_dir / "r.sock").exists()
    assert not (socket_dir / "r.spec.json").exists()


def test_a_worker_that_never_gets_ready_is_killed_at_the_ready_timeout(
    tmp_path: Path, socket_dir: Path
) -> None:
    bundle = doubler(tmp_path / "slow")
    (bundle[0] / "score.py").write_text("import time\ntime.sleep(3600)\n")

    async def scenario() -> None:
        with pytest.raises(ReplicaFailed, match=r"did not become ready within 1\.5 s"):
            await start_replica(*bundle, socket_path=socket_dir / "r.sock", ready_timeout=1.5)

    asyncio.run(scenario())


def test_what_the_model_prints_goes_to_the_log_not_the_ready_line(
    tmp_path: Path, socket_dir: Path
) -> None:
    source = """\
        import os

        print('{"ready": false, "error": "printed at import"}')


        def load_model():
            os.write(1, b'{"ready": false, "error": "written on fd 1"}\\n')
            return 3


        def predict(data, model=None):
            print("predicting", data)
            return [x * model for x in data]
        """
    bundle = score_bundle(tmp_path / "chatty", source)

    async def scenario() -> None:
        async with running(bundle, socket_dir) as replica:
            assert await replica.predict([1, 2], timeout=10) == [3, 6]

    asyncio.run(scenario())
    log = (socket_dir / "r.log").read_text()
    assert "printed at import" in log and "written on fd 1" in log and "predicting [1, 2]" in log


def test_stop_lets_the_running_request_finish(tmp_path: Path, socket_dir: Path) -> None:
    bundle = doubler(tmp_path / "slowish", "time.sleep(0.5)")

    async def scenario() -> None:
        replica = await start_replica(*bundle, socket_path=socket_dir / "r.sock")
        answer = asyncio.create_task(replica.predict([21], timeout=10))
        await asyncio.sleep(0.2)
        assert await replica.stop(grace=5) == 0
        assert await answer == [42]
        with pytest.raises(ReplicaGone, match="it was stopped"):
            await replica.predict([1], timeout=10)

    asyncio.run(scenario())
    assert sorted(p.name for p in socket_dir.iterdir()) == ["r.log"]


def test_the_memory_limit_fails_the_allocation_not_the_worker(
    tmp_path: Path, socket_dir: Path
) -> None:
    bundle = doubler(tmp_path / "greedy", "data = data if data else bytearray(8 << 30)")

    async def scenario() -> None:
        async with running(bundle, socket_dir, memory_mb=1024) as replica:
            with pytest.raises(PredictionFailed, match=r"^MemoryError") as failed:
                await replica.predict([], timeout=10)
            assert failed.value.kind == "model"
            assert await replica.predict([1], timeout=10) == [2]

    asyncio.run(scenario())


START_AND_LEAVE = """\
import asyncio, os, sys
from pathlib import Path
from modelyard.domain.runtime import RuntimeSpec
from modelyard.serving.replica import start_replica

async def main():
    bundle, spec, socket = sys.argv[1:]
    replica = await start_replica(
        Path(bundle), RuntimeSpec.model_validate_json(spec), socket_path=Path(socket)
    )
    print(replica.pid, flush=True)
    os._exit(0)  # no clean-up: the worker is left behind, as when a server is killed

asyncio.run(main())
"""


def test_the_worker_exits_when_its_parent_dies(tmp_path: Path, socket_dir: Path) -> None:
    directory, spec = doubler(tmp_path / "orphan")
    arguments = [str(directory), spec.model_dump_json(), str(socket_dir / "r.sock")]
    parent = subprocess.run(
        [sys.executable, "-c", START_AND_LEAVE, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pid = int(parent.stdout)
    try:
        deadline = time.monotonic() + 5
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone(pid)
        assert "the parent process ended" in (socket_dir / "r.log").read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_the_worker_says_ready_once_and_exits_cleanly_on_sigterm(
    tmp_path: Path, socket_dir: Path
) -> None:
    directory, spec = doubler(tmp_path / "direct")
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    command = [sys.executable, "-P", "-m", "modelyard.serving.worker", "--bundle", str(directory)]
    command += ["--spec", str(tmp_path / "spec.json"), "--socket", str(socket_dir / "w.sock")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as worker:
        try:
            assert worker.stdout is not None
            assert json.loads(worker.stdout.readline()) == {"ready": True, "pid": worker.pid}
            assert worker.stdout.read() == b""  # the control channel closes after that line
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=10) == 0
        finally:
            worker.kill()
