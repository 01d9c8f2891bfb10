"""``modelyard bundle push`` and ``modelyard bundle pull``: a version's files as one zip."""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.cli._common import Env, json_option, pass_env, print_table, progress_bar
from modelyard.cli.transfer import target_version
from modelyard.cli.versions import FILE_COLUMNS
from modelyard.domain.enums import FileStorage
from modelyard.domain.gesund import ArtifactProps
from modelyard.errors import InvalidArgument


@click.group()
def bundle() -> None:
    """Zip bundles: upload one zip as a version's files, download a version as one zip."""


@bundle.command("push")
@click.argument("ref", metavar="NS/NAME")
@click.argument("zip_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--version", "label", help="Version label; created if it does not exist yet.")
@click.option("--tag", "tags", multiple=True, help="Unique tag to move to it (repeatable).")
@click.option("--finish", is_flag=True, help="Finish the version (READY) after the upload.")
@click.option(
    "--model-type",
    help="Gesund's artifact props: classification, object-detection or segmentation (the "
    "version's task); with --framework, the version runs as a Gesund bundle.",
)
@click.option("--framework", help="Gesund's framework: tensorflow, keras, onnx or pytorch.")
@click.option(
    "--include-model-files/--no-model-files",
    default=None,
    help="Whether the zip holds the model file (default: it does).",
)
@json_option
@pass_env
def push(
    env: Env,
    ref: str,
    zip_file: Path,
    label: str | None,
    tags: tuple[str, ...],
    finish: bool,
    model_type: str | None,
    framework: str | None,
    include_model_files: bool | None,
    as_json: bool,
) -> None:
    """Upload ZIP_FILE; its file members become files of a version of NS/NAME. With Gesund's
    artifact props (--model-type and --framework), NS is the Gesund namespace."""
    try:
        props = ArtifactProps.parse(
            model_type=model_type, framework=framework, include_model_files=include_model_files
        )
    except InvalidArgument as exc:
        hint = f"--{(exc.field or '').replace('_', '-')}"
        message = exc.message.removeprefix(f"{exc.field}: ")
        raise click.BadParameter(message, param_hint=hint) from None
    version = target_version(env.model(ref), label, tags)
    with progress_bar(zip_file.stat().st_size, f"pushing {zip_file.name}") as advance:
        stored = version.upload_bundle(zip_file, progress=advance, props=props)
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
