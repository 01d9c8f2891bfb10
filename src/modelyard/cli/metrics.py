"""``modelyard metrics``: log and list metrics of a model or a version."""

from __future__ import annotations

import click

from modelyard.cli._common import Env, json_option, pass_env, print_table
from modelyard.client.resources import MetricValue, Model, ModelVersion

METRIC_COLUMNS = ("key", "value", "step", "wallclock")


def _parse(item: str) -> tuple[str, MetricValue]:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{item!r}: expected key=value", param_hint="METRICS")
    try:
        return key, float(raw)
    except ValueError:
        return key, raw


def _target(env: Env, ref: str, version: str | None) -> Model | ModelVersion:
    model = env.model(ref)
    return model if version is None else model.get_version(version)


@click.group()
def metrics() -> None:
    """Log and list metrics of a model or of one of its versions."""


@metrics.command("log")
@click.argument("ref", metavar="NS/NAME")
@click.argument("items", nargs=-1, required=True, metavar="[VERSION] KEY=VALUE...")
@click.option("--step", type=int, help="Training step (e.g. epoch) of these values.")
@click.option("--wallclock", type=float, help="Unix seconds; default now.")
@json_option
@pass_env
def log_metrics(
    env: Env,
    ref: str,
    items: tuple[str, ...],
    step: int | None,
    wallclock: float | None,
    as_json: bool,
) -> None:
    """Log KEY=VALUE pairs on NS/NAME, or on VERSION when the first item has no '='.
    Values that parse as numbers are numbers, others are strings."""
    version = items[0] if "=" not in items[0] else None
    pairs = items[1:] if version is not None else items
    if not pairs:
        raise click.UsageError("no KEY=VALUE given")
    values = dict(_parse(p) for p in pairs)
    logged = _target(env, ref, version).log_metrics(values, step=step, wallclock=wallclock)
    print_table(logged, METRIC_COLUMNS, as_json)


@metrics.command("list")
@click.argument("ref", metavar="NS/NAME")
@click.argument("version", required=False)
@click.option("--key", help="Only this key.")
@json_option
@pass_env
def list_metrics(env: Env, ref: str, version: str | None, key: str | None, as_json: bool) -> None:
    """List metrics of NS/NAME (or of VERSION) by key, then step."""
    print_table(_target(env, ref, version).metrics(key), METRIC_COLUMNS, as_json)
