"""What every command shares: the SDK client, name parsing, tables/JSON and progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import click
from pydantic import BaseModel

from modelyard.client import Client
from modelyard.client.client import split_name
from modelyard.client.resources import Model
from modelyard.domain.runtime import CheckReport

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Env:
    """The global options; the client is opened on first use (``server`` never needs it)."""

    url: str | None
    token: str | None
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.url, self.token)
        return self._client

    def model(self, ref: str) -> Model:
        return self.client.get_model(ref)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


pass_env = click.make_pass_decorator(Env)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(f)


def model_ref(value: str) -> tuple[str, str]:
    """NS/NAME (or NAME in namespace ``default``)."""
    return split_name(value)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(_plain(value), sort_keys=True) if value else "-"
    return str(value)


def print_json(data: Any) -> None:
    click.echo(json.dumps(_plain(data), indent=2, sort_keys=True))


def print_table(rows: Iterable[Any], columns: Sequence[str], as_json: bool = False) -> None:
    """Rows (objects or dicts) as an aligned table, or as a JSON list with every field."""
    rows = list(rows)
    if as_json:
        print_json([r if isinstance(r, dict | BaseModel) else vars(r) for r in rows])
        return
    cells = [[_cell(r[c] if isinstance(r, dict) else getattr(r, c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = [[c.upper() for c in columns], *cells]
    for line in lines:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def print_record(record: BaseModel, fields: Sequence[str], as_json: bool = False) -> None:
    """One object as ``field: value`` lines, or its whole JSON."""
    if as_json:
        print_json(record)
        return
    width = max(len(f) for f in fields)
    for f in fields:
        click.echo(f"{f + ':':<{width + 1}} {_cell(getattr(record, f))}")


def print_check_report(report: CheckReport) -> None:
    """A check report as one line per check, then its overall state."""
    print_table(report.results, ("id", "status", "message"))
    if report.message:
        click.echo(report.message)
    click.echo(f"checks: {report.state}")


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A byte-counting bar on stderr; yields the SDK's progress callback."""
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update
