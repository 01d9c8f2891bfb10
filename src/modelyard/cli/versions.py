"""``modelyard versions``: create, list, show and finish versions."""

from __future__ import annotations

import sys

import click

from modelyard.cli._common import (
    Env,
    json_option,
    pass_env,
    print_check_report,
    print_json,
    print_record,
    print_table,
)
from modelyard.domain.runtime import CheckState

VERSION_COLUMNS = ("number", "version", "state", "framework", "tags", "created_by", "created_at")
VERSION_FIELDS = (
    "id",
    "namespace",
    "model",
    "number",
    "version",
    "name",
    "description",
    "framework",
    "task",
    "state",
    "status_message",
    "tags",
    "metadata",
    "content_digest",
    "runtime",
    "created_by",
    "created_at",
    "finished_at",
)
FILE_COLUMNS = ("path", "size", "file_type", "mime_type", "storage", "checksum")


@click.group()
def versions() -> None:
    """Create, list, show and finish versions of a model."""


@versions.command("create")
@click.argument("ref", metavar="NS/NAME")
@click.option("--version", "label", help="Label such as 1.0.0 (default: its number).")
@click.option("--framework", help="e.g. sklearn, onnx, pytorch.")
@click.option("--description", help="A short description.")
@click.option("--tag", "tags", multiple=True, help="Unique tag to move here (repeatable).")
@json_option
@pass_env
def create_version(
    env: Env,
    ref: str,
    label: str | None,
    framework: str | None,
    description: str | None,
    tags: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a PENDING version of NS/NAME."""
    version = env.model(ref).new_model_version(
        version=label, framework=framework, description=description, unique_tags=tags
    )
    print_record(version.info, VERSION_FIELDS, as_json)


@versions.command("list")
@click.argument("ref", metavar="NS/NAME")
@json_option
@pass_env
def list_versions(env: Env, ref: str, as_json: bool) -> None:
    """List the versions of NS/NAME by number."""
    print_table((v.info for v in env.model(ref).versions()), VERSION_COLUMNS, as_json)


@versions.command("show")
@click.argument("ref", metavar="NS/NAME")
@click.argument("version")
@json_option
@pass_env
def show_version(env: Env, ref: str, version: str, as_json: bool) -> None:
    """Show one version (by label or number) and its files."""
    found = env.model(ref).get_version(version)
    files = found.artifacts()
    if as_json:
        print_json({**found.info.model_dump(mode="json"), "files": [vars(f) for f in files]})
        return
    print_record(found.info, VERSION_FIELDS)
    checks = found.checks
    click.echo(f"checks: {checks.state if checks else '-'} (`modelyard versions checks`)")
    click.echo()
    print_table(files, FILE_COLUMNS)


@versions.command("finish")
@click.argument("ref", metavar="NS/NAME")
@click.argument("version")
@json_option
@pass_env
def finish_version(env: Env, ref: str, version: str, as_json: bool) -> None:
    """PENDING -> READY: the server verifies the files, which are frozen from then on."""
    done = env.model(ref).get_version(version).finish()
    print_record(done.info, VERSION_FIELDS, as_json)


@versions.command("delete")
@click.argument("ref", metavar="NS/NAME")
@click.argument("version")
@click.option("--yes", is_flag=True, help="Do not ask.")
@pass_env
def delete_version(env: Env, ref: str, version: str, yes: bool) -> None:
    """Delete a version with its files, metrics and tags (owners and admins)."""
    if not yes:
        click.confirm(f"delete version {version} of {ref}?", abort=True)
    env.model(ref).get_version(version).delete()
    click.echo(f"deleted version {version} of {ref}")


@versions.command("checks")
@click.argument("ref", metavar="NS/NAME")
@click.argument("version")
@click.option("--run", "rerun", is_flag=True, help="Check the version again first.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the results.")
@click.option("--timeout", type=float, help="Seconds to wait at most.")
@json_option
@pass_env
def version_checks(
    env: Env,
    ref: str,
    version: str,
    rerun: bool,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Show the server's checks of a READY version (exit status 1 when one FAILs)."""
    found = env.model(ref).get_version(version)
    if rerun:
        report = found.run_checks(wait=wait, timeout=timeout)
    elif wait:
        report = found.wait_for_checks(timeout)
    else:
        report = found.checks
    if report is None:
        raise click.ClickException(
            f"version {found.version} has no checks yet; it is {found.state}"
        )
    if as_json:
        print_json(report)
    else:
        print_check_report(report)
    if report.state in (CheckState.FAILED, CheckState.ERROR):
        sys.exit(1)
