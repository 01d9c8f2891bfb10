"""``modelyard template``: write a bundle template for a task, framework and architecture."""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.cli._common import json_option, print_json, print_table
from modelyard.errors import InvalidArgument
from modelyard.runtime.templates import Framework, Style, Task, catalog, generate
from modelyard.runtime.templates.catalog import DEFAULT, find


@click.command()
@click.option("--task", type=click.Choice([t.value for t in Task]), help="What the model does.")
@click.option("--framework", type=click.Choice([f.value for f in Framework]), help="What runs it.")
@click.option(
    "--architecture",
    help="A network offered for the task and framework (see --list); default: the model "
    "file holds its own network.",
)
@click.option(
    "-o",
    "--output",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the bundle into (created if missing).",
)
@click.option(
    "--style",
    type=click.Choice([s.value for s in Style]),
    default=Style.MODELYARD.value,
    show_default=True,
    help="gesund: Gesund's layout (model.py with GesundModel, preprocess.py, postprocess.py, "
    "schema.py, loss.py, reqs.txt) for classification, object-detection and segmentation.",
)
@click.option("--force", is_flag=True, help="Overwrite files of the same names in the directory.")
@click.option("--list", "list_only", is_flag=True, help="List what is offered, write nothing.")
@json_option
def template(
    task: str | None,
    framework: str | None,
    architecture: str | None,
    directory: Path | None,
    style: str,
    force: bool,
    list_only: bool,
    as_json: bool,
) -> None:
    """Write a bundle for --task and --framework into -o DIR: score.py, requirements.txt,
    modelyard.yaml, an example with its schemas, and a README naming the model file to drop in.
    With that file in place, `modelyard verify DIR` passes."""
    if list_only:
        _print_catalog(as_json)
        return
    if task is None or framework is None or directory is None:
        raise click.UsageError("--task, --framework and -o DIR are required (or --list)")
    try:
        files = generate(task, framework, architecture, style)
        _, arch = find(task, framework, architecture)
    except InvalidArgument as exc:
        message = exc.message.removeprefix(f"{exc.field}: ")
        raise click.BadParameter(message, param_hint=f"--{exc.field}") from None
    clashes = sorted(path for path in files if (directory / path).exists())
    if clashes and not force:
        raise click.ClickException(
            f"{directory} already holds {', '.join(clashes)}; choose another directory or pass "
            "--force to overwrite them"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for path, data in sorted(files.items()):
        (directory / path).write_bytes(data)
    if as_json:
        print_json(
            {"directory": str(directory), "files": sorted(files), "model_file": arch.model_file}
        )
        return
    click.echo(f"wrote {len(files)} files to {directory}: {', '.join(sorted(files))}")
    click.echo(
        f"next: save your model as {directory / arch.model_file} (see README.md), then run "
        f"`modelyard verify {directory}`"
    )


def _print_catalog(as_json: bool) -> None:
    offered = catalog()
    if as_json:
        print_json(offered)
        return
    rows = [
        {
            "task": t.task.value,
            "framework": t.framework.value,
            "architecture": a.name,
            "model_file": a.model_file,
            "flavor": a.flavor.value,
            "styles": ",".join(t.styles) if a.name == DEFAULT else Style.MODELYARD.value,
            "description": a.description,
        }
        for t in offered.templates
        for a in t.architectures
    ]
    columns = ("task", "framework", "architecture", "model_file", "flavor", "styles")
    print_table(rows, (*columns, "description"))
