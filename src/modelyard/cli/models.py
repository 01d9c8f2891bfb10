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
    "teams",
    "protected_tags",
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
@click.option(
    "--access",
    type=click.Choice(["private", "restricted", "public"]),
    help="Who may read it (default private); restricted: the --team members.",
)
@click.option("--team", "teams", multiple=True, help="A team that may read it (restricted).")
@click.option("--all-teams", is_flag=True, help="Restricted to all of your teams.")
@click.option("--protect", "protected", multiple=True, help="A tag only owners and admins move.")
@json_option
@pass_env
def create_model(
    env: Env,
    ref: str,
    task: str | None,
    description: str | None,
    public: bool,
    access: str | None,
    teams: tuple[str, ...],
    all_teams: bool,
    protected: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create the model NS/NAME."""
    namespace, name = model_ref(ref)
    if access is None:
        access = "public" if public else ("restricted" if teams or all_teams else "private")
    model = env.client.new_model(
        name,
        namespace=namespace,
        task=task,
        description=description,
        access=access,
        teams=teams or None,
        add_all_backend_roles=all_teams,
        protected_tags=protected,
    )
    print_record(model.info, MODEL_FIELDS, as_json)


@models.command("update")
@click.argument("ref", metavar="NS/NAME")
@click.option("--task", help="What the model does.")
@click.option("--description", help="A short description.")
@click.option(
    "--model-card", type=click.File("r"), help="A markdown file to show as its model card."
)
@json_option
@pass_env
def update_model(
    env: Env,
    ref: str,
    task: str | None,
    description: str | None,
    model_card: click.utils.LazyFile | None,
    as_json: bool,
) -> None:
    """Change a model's task, description or model card (writers)."""
    changes: dict[str, str] = {}
    if task is not None:
        changes["task"] = task
    if description is not None:
        changes["description"] = description
    if model_card is not None:
        changes["model_card"] = model_card.read()
    model = env.model(ref).update(**changes)  # type: ignore[arg-type]
    print_record(model.info, MODEL_FIELDS, as_json)


@models.command("access")
@click.argument("ref", metavar="NS/NAME")
@click.option("--level", type=click.Choice(["private", "restricted", "public"]))
@click.option("--team", "teams", multiple=True, help="A team that may read it (restricted).")
@click.option("--all-teams", is_flag=True, help="Restricted to all of the owner's teams.")
@click.option(
    "--protect",
    "protected",
    multiple=True,
    help="Tags only owners and admins move (replaces the list; --protect '' clears it).",
)
@json_option
@pass_env
def model_access(
    env: Env,
    ref: str,
    level: str | None,
    teams: tuple[str, ...],
    all_teams: bool,
    protected: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show or change who may read NS/NAME and which of its tags are protected (the owner,
    namespace admins and admins)."""
    model = env.model(ref)
    if level or teams or all_teams or protected:
        model.update(
            access=level,
            teams=teams or None,
            add_all_backend_roles=True if all_teams else None,
            protected_tags=[t for t in protected if t] if protected else None,
        )
    fields = ("namespace", "name", "owner", "access", "teams", "protected_tags")
    print_record(model.info, fields, as_json)


@models.command("delete")
@click.argument("ref", metavar="NS/NAME")
@click.option("--yes", is_flag=True, help="Do not ask.")
@pass_env
def delete_model(env: Env, ref: str, yes: bool) -> None:
    """Delete NS/NAME with all its versions, files, metrics and tags."""
    if not yes:
        click.confirm(f"delete {ref} and everything in it?", abort=True)
    env.model(ref).delete()
    click.echo(f"deleted {ref}")


@models.command("grants")
@click.argument("ref", metavar="NS/NAME")
@json_option
@pass_env
def list_grants(env: Env, ref: str, as_json: bool) -> None:
    """The users NS/NAME is granted to (whoever manages it)."""
    grants = env.model(ref).grants()
    rows = [{"user": u, "role": r} for u, r in sorted(grants.items())]
    print_table(rows, ("user", "role"), as_json)


@models.command("grant")
@click.argument("ref", metavar="NS/NAME")
@click.argument("user")
@click.option(
    "--role", type=click.Choice(["reader", "writer"]), default="reader", show_default=True
)
@pass_env
def grant(env: Env, ref: str, user: str, role: str) -> None:
    """Let USER read (or write) NS/NAME, even when it is private."""
    env.model(ref).grant(user, role)
    click.echo(f"{user} is a {role} of {ref}")


@models.command("revoke")
@click.argument("ref", metavar="NS/NAME")
@click.argument("user")
@pass_env
def revoke(env: Env, ref: str, user: str) -> None:
    """Take back USER's grant on NS/NAME."""
    env.model(ref).revoke_grant(user)
    click.echo(f"{user} no longer holds a grant on {ref}")


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
