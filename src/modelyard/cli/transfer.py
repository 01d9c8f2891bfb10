"""``modelyard push`` and ``modelyard pull``: a directory to a version's files and back."""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.cli._common import (
    Env,
    json_option,
    pass_env,
    print_record,
    print_table,
    progress_bar,
)
from modelyard.cli.versions import FILE_COLUMNS, VERSION_FIELDS
from modelyard.client._files import collect
from modelyard.client.resources import Model, ModelVersion
from modelyard.domain.enums import FileStorage
from modelyard.errors import VersionNotFound


def target_version(model: Model, label: str | None, tags: tuple[str, ...]) -> ModelVersion:
    """The version labelled ``label`` with ``tags`` moved to it, created if need be."""
    if label is not None:
        try:
            version = model.get_version(label)
        except VersionNotFound:
            pass
        else:
            for tag in tags:
                version.set_tag(tag)
            return version
    return model.new_model_version(version=label, unique_tags=tags)


@click.command()
@click.argument("ref", metavar="NS/NAME")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--version", "label", help="Version label; created if it does not exist yet.")
@click.option("--tag", "tags", multiple=True, help="Unique tag to move to it (repeatable).")
@click.option("--finish", is_flag=True, help="Finish the version (READY) after the upload.")
@json_option
@pass_env
def push(
    env: Env,
    ref: str,
    directory: Path,
    label: str | None,
    tags: tuple[str, ...],
    finish: bool,
    as_json: bool,
) -> None:
    """Upload every file under DIRECTORY, by its relative path, to a version of NS/NAME."""
    version = target_version(env.model(ref), label, tags)
    files = collect(directory)
    total = sum(local.stat().st_size for local, _ in files)
    with progress_bar(total, f"pushing {len(files)} files") as advance:
        version.upload_artifact(directory, progress=advance)
    if finish:
        version.finish()
    print_record(version.refresh().info, VERSION_FIELDS, as_json)


@click.command()
@click.argument("ref", metavar="NS/NAME")
@click.argument("version")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
@pass_env
def pull(env: Env, ref: str, version: str, directory: Path, as_json: bool) -> None:
    """Download every stored file of VERSION into DIRECTORY, each checked by SHA-256."""
    found = env.model(ref).get_version(version)
    stored = [a for a in found.artifacts() if a.storage == FileStorage.STORED]
    total = sum(a.size or 0 for a in stored)
    with progress_bar(total, f"pulling {len(stored)} files") as advance:
        found.download_all(directory, progress=advance)
    print_table(stored, FILE_COLUMNS, as_json)
