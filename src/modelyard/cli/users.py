"""``modelyard users`` and ``modelyard tokens``: accounts and API tokens."""

from __future__ import annotations

import click

from modelyard.cli._common import Env, json_option, pass_env, print_json, print_table


@click.group()
def users() -> None:
    """Create and list users (admins only)."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@json_option
@pass_env
def create_user(env: Env, name: str, admin: bool, as_json: bool) -> None:
    """Create user NAME and print an API token for it (shown once)."""
    user = env.client.create_user(name, is_admin=admin)
    token = env.client.create_token(user=user.name)
    if as_json:
        print_json({**user.model_dump(mode="json"), "token": token})
    else:
        click.echo(token)


@users.command("list")
@json_option
@pass_env
def list_users(env: Env, as_json: bool) -> None:
    """List users."""
    print_table(env.client.list_users(), ("name", "is_admin", "created_at"), as_json)


@click.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.option("--user", help="For this user (admins only); default you.")
@click.option("--name", default="api", show_default=True, help="A name to recognise it by.")
@json_option
@pass_env
def create_token(env: Env, user: str | None, name: str, as_json: bool) -> None:
    """Print a new API token (shown once; only its hash is stored)."""
    token = env.client.create_token(user=user, name=name)
    if as_json:
        print_json({"token": token, "user": user or env.client.whoami().name})
    else:
        click.echo(token)
