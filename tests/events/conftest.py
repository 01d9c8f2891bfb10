"""The registry with its audit log, event stream and webhooks, on SQLite (``hub``), served by
a real server on 127.0.0.1 (``live``), and a webhook receiver on 127.0.0.1 (``receiver``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from events_support import LOOPBACK, Live, Receiver, Registry, make_registry, serve

from modelyard.dispatcher import HttpSender


@pytest.fixture
def hub(sqlite_engine: sa.Engine, tmp_path: Path) -> Registry:
    return make_registry(sqlite_engine, tmp_path / "blobs")


@pytest.fixture
def live(hub: Registry) -> Iterator[Live]:
    sender = HttpSender(LOOPBACK, timeout=2.0)
    try:
        yield from serve(hub, sender)
    finally:
        sender.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()
