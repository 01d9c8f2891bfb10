"""The serving worker: one process that loads one model once and answers its predictions.

Run as ``python -P -m modelyard.serving.worker --bundle DIR --spec SPEC_JSON_FILE --socket PATH
[--max-batch-size N] [--max-wait-ms MS] [--memory-mb N]``
(:func:`modelyard.serving.replica.start_replica` does). In order, the worker:

1. limits its memory as the check sandbox does (:func:`modelyard.runtime.sandbox.limit_memory`)
   and turns faulthandler on, so a crash in native code leaves the Python stack in its log;
2. keeps its stdout for one control line and points fd 1 at stderr (its log), so what the
   model prints, from Python or C, cannot be taken for that line;
3. watches its parent: once the parent has died (the worker has a new parent) it exits;
4. loads the model once (:func:`modelyard.runtime.predictor.load_predictor`), listens on the
   Unix socket (mode 0600) and writes ``{"ready": true, "pid": N}``, or ``{"ready": false,
   "error": "..."}`` and exits with status 3 when loading or listening failed;
5. answers the frames of :mod:`modelyard.serving.protocol` until SIGTERM, then finishes the
   requests it holds (for at most ``STOP_GRACE`` s) and exits.

Predictions run in one thread of their own, so the event loop keeps reading frames and
answering pings while the model works. Predict requests queue; that thread takes up to
``--max-batch-size`` of them at a time -- waiting up to ``--max-wait-ms`` for more, only while
fewer are queued -- and answers them as one batch (:mod:`modelyard.serving.batching`). Under
load, batches form by themselves while the previous call runs, even with a wait of 0. A
predict that kills the process (``os._exit``, a segfault) ends the worker; the replica says so.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import IO, Any, NoReturn

from modelyard.domain.runtime import RuntimeSpec
from modelyard.errors import InvalidArgument
from modelyard.runtime.predictor import Predictor, load_predictor
from modelyard.runtime.sandbox import exit_with_parent, limit_memory
from modelyard.serving.batching import run_batch
from modelyard.serving.protocol import (
    MAX_FRAME_BYTES,
    Outcome,
    ProtocolError,
    encode_frame,
    read_frame,
)

#: The exit status of a worker that could not load its model (or listen).
NOT_READY = 3
#: Seconds a worker told to stop (SIGTERM) may take to answer the requests it holds.
STOP_GRACE = 5.0


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    if args.memory_mb is not None:
        limit_memory(args.memory_mb)
    faulthandler.enable()
    control = _control_channel()
    exit_with_parent()
    try:
        spec = RuntimeSpec.model_validate_json(args.spec.read_text())
        predictor = load_predictor(args.bundle, spec)
    except (Exception, SystemExit) as exc:  # whatever the model's code raised while loading
        _say(control, {"ready": False, "error": describe(exc, args.bundle)})
        _exit(NOT_READY)
    server = _Server(
        predictor,
        args.bundle,
        max_batch_size=args.max_batch_size,
        max_wait=args.max_wait_ms / 1000,
    )
    _exit(asyncio.run(_serve(server, args.socket, control)))


def describe(exc: BaseException, bundle: Path) -> str:
    """``"ValueError: boom"``, plus where in the bundle's code it was raised when it was."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    root = bundle.resolve()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if path.is_absolute() and path.is_relative_to(root):
            where = path.relative_to(root).as_posix()
            return f"{text} ({where} line {frame.lineno}, in {frame.name})"
    return text


# -- the process ------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modelyard.serving.worker")
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--spec", type=Path, required=True, help="a RuntimeSpec JSON file")
    parser.add_argument("--socket", type=Path, required=True, help="the Unix socket to create")
    parser.add_argument("--max-batch-size", type=int, default=1)
    parser.add_argument("--max-wait-ms", type=float, default=0.0)
    parser.add_argument("--memory-mb", type=int, default=None)
    return parser.parse_args(argv)


def _control_channel() -> IO[str]:
    """The worker's stdout, for the ready line only: fd 1 then points at stderr."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def _say(control: IO[str], message: dict[str, Any]) -> None:
    control.write(json.dumps(message) + "\n")
    control.close()


def _exit(status: int) -> NoReturn:
    """End now: threads the model started (or a predict that hangs) must not keep us alive."""
    sys.stderr.flush()
    os._exit(status)


async def _serve(server: _Server, socket: Path, control: IO[str]) -> int:
    umask = os.umask(0o077)  # only this user may connect
    try:
        listener = await asyncio.start_unix_server(server.connection, path=str(socket))
    except OSError as exc:
        _say(control, {"ready": False, "error": f"cannot listen on {socket}: {exc}"})
        return NOT_READY
    finally:
        os.umask(umask)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    server.start()
    _say(control, {"ready": True, "pid": os.getpid()})
    await stopping.wait()
    listener.close()
    await server.finish(STOP_GRACE)
    return 0


# -- serving ----------------------------------------------------------------------------------


class _Channel:
    """One client connection's writing end. Each frame is written whole in one call, so frames
    never interleave; the API server's side reads all the time, so nothing waits to drain."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def send(self, frame: bytes) -> None:
        if not self.writer.is_closing():  # else the client left: nobody to answer
            self.writer.write(frame)


