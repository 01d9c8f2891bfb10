"""``modelyard tags``: move unique tags between versions and read their history."""

from __future__ import annotations

import click

from modelyard.cli._common import Env, json_option, pass_env, print_json, print_table


@click.group()
def tags() -> None:
    """Unique tags (production, staging, ...) of a model's versions."""


@tags.command("set")
@click.argument("ref", metavar="NS/NAME")
@click.argument("tag")
@click.argument("version")
@json_option
@pass_env
def set_tag(env: Env, ref: str, tag: str, version: str, as_json: bool) -> None:
    """Move TAG to VERSION (label or number); it leaves whichever version held it."""
    moved = env.model(ref).set_tag(tag, version)
    if as_json:
        print_json(moved.info)
    else:
        click.echo(f"{tag} -> version {moved.version} (#{moved.number})")


@tags.command("list")
@click.argument("ref", metavar="NS/NAME")
@json_option
@pass_env
def list_tags(env: Env, ref: str, as_json: bool) -> None:
    """Current tags of NS/NAME and the version number holding each."""
    current = env.model(ref).tags()
    if as_json:
        print_json(current)
        return
    rows = [{"tag": t, "version_number": n} for t, n in sorted(current.items())]
    print_table(rows, ("tag", "version_number"))


@tags.command("history")
@click.argument("ref", metavar="NS/NAME")
@click.argument("tag")
@json_option
@pass_env
def tag_history(env: Env, ref: str, tag: str, as_json: bool) -> None:
    """Every move of TAG, oldest first: which version, from which, who, when."""
    columns = ("action", "version_number", "previous_version_number", "moved_by", "moved_at")
    print_table(env.model(ref).tag_history(tag), columns, as_json)
