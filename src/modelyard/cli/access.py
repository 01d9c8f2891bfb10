"""``modelyard teams``, ``modelyard namespaces`` and ``modelyard audit``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import click

from modelyard.api.schemas import TeamOut
from modelyard.cli._common import Env, json_option, pass_env, print_json, print_table

TEAM_COLUMNS = ("name", "members", "description", "created_at")


@click.group()
def teams() -> None:
    """Teams (OpenSearch's backend roles): restricted models list the teams that read them."""


@teams.command("create")
@click.argument("name")
@click.option("--description")
@json_option
@pass_env
def create_team(env: Env, name: str, description: str | None, as_json: bool) -> None:
    """(Admins) create team NAME."""
    print_table([env.client.create_team(name, description)], TEAM_COLUMNS, as_json)


@teams.command("list")
@json_option
@pass_env
def list_teams(env: Env, as_json: bool) -> None:
    """Every team (admins) or yours."""
    print_table(env.client.list_teams(), TEAM_COLUMNS, as_json)


@teams.command("add")
@click.argument("team")
@click.argument("users", nargs=-1, required=True)
@pass_env
def add_members(env: Env, team: str, users: tuple[str, ...]) -> None:
    """(Admins) add USERS to TEAM."""
    _members(team, users, env.client.add_team_member)


@teams.command("remove")
@click.argument("team")
@click.argument("users", nargs=-1, required=True)
@pass_env
def remove_members(env: Env, team: str, users: tuple[str, ...]) -> None:
    """(Admins) take USERS out of TEAM."""
    _members(team, users, env.client.remove_team_member)


def _members(team: str, users: tuple[str, ...], change: Callable[[str, str], TeamOut]) -> None:
    for user in users:
        found = change(team, user)
    click.echo(f"{team}: {', '.join(found.members) or '-'}")


@teams.command("delete")
@click.argument("team")
@pass_env
def delete_team(env: Env, team: str) -> None:
    """(Admins) delete TEAM."""
    env.client.delete_team(team)
    click.echo(f"deleted team {team}")


@click.group()
def namespaces() -> None:
    """Namespaces and their members (reader, writer, admin)."""


@namespaces.command("list")
@json_option
@pass_env
def list_namespaces(env: Env, as_json: bool) -> None:
    """Namespaces you are in or can read a model in."""
    print_table(env.client.list_namespaces(), ("name", "open", "created_at"), as_json)


@namespaces.command("create")
@click.argument("name")
@click.option("--open", "is_open", is_flag=True, help="Any user may create models in it.")
@json_option
@pass_env
def create_namespace(env: Env, name: str, is_open: bool, as_json: bool) -> None:
    """Create namespace NAME; you become its admin."""
    created = env.client.create_namespace(name, open=is_open)
    print_json(created) if as_json else click.echo(f"created {name} (open: {created.open})")


@namespaces.command("show")
@click.argument("name")
@json_option
@pass_env
def show_namespace(env: Env, name: str, as_json: bool) -> None:
    """A namespace; its members if you administer it."""
    found = env.client.get_namespace(name)
    if as_json:
        print_json(found)
        return
    click.echo(f"name: {found.name}\nopen: {found.open}")
    if found.members is not None:
        print_table(found.members, ("user", "role"))


@namespaces.command("set")
@click.argument("name")
@click.option("--open/--closed", "is_open", required=True, help="Who may create models in it.")
@pass_env
def set_namespace(env: Env, name: str, is_open: bool) -> None:
    """(Namespace admins) open or close NAME."""
    env.client.update_namespace(name, open=is_open)
    click.echo(f"{name} is {'open' if is_open else 'closed'}")


@namespaces.command("member")
@click.argument("name")
@click.argument("user")
@click.option(
    "--role",
    type=click.Choice(["reader", "writer", "admin", "none"]),
    required=True,
    help="none: take USER out of the namespace.",
)
@pass_env
def set_member(env: Env, name: str, user: str, role: str) -> None:
    """(Namespace admins) give USER a ROLE in namespace NAME."""
    if role == "none":
        env.client.remove_namespace_member(name, user)
        click.echo(f"{user} is no longer a member of {name}")
    else:
        env.client.set_namespace_member(name, user, role)
        click.echo(f"{user} is a {role} of {name}")


@click.command()
@click.option("--actor", help="Only what this user did.")
@click.option("--action", help="An action such as model.delete, or a prefix such as 'model.'.")
@click.option("--outcome", type=click.Choice(["success", "denied", "failed"]))
@click.option("--namespace")
@click.option("--model", help="A model name (with --namespace to be exact).")
@click.option("--since", type=click.DateTime(), help="From this time (UTC).")
@click.option("--until", type=click.DateTime(), help="Before this time (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@pass_env
def audit(
    env: Env,
    actor: str | None,
    action: str | None,
    outcome: str | None,
    namespace: str | None,
    model: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """(Admins) the audit log, newest first: who did what, when, from where, and how it
    ended (refused attempts included)."""
    found = env.client.audit_log(
        page_size=min(limit, 1000),
        actor=actor,
        action=action,
        outcome=outcome,
        namespace=namespace,
        model=model,
        since=since,
        until=until,
    )
    rows = [event for _, event in zip(range(limit), found, strict=False)]
    columns = ("id", "at", "actor", "action", "outcome", "namespace", "model", "target", "client")
    print_table(rows, columns, as_json)
