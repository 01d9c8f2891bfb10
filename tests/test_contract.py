"""The public contract is documented and exported on purpose (STYLE habit 15)."""

from __future__ import annotations

import re
from pathlib import Path

import click

import modelyard
from modelyard.api.app import create_app
from modelyard.cli.main import main as cli
from modelyard.config import Settings

DOCS = Path(__file__).parent.parent / "docs"


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name in vars(modelyard)
        if not name.startswith("_") and not isinstance(getattr(modelyard, name), type(modelyard))
    }
    assert set(modelyard.__all__) == public | {"__version__"}


def test_every_api_route_is_documented() -> None:
    api_doc = (DOCS / "api.md").read_text()
    lines = api_doc.splitlines()
    app = create_app(service=None)  # type: ignore[arg-type]  # routes only, never called
    paths = app.openapi()["paths"]
    assert len(paths) > 20
    missing = []
    for path, operations in paths.items():
        if not path.startswith("/api/v1"):
            continue
        doc_path = path.replace("{path:path}", "{path}")
        for method in sorted(m.upper() for m in operations):
            pattern = re.compile(rf"`[^`]*\b{method}\b[^`]*`?[^|]*{re.escape(doc_path)}`")
            if not any(pattern.search(line) for line in lines):
                missing.append(f"{method} {doc_path}")
    assert not missing, f"undocumented routes in docs/api.md: {missing}"


def test_every_setting_is_documented() -> None:
    doc = (DOCS / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`{name}`" in doc, name
        assert f"MODELYARD_{name.upper()}" in doc, name
        assert f"--{name.replace('_', '-')}" in doc, name


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append(prefix + name)
    return found


def test_every_cli_command_is_documented() -> None:
    doc = (DOCS / "cli.md").read_text()
    commands = _commands(cli)
    assert "server" in commands and "push" in commands
    missing = [c for c in commands if f"| `{c}" not in doc]
    assert not missing, f"undocumented commands in docs/cli.md: {missing}"
