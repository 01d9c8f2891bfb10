"""The frames between a replica and its worker: whole frames read back, broken ones refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelyard.serving.protocol import Outcome, ProtocolError, encode_frame, read_frame


def read_all(stream: bytes, max_bytes: int = 1000) -> list[dict[str, Any] | None]:
    """The frames ``stream`` holds, ending with read_frame's None at its end."""

    async def scenario() -> list[dict[str, Any] | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(stream)
        reader.feed_eof()
        frames: list[dict[str, Any] | None] = []
        while not frames or frames[-1] is not None:
            frames.append(await read_frame(reader, max_bytes))
        return frames

    return asyncio.run(scenario())


def test_frames_read_back_in_order_then_none_at_a_clean_end() -> None:
    first = {"id": 1, "op": "predict", "data": [[1.5, "é"]]}
    second = {"id": 2, "op": "ping"}
    frame = encode_frame(first)
    assert frame[:4] == len(frame[4:]).to_bytes(4, "big")
    assert read_all(frame + encode_frame(second)) == [first, second, None]
    assert read_all(b"") == [None]


@pytest.mark.parametrize(
    ("stream", "error"),
    [
        (b"\x00\x00", "inside a frame's length"),
        (encode_frame({"id": 1})[:-2], r"inside a frame \(6 of 8 bytes\)"),
        (encode_frame({"data": "x" * 2000}), "over the limit of 1000"),
        (b"\x00\x00\x00\x03{1]", "not JSON"),
        (b"\x00\x00\x00\x02\xff\xfe", "not JSON"),
        (encode_frame([1, 2]), "a JSON list, not an object"),
    ],
)
def test_a_broken_frame_is_a_protocol_error(stream: bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        read_all(stream)


def test_encoding_refuses_what_json_cannot_hold_and_frames_over_the_limit() -> None:
    with pytest.raises(ValueError):
        encode_frame({"x": float("nan")})
    with pytest.raises(ProtocolError, match="over the limit of 10"):
        encode_frame({"data": "0123456789"}, max_bytes=10)


def test_outcomes_become_answers() -> None:
    assert Outcome(result=[1]).message(7) == {"id": 7, "ok": True, "result": [1]}
    assert Outcome(error="data: bad", kind="invalid").message(8) == {
        "id": 8,
        "ok": False,
        "error": "data: bad",
        "kind": "invalid",
    }
