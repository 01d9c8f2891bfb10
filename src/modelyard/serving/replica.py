"""The API server's side of a serving worker: start it, call it, notice it die, stop it.

:func:`start_replica` spawns ``python -P -m modelyard.serving.worker`` (see
:mod:`modelyard.serving.worker`) in a process group of its own, its stderr appended to a log
beside the socket, waits for its ready line and connects to its Unix socket. The
:class:`Replica` it returns multiplexes any number of concurrent requests over that one
connection: each frame carries an id, and one reader task hands each answer to the request
that waits for it (:mod:`modelyard.serving.protocol`).

This runs in the API server's event loop: it imports no model code and never blocks. Faults
come back as :mod:`modelyard.serving.errors`: the model refused the data or raised
(:class:`PredictionFailed`), took too long (:class:`PredictionTimeout`), or its process died
(:class:`ReplicaGone`, with the exit code or signal). A replica whose connection breaks while
its process lives on is killed, so :meth:`Replica.exited` always tells a supervisor when a
replica has become useless. Call :meth:`Replica.stop` (or :meth:`Replica.kill`) once done with
a replica, dead or alive: it also ends whatever the model started and removes the socket.

The socket's directory should be private to this user (only the worker's user may connect to
the socket itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from modelyard.domain.runtime import RuntimeSpec
from modelyard.runtime.sandbox import worker_env
from modelyard.serving.errors import (
    PredictionFailed,
    PredictionTimeout,
    ReplicaFailed,
    ReplicaGone,
)
from modelyard.serving.protocol import MAX_FRAME_BYTES, ProtocolError, encode_frame, read_frame

#: The longest socket path AF_UNIX takes (108 bytes with the terminating NUL, on Linux).
MAX_SOCKET_PATH = 107
#: Seconds a worker whose connection dropped may take to exit before it is killed.
_EXIT_WAIT = 2.0
_LOG_TAIL = 1500


async def start_replica(
    bundle: Path,
    spec: RuntimeSpec,
    *,
    socket_path: Path,
    python: str = sys.executable,
    max_batch_size: int = 1,
    max_wait_ms: float = 0,
    memory_mb: int | None = None,
    ready_timeout: float = 120,
) -> Replica:
    """Start a worker serving ``bundle`` with ``spec`` on ``socket_path`` and connect to it.

    Writes the spec beside the socket (``<socket>.spec.json``) and the worker's stderr to
    ``<socket>.log`` (appended). Raises :class:`ReplicaFailed` with the worker's error (or the
    end of its log) when it does not become ready within ``ready_timeout`` seconds.
    """
    socket_path = socket_path.absolute()
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH:
        raise ReplicaFailed(
            f"the socket path {socket_path} is longer than the {MAX_SOCKET_PATH} bytes a Unix "
            "socket's path may have; choose a shorter directory"
        )
    spec_path = socket_path.with_suffix(".spec.json")
    spec_path.write_text(spec.model_dump_json())
    command = [python, "-P", "-m", "modelyard.serving.worker", "--bundle", str(bundle.resolve())]
    command += ["--spec", str(spec_path), "--socket", str(socket_path)]
    command += ["--max-batch-size", str(max_batch_size), "--max-wait-ms", f"{max_wait_ms:g}"]
    if memory_mb is not None:
        command += ["--memory-mb", str(memory_mb)]
    log = _Log(socket_path.with_suffix(".log"))
    try:
        process = await log.spawn(command, cwd=bundle.resolve())
    except ReplicaFailed:
        _remove(spec_path)
        raise
    try:
        await _ready(process, ready_timeout, log)
        reader, writer = await _connect(socket_path)
    except BaseException:  # cancelled too: never leave a worker behind
        _signal_group(process.pid, signal.SIGKILL)
        await process.wait()
        _remove(socket_path, spec_path)
        raise
    return Replica(process, reader, writer, files=(socket_path, spec_path))


class Replica:
    """A running worker and the connection to it (made by :func:`start_replica`)."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        files: tuple[Path, ...],
    ) -> None:
        self._process = process
        self._writer = writer
        self._files = files
        self._write_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        #: Requests sent and not answered; a future holds None when the connection was lost.
        self._pending: dict[int, asyncio.Future[dict[str, Any] | None]] = {}
        self._stopping = False
        #: Why the replica can no longer answer, once it cannot.
        self._gone: str | None = None
        self._listener = asyncio.create_task(self._listen(reader))

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending)

    @property
    def alive(self) -> bool:
        return self._gone is None and self._process.returncode is None

    @property
    def returncode(self) -> int | None:
        """The worker's exit status (minus the signal that killed it); None while it runs."""
        return self._process.returncode

    async def predict(self, data: Any, timeout: float) -> Any:
        """The model's answer to ``data``; raises :class:`PredictionFailed` when the model
        raised, :class:`PredictionTimeout` after ``timeout`` s, :class:`ReplicaGone`."""
        answer = await self._call(
            {"op": "predict", "data": data},
            timeout,
            doing="predicting",
            late=f"the model did not answer within {timeout:g} s",
        )
        if answer.get("ok"):
            return answer.get("result")
        kind = "invalid" if answer.get("kind") == "invalid" else "model"
        raise PredictionFailed(str(answer.get("error")), kind)

    async def ping(self, timeout: float) -> dict[str, Any]:
        """The worker's status: ``busy_for`` (seconds the running predict has taken, else 0),
        ``pid``, ``batches`` (model calls), ``requests`` and ``queued``."""
        answer = await self._call(
            {"op": "ping"},
            timeout,
            doing="answering a ping",
            late=f"the model's worker did not answer a ping within {timeout:g} s",
        )
        return dict(answer.get("result") or {})

    async def exited(self) -> int:
        """Wait until the worker process has exited; its return code."""
        return await self._process.wait()

    async def stop(self, grace: float = 5.0) -> int:
        """SIGTERM the worker (it finishes the requests it holds), SIGKILL it after ``grace``
        s; then end what the model started and clean up. The return code."""
        self._stopping = True
        _signal_group(self.pid, signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self._process.wait(), grace)
        except TimeoutError:
            return await self.kill()
        await self._close()
        return code

    async def kill(self) -> int:
        """SIGKILL the worker and what the model started at once; clean up. The return code."""
        self._stopping = True
        _signal_group(self.pid, signal.SIGKILL)
        code = await self._process.wait()
        await self._close()
        return code

    async def _close(self) -> None:
        _signal_group(self.pid, signal.SIGKILL)  # what the model started may still run
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
        await self._listener
        _remove(*self._files)

    async def _call(
        self, request: dict[str, Any], timeout: float, *, doing: str, late: str
    ) -> dict[str, Any]:
        if self._gone is not None:
            raise ReplicaGone(f"the model's worker process is gone ({self._gone})")
        request_id = next(self._ids)
        frame = _request_frame({"id": request_id, **request})
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            async with asyncio.timeout(timeout):
                await self._send(frame)
                answer = await future
        except TimeoutError:
            raise PredictionTimeout(late) from None
        finally:
            del self._pending[request_id]
        if answer is None:
            raise ReplicaGone(f"the model's worker process died while {doing} ({self._gone})")
        return answer

    async def _send(self, frame: bytes) -> None:
        async with self._write_lock:
            self._writer.write(frame)
            with contextlib.suppress(ConnectionError):  # the reader task tells what happened
                await self._writer.drain()

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        """Hand each answer to its request until the connection ends; then fail the rest."""
        why = "the connection closed"
        try:
            while (message := await read_frame(reader, MAX_FRAME_BYTES)) is not None:
                future = self._pending.get(message.get("id"))
                if future is not None and not future.done():
                    future.set_result(message)
        except (ProtocolError, OSError) as exc:
            why = str(exc)
        self._gone = await self._lost(why)
        for future in self._pending.values():
            if not future.done():
                future.set_result(None)

    async def _lost(self, why: str) -> str:
        """Why the connection ended: the worker's exit, else a broken connection (the worker
        is then killed: it can no longer be reached)."""
        try:
            code = await asyncio.wait_for(self._process.wait(), _EXIT_WAIT)
        except TimeoutError:
            _signal_group(self.pid, signal.SIGKILL)
            await self._process.wait()
            return f"its connection broke ({why}), so it was killed"
        if self._stopping:
            return "it was stopped"
        return exit_reason(code)


