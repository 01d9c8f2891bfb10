"""``modelyard bundle push`` and ``modelyard bundle pull``: a version's files as one zip."""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.cli._common import Env, json_option, pass_env, print_table, progress_bar
from modelyard.cli.transfer import target_version
from modelyard.cli.versions import FILE_COLUMNS
from modelyard.domain.enums import FileStorage


@click.group()
def bundle() -> None:
    """Zip bundles: upload one zip as a version's files, download a version as one zip."""


@bundle.command("push")
@click.argument("ref", metavar="NS/NAME")
@click.argument("zip_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--version", "label", help="Version label; created if it does not exist yet.")
@click.option("--tag", "tags", multiple=True, help="Unique tag to move to it (repeatable).")
@click.option("--finish", is_flag=True, help="Finish the version (READY) after the upload.")
@json_option
@pass_env
def push(
    env: Env,
    ref: str,
    zip_file: Path,
    label: str | None,
    tags: tuple[str, ...],
    finish: bool,
    as_json: bool,
) -> None:
    """Upload ZIP_FILE; its file members become files of a version of NS/NAME."""
    version = target_version(env.model(ref), label, tags)
    with progress_bar(zip_file.stat().st_size, f"pushing {zip_file.name}") as advance:
        stored = version.upload_bundle(zip_file, progress=advance)
    if finish:
        version.finish()
    print_table(stored, FILE_COLUMNS, as_json)


@bundle.command("pull")
@click.argument("ref", metavar="NS/NAME")
@click.argument("version")
@click.argument("zip_file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_env
def pull(env: Env, ref: str, version: str, zip_file: Path, as_json: bool) -> None:
    """Download VERSION's stored files as one zip, ZIP_FILE, checked against its manifest."""
    found = env.model(ref).get_version(version)
    stored = [a for a in found.artifacts() if a.storage == FileStorage.STORED]
    with progress_bar(sum(a.size or 0 for a in stored), f"pulling {zip_file.name}") as advance:
        found.download_bundle(zip_file, progress=advance)
    print_table(stored, FILE_COLUMNS, as_json)
