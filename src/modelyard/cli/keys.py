"""``modelyard keys``: the public keys that sign your requests to the OCI dialect."""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.cli._common import Env, json_option, pass_env, print_json, print_table


@click.group()
def keys() -> None:
    """Signing keys (OCI API keys): requests signed with one act as you."""


@keys.command("add")
@click.argument("public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="A label; default the fingerprint.")
@json_option
@pass_env
def add_key(env: Env, public_key: Path, name: str | None, as_json: bool) -> None:
    """Register PUBLIC_KEY (a PEM file, e.g. ~/.oci/oci_api_key_public.pem) and print its
    fingerprint, the one your OCI config names."""
    key = env.client.add_key(public_key.read_text(encoding="ascii"), name)
    if as_json:
        print_json(key)
    else:
        click.echo(key.fingerprint)


@keys.command("list")
@click.option("--user", help="Another user's (admins).")
@json_option
@pass_env
def list_keys(env: Env, user: str | None, as_json: bool) -> None:
    """List your signing keys."""
    print_table(
        env.client.list_keys(user), ("id", "user", "name", "fingerprint", "created_at"), as_json
    )


@keys.command("delete")
@click.argument("key_id")
@pass_env
def delete_key(env: Env, key_id: str) -> None:
    """Delete the key KEY_ID (from `modelyard keys list`); what it signs is refused at once."""
    key = env.client.delete_key(key_id)
    click.echo(f"deleted {key.id} ({key.fingerprint}) of {key.user}")