def exit_reason(code: int) -> str:
    """``"exit code 1"``, or ``"exit code -11, killed by SIGSEGV"`` for a signal."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"exit code {code}, killed by {name}"


def _request_frame(request: dict[str, Any]) -> bytes:
    try:
        return encode_frame(request, MAX_FRAME_BYTES)
    except (TypeError, ValueError) as exc:
        raise PredictionFailed(f"data: not JSON ({exc})", "invalid") from None
    except ProtocolError as exc:
        raise PredictionFailed(f"data: the request is too large ({exc})", "invalid") from None


async def _ready(process: asyncio.subprocess.Process, timeout: float, log: _Log) -> None:
    """Wait for the worker's ready line; :class:`ReplicaFailed` says why it did not come."""
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
    except TimeoutError:
        raise ReplicaFailed(
            f"the model's worker did not become ready within {timeout:g} s{log.tail()}"
        ) from None
    if not line:
        code = await process.wait()
        raise ReplicaFailed(
            f"the model's worker ended ({exit_reason(code)}) before it was ready{log.tail()}"
        )
    try:
        message = json.loads(line)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise ReplicaFailed(f"the model's worker wrote {line[:200]!r} instead of its ready line")
    if not message.get("ready"):
        raise ReplicaFailed(f"the model could not be served: {message.get('error')}")


async def _connect(socket_path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(str(socket_path))
    except OSError as exc:
        raise ReplicaFailed(f"cannot connect to the model's worker: {exc}") from None


#: A replica computes on one thread unless the server's environment says otherwise: math
#: libraries otherwise start a thread per core in every replica, which then fight each other
#: (and the API server) for the cores; a torch MLP's batched throughput on two cores went from
#: 1.0x to 2.5x its unbatched one with this. Scale a deployment with replicas instead.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


class _Log:
    """The worker's stderr: appended to ``path``; what this start wrote is its tail."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = 0

    async def spawn(self, command: list[str], *, cwd: Path) -> asyncio.subprocess.Process:
        env = {**ONE_THREAD, **worker_env()}  # the server's own settings win
        with self.path.open("ab") as stderr:
            self.start = os.fstat(stderr.fileno()).st_size
            try:
                return await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=stderr,
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ReplicaFailed(f"cannot start the worker ({command[0]}): {exc}") from None

    def tail(self) -> str:
        """``"; its log ends: ..."``: the last lines of this start's log, or ""."""
        try:
            with self.path.open("rb") as file:
                size = file.seek(0, os.SEEK_END)
                file.seek(max(self.start, size - 4 * _LOG_TAIL))
                text = file.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        said = " | ".join(lines)[-_LOG_TAIL:]
        return f"; its log ends: {said}" if said else ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the worker's process group: the worker and what its model started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
