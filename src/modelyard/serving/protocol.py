"""The framed protocol between a replica (the API server's side) and its worker process.

One Unix domain socket carries frames both ways: a 4-byte big-endian length, then that many
bytes of UTF-8 JSON holding one object. Requests carry an ``id`` the answer repeats, so many
requests share one connection and answers may come back in any order:

- ``{"id": 1, "op": "predict", "data": <json>}`` answers ``{"id": 1, "ok": true, "result":
  <json>}``, or ``{"id": 1, "ok": false, "error": "<message>", "kind": "invalid" | "model"}``:
  ``invalid`` when the model refused the data (the flavors raise ``InvalidArgument`` for inputs
  of the wrong shape), ``model`` for any other fault of the model's code;
- ``{"id": 2, "op": "ping"}`` answers ``{"id": 2, "ok": true, "result": {"busy_for": <seconds
  the running predict has taken, or 0>, "pid": <int>, "batches": <model calls>, "requests":
  <predict requests taken>, "queued": <requests waiting>}}``.

No frame may exceed :data:`MAX_FRAME_BYTES`: the worker answers an error instead of sending a
larger answer, and the replica refuses to send a larger request, so one oversized payload never
breaks the connection the other requests share.
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass
from typing import Any, Literal

#: The largest frame (its JSON, without the length) either side sends or accepts.
MAX_FRAME_BYTES = 64 << 20

ErrorKind = Literal["invalid", "model"]

_LENGTH = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame could not be read: cut short, longer than allowed, or not a JSON object."""


def encode_frame(obj: Any, max_bytes: int | None = None) -> bytes:
    """``obj`` as one frame. Raises ``ValueError`` or ``TypeError`` for what JSON cannot hold,
    and :class:`ProtocolError` when its JSON is longer than ``max_bytes``."""
    body = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    if max_bytes is not None and len(body) > max_bytes:
        raise ProtocolError(f"a frame of {len(body)} bytes is over the limit of {max_bytes}")
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> dict[str, Any] | None:
    """The next frame's object, or None when the stream ends cleanly between frames."""
    try:
        header = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("the stream ended inside a frame's length") from None
    (size,) = _LENGTH.unpack(header)
    if size > max_bytes:
        raise ProtocolError(f"a frame of {size} bytes is over the limit of {max_bytes}")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(
            f"the stream ended inside a frame ({len(exc.partial)} of {size} bytes)"
        ) from None
    try:
        message = json.loads(body.decode())
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise ProtocolError(f"a frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a frame holds a JSON {type(message).__name__}, not an object")
    return message


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """One request's answer before it is addressed: a result, or an error of some kind."""

    result: Any = None
    error: str | None = None
    kind: ErrorKind | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def message(self, request_id: int) -> dict[str, Any]:
        """The answer frame's object for request ``request_id``."""
        if self.ok:
            return {"id": request_id, "ok": True, "result": self.result}
        return {"id": request_id, "ok": False, "error": self.error, "kind": self.kind}
