"""``modelyard webhooks`` (a namespace's webhooks) and ``modelyard events`` (follow the event
stream)."""

from __future__ import annotations

import json

import click

from modelyard.cli._common import Env, json_option, pass_env, print_json, print_record, print_table
from modelyard.client import events as calls
from modelyard.client._transport import Transport

WEBHOOK_FIELDS = ("id", "namespace", "url", "events", "active", "created_by", "created_at")
DELIVERY_COLUMNS = (
    "event_id",
    "action",
    "state",
    "attempts",
    "last_status",
    "last_error",
    "next_attempt_at",
    "delivered_at",
)


def _transport(env: Env) -> Transport:
    return env.client._t  # the client's connection: its URL, token and pool


@click.group()
def webhooks() -> None:
    """Webhooks: POST a namespace's events to a URL, signed (namespace admins)."""


@webhooks.command("create")
@click.argument("namespace")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="ACTION",
    help="Only this action (model.create) or prefix (version.); repeat. Default: every event.",
)
@click.option("--secret", help="Signing secret (16-128 characters); default: one is made.")
@json_option
@pass_env
def create(
    env: Env, namespace: str, url: str, events: tuple[str, ...], secret: str | None, as_json: bool
) -> None:
    """POST NAMESPACE's events to URL from now on; prints the signing secret, once."""
    created = calls.create_webhook(_transport(env), namespace, url, list(events) or None, secret)
    if as_json:
        print_json(created)
        return
    print_record(created, (*WEBHOOK_FIELDS, "secret"))
    click.echo("keep the secret: it is not shown again", err=True)


@webhooks.command("list")
@click.argument("namespace")
@json_option
@pass_env
def list_(env: Env, namespace: str, as_json: bool) -> None:
    """NAMESPACE's webhooks (without their secrets)."""
    found = calls.list_webhooks(_transport(env), namespace)
    print_table(found, ("id", "url", "events", "active", "created_by"), as_json)


@webhooks.command("delete")
@click.argument("namespace")
@click.argument("webhook_id", metavar="ID")
@pass_env
def delete(env: Env, namespace: str, webhook_id: str) -> None:
    """Delete a webhook and its delivery history."""
    calls.delete_webhook(_transport(env), namespace, webhook_id)
    click.echo(f"deleted webhook {webhook_id}")


@webhooks.command("deliveries")
@click.argument("namespace")
@click.argument("webhook_id", metavar="ID")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@pass_env
def deliveries(env: Env, namespace: str, webhook_id: str, limit: int, as_json: bool) -> None:
    """A webhook's deliveries, newest first: state, attempts, last answer or error."""
    found = calls.list_deliveries(_transport(env), namespace, webhook_id, page_size=limit)
    rows = [d for _, d in zip(range(limit), found, strict=False)]
    print_table(rows, DELIVERY_COLUMNS, as_json)


@click.command("events")
@click.option("--since", type=click.IntRange(min=0), help="Start after this event id (0: all).")
@click.option("--namespace", help="Only this namespace's events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_env
def events(env: Env, since: int | None, namespace: str | None, as_json: bool) -> None:
    """Follow changes to the models you can read, one line each, until interrupted."""
    for event in calls.iter_events(_transport(env), since, namespace):
        if as_json:
            click.echo(json.dumps(event.model_dump(mode="json"), sort_keys=True))
            continue
        where = f"{event.namespace}/{event.model}" + (f"@{event.version}" if event.version else "")
        at = event.at.isoformat(timespec="seconds")
        click.echo(f"{event.id}  {at}  {event.action:<18} {where}  by {event.actor or '-'}")
