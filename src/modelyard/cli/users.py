"""``modelyard users`` and ``modelyard tokens``: accounts and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
@click.option(
    "--scope",
    type=click.Choice(["read", "write"]),
    default="write",
    show_default=True,
    help="read: the token never changes anything.",
)
@click.option("--expires-in", type=click.IntRange(min=1), help="Days until it stops working.")
@json_option
@pass_env
def create_token(
    env: Env, user: str | None, name: str, scope: str, expires_in: int | None, as_json: bool
) -> None:
    """Print a new API token (shown once; only its hash is stored)."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in) if expires_in else None
    new = env.client.issue_token(user=user, name=name, scope=scope, expires_at=expires_at)
    if as_json:
        print_json(new)
    else:
        click.echo(new.token)


@tokens.command("list")
@click.option("--user", help="Another user's (admins; '*' for everyone's).")
@json_option
@pass_env
def list_tokens(env: Env, user: str | None, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    columns = ("id", "user", "name", "scope", "created_at", "expires_at", "revoked_at")
    print_table(env.client.list_tokens(user), columns, as_json)


@tokens.command("revoke")
@click.argument("token_id")
@pass_env
def revoke_token(env: Env, token_id: str) -> None:
    """Revoke the token TOKEN_ID (from `modelyard tokens list`); it stops working at once."""
    revoked = env.client.revoke_token(token_id)
    click.echo(f"revoked {revoked.id} ({revoked.name}) of {revoked.user}")
