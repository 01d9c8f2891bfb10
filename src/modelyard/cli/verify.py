"""``modelyard verify DIR``: run the checks on a bundle on this machine, before pushing it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from modelyard.cli._common import json_option, print_check_report, print_json
from modelyard.domain.runtime import CheckState


@click.command()
@click.argument(
    "directory", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=120,
    show_default=True,
    help="Seconds the check worker may take in all.",
)
@click.option(
    "--memory-mb",
    type=click.IntRange(min=64),
    default=4096,
    show_default=True,
    help="Memory limit of the check worker (heap and private mappings), in MiB.",
)
@click.option(
    "--env-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="When the bundle's requirements are not installed here, build an environment with "
    "them (uv) under this directory, reused by later runs, and check in it.",
)
@json_option
def verify(
    directory: Path, timeout: float, memory_mb: int, env_dir: Path | None, as_json: bool
) -> None:
    """Check that the bundle in DIR loads and predicts, in a separate process (exit status 1
    when a check FAILs)."""
    from modelyard.runtime.sandbox import check_bundle

    report = check_bundle(directory, timeout=timeout, memory_mb=memory_mb, environments=env_dir)
    if as_json:
        print_json(report)
    else:
        print_check_report(report)
    if report.state in (CheckState.FAILED, CheckState.ERROR):
        sys.exit(1)
