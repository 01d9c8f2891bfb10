"""``modelyard models``: create, list and show models."""

from __future__ import annotations

import click

from modelyard.cli._common import (
    Env,
    json_option,
    model_ref,
    pass_env,
    print_json,
    print_record,
    print_table,
)

MODEL_COLUMNS = ("namespace", "name", "owner", "task", "access", "updated_at")
MODEL_FIELDS = (
    "id",
    "namespace",
    "name",
    "owner",
    "task",
    "description",
    "access",
    "metadata",
    "created_at",
    "updated_at",
)


@click.group()
def models() -> None:
    """Create, list and show models."""


@models.command("create")
@click.argument("ref", metavar="NS/NAME")
@click.option("--task", help="What the model does, e.g. 'English ASR'.")
@click.option("--description", help="A short description.")
@click.option("--public", is_flag=True, help="Readable by every user (default: private).")
@json_option
@pass_env
def create_model(
    env: Env, ref: str, task: str | None, description: str | None, public: bool, as_json: bool
) -> None:
    """Create the model NS/NAME."""
    namespace, name = model_ref(ref)
    model = env.client.new_model(
        name,
        namespace=namespace,
        task=task,
        description=description,
        access="public" if public else "private",
    )
    print_record(model.info, MODEL_FIELDS, as_json)


@models.command("list")
@click.option("--namespace", help="Only this namespace.")
@click.option("--prefix", help="Names starting with this.")
@click.option("--contains", help="Names containing this.")
@click.option("--owner", help="Owned by this user.")
@click.option("--task", help="With this task.")
@click.option("--tag", help="With a version holding this tag.")
@json_option
@pass_env
def list_models(
    env: Env,
    namespace: str | None,
    prefix: str | None,
    contains: str | None,
    owner: str | None,
    task: str | None,
    tag: str | None,
    as_json: bool,
) -> None:
    """List the models you can see."""
    found = env.client.list_models(
        namespace=namespace,
        name_prefix=prefix,
        name_contains=contains,
        owner=owner,
        task=task,
        tag=tag,
        page_size=500,
    )
    print_table((m.info for m in found), MODEL_COLUMNS, as_json)


@models.command("show")
@click.argument("ref", metavar="NS/NAME")
@json_option
@pass_env
def show_model(env: Env, ref: str, as_json: bool) -> None:
    """Show one model and its tags."""
    model = env.model(ref)
    tags = model.tags()
    if as_json:
        print_json({**model.info.model_dump(mode="json"), "tags": tags})
        return
    print_record(model.info, MODEL_FIELDS)
    click.echo("tags: " + (" ".join(f"{t}={n}" for t, n in sorted(tags.items())) or "-"))
