"""``modelyard import`` (files from URLs into a version) and ``modelyard tasks``."""

from __future__ import annotations

import click

from modelyard.cli._common import Env, json_option, pass_env, print_record, print_table

TASK_FIELDS = (
    "id",
    "kind",
    "state",
    "namespace",
    "model",
    "version",
    "created_by",
    "params",
    "result",
    "error",
    "attempts",
    "created_at",
    "started_at",
    "finished_at",
)
TASK_COLUMNS = ("id", "kind", "state", "namespace", "model", "version", "created_at")


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path or not value:
            raise click.BadParameter(f"expected PATH={what}, got {item!r}")
        pairs[path] = value
    return pairs


@click.command("import")
@click.argument("ref", metavar="NS/NAME")
@click.argument("version")
@click.argument("files", metavar="PATH=URL...", nargs=-1, required=True)
@click.option(
    "--sha256", "digests", multiple=True, metavar="PATH=HEX", help="Expected digest of PATH."
)
@click.option("--finish", is_flag=True, help="Make the version READY once every file is in.")
@click.option("--no-wait", is_flag=True, help="Print the task and return at once.")
@json_option
@pass_env
def import_files(
    env: Env,
    ref: str,
    version: str,
    files: tuple[str, ...],
    digests: tuple[str, ...],
    finish: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Have the server copy files from URLs into VERSION of NS/NAME, as a task."""
    task = (
        env.model(ref)
        .get_version(version)
        .import_files(_pairs(files, "URL"), _pairs(digests, "HEX"), finish=finish, wait=not no_wait)
    )
    print_record(task, TASK_FIELDS, as_json)


@click.group()
def tasks() -> None:
    """Asynchronous tasks (URL imports): show and list them."""


@tasks.command("show")
@click.argument("task_id", metavar="ID")
@click.option("--wait", is_flag=True, help="Wait until the task ends (exit 1 if it failed).")
@json_option
@pass_env
def show_task(env: Env, task_id: str, wait: bool, as_json: bool) -> None:
    """One task: its state, result or error."""
    task = env.client.wait_task(task_id) if wait else env.client.get_task(task_id)
    print_record(task, TASK_FIELDS, as_json)


@tasks.command("list")
@click.option(
    "--state", type=click.Choice(["CREATED", "RUNNING", "COMPLETED", "FAILED"]), default=None
)
@json_option
@pass_env
def list_tasks(env: Env, state: str | None, as_json: bool) -> None:
    """Tasks on models you can see, newest first."""
    print_table(env.client.list_tasks(state=state), TASK_COLUMNS, as_json)