@dataclass(frozen=True, kw_only=True)
class _Request:
    id: Any
    data: Any
    channel: _Channel


def _take_batch(inbox: SimpleQueue[_Request], max_size: int, max_wait: float) -> list[_Request]:
    """The next request, with up to ``max_size - 1`` more: those queued now, and those that
    arrive within ``max_wait`` s (waited for only while too few are queued)."""
    batch = [inbox.get()]
    deadline = time.monotonic() + max_wait
    while len(batch) < max_size:
        left = deadline - time.monotonic()
        try:  # what is queued comes at once; past the deadline, only that
            batch.append(inbox.get(timeout=left) if left > 0 else inbox.get_nowait())
        except Empty:
            break
    return batch


class _Server:
    """The predict requests, the thread that answers them (in batches), and the counters.

    The predict thread takes its next batch as soon as it has answered the last one, without
    a round trip through the event loop: it hands the answer frames to the loop to send and
    goes on. The loop only reads frames, queues them and answers pings.
    """

    def __init__(
        self, predictor: Predictor, bundle: Path, *, max_batch_size: int, max_wait: float
    ) -> None:
        self.predictor = predictor
        self.bundle = bundle
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait = max(0.0, max_wait)
        self.inbox: SimpleQueue[_Request] = SimpleQueue()
        self.busy_since: float | None = None
        self.held = 0  # predict requests taken and not answered yet
        self.batches = 0  # calls of the model
        self.requests = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self.run, args=(loop,), name="predict", daemon=True).start()

    async def finish(self, grace: float) -> None:
        """Wait (at most ``grace`` s) until every request taken has been answered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.held and loop.time() < deadline:
            await asyncio.sleep(0.05)

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = _Channel(writer)
        try:
            while (message := await read_frame(reader, MAX_FRAME_BYTES)) is not None:
                self.take(message, channel)
        except (ProtocolError, ConnectionError) as exc:
            print(f"modelyard worker: dropped a connection: {exc}", file=sys.stderr)
        finally:
            writer.close()

    def take(self, message: dict[str, Any], channel: _Channel) -> None:
        request_id, op = message.get("id"), message.get("op")
        if op == "predict" and "data" in message:
            self.held += 1
            self.requests += 1
            self.inbox.put(_Request(id=request_id, data=message["data"], channel=channel))
        elif op == "ping":
            channel.send(encode_frame(Outcome(result=self.status()).message(request_id)))
        else:
            wrong = Outcome(
                error=f"not a request (op {op!r}): expected op 'predict' with data, or 'ping'",
                kind="invalid",
            )
            channel.send(encode_frame(wrong.message(request_id)))

    def status(self) -> dict[str, Any]:
        busy = self.busy_since
        return {
            "busy_for": 0 if busy is None else time.monotonic() - busy,
            "pid": os.getpid(),
            "batches": self.batches,
            "requests": self.requests,
            "queued": self.inbox.qsize(),
        }

    def run(self, loop: asyncio.AbstractEventLoop) -> None:
        """The predict thread: take batches and answer them, one after another, forever."""
        while True:
            batch = _take_batch(self.inbox, self.max_batch_size, self.max_wait)
            self.busy_since = time.monotonic()
            try:
                frames = self.answer(batch)
            finally:
                self.busy_since = None
            loop.call_soon_threadsafe(self.deliver, batch, frames)

    def deliver(self, batch: list[_Request], frames: list[bytes]) -> None:
        """Send a batch's answers (in the event loop)."""
        for request, frame in zip(batch, frames, strict=True):
            request.channel.send(frame)
        self.held -= len(batch)

    def answer(self, batch: list[_Request]) -> list[bytes]:
        """The answer frames of a batch (this runs the model)."""
        outcomes = run_batch(self.predict, [request.data for request in batch])
        return [_frame(r.id, o) for r, o in zip(batch, outcomes, strict=True)]

    def predict(self, data: Any) -> Outcome:
        self.batches += 1
        return predict_outcome(self.predictor, self.bundle, data)


def predict_outcome(predictor: Predictor, bundle: Path, data: Any) -> Outcome:
    """One model call's outcome; whatever the model raises becomes an error of its kind."""
    try:
        return Outcome(result=predictor.predict(data))
    except InvalidArgument as exc:  # the data has the wrong shape: the message says how
        return Outcome(error=str(exc), kind="invalid")
    except (Exception, SystemExit) as exc:
        return Outcome(error=describe(exc, bundle), kind="model")


def _frame(request_id: Any, outcome: Outcome) -> bytes:
    """The answer frame, or an error frame when the answer cannot be sent."""
    try:
        return encode_frame(outcome.message(request_id), MAX_FRAME_BYTES)
    except (TypeError, ValueError) as exc:
        error = f"the answer is not JSON: {exc}"
    except ProtocolError as exc:
        error = f"the answer is too large to send: {exc}"
    return encode_frame(Outcome(error=error, kind="model").message(request_id))


if __name__ == "__main__":
    main()
