"""The access commands against a running server: tokens, teams, namespaces, grants, model
access and the audit log, as an admin and as the users they concern."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from modelyard.cli.main import main
from server_support import Server

Run = Callable[..., Result]


@pytest.fixture
def run(server: Server) -> Run:
    def invoke(*args: str, token: str | None = None, ok: bool = True) -> Result:
        result = CliRunner().invoke(
            main, ["--url", server.url, "--token", token or server.admin_token, *args]
        )
        if ok:
            assert result.exit_code == 0, result.output + (result.stderr or "")
        return result

    return invoke


def test_teams_grants_and_access_from_the_command_line(run: Run) -> None:
    tess = run("users", "create", "cli-tess").output.strip()
    ursula = run("users", "create", "cli-ursula").output.strip()
    run("teams", "create", "cli-nlp", "--description", "language")
    assert "cli-nlp: admin, cli-tess" in run("teams", "add", "cli-nlp", "admin", "cli-tess").output
    run(
        "models",
        "create",
        "default/cli-secret",
        "--access",
        "restricted",
        "--team",
        "cli-nlp",
        "--protect",
        "production",
    )
    assert run("models", "show", "default/cli-secret", token=tess).exit_code == 0
    denied = run("models", "show", "default/cli-secret", token=ursula, ok=False)
    assert denied.exit_code == 1 and "[MODEL_NOT_FOUND]" in denied.output + denied.stderr
    # a grant lets ursula in; taking it back shuts her out again
    assert (
        "cli-ursula is a writer"
        in run("models", "grant", "default/cli-secret", "cli-ursula", "--role", "writer").output
    )
    grants = json.loads(run("models", "grants", "default/cli-secret", "--json").output)
    assert grants == [{"role": "writer", "user": "cli-ursula"}]
    run("metrics", "log", "default/cli-secret", "loss=0.1", token=ursula)
    protected = run(
        "models", "access", "default/cli-secret", "--protect", "", token=ursula, ok=False
    )
    assert "[PERMISSION_DENIED]" in protected.output + protected.stderr
    run("models", "revoke", "default/cli-secret", "cli-ursula")
    assert run("models", "show", "default/cli-secret", token=ursula, ok=False).exit_code == 1
    shown = run("models", "access", "default/cli-secret", "--level", "public", "--json").output
    assert json.loads(shown)["access"] == "public" and json.loads(shown)["teams"] == []
    run("teams", "remove", "cli-nlp", "cli-tess")
    assert json.loads(run("teams", "list", "--json").output)[0]["members"] == ["admin"]
    run("teams", "delete", "cli-nlp")


def test_tokens_namespaces_and_the_audit_log(run: Run) -> None:
    walt = run("users", "create", "cli-walt").output.strip()
    made = json.loads(run("tokens", "create", "--scope", "read", "--json", token=walt).output)
    assert made["scope"] == "read" and made["user"] == "cli-walt"
    listed = json.loads(run("tokens", "list", "--json", token=walt).output)
    assert {t["id"] for t in listed} >= {made["id"]} and all("token" not in t for t in listed)
    read_only = run("models", "create", "default/cli-ro", token=made["token"], ok=False)
    assert "read-only" in read_only.output + read_only.stderr
    run("tokens", "revoke", made["id"], token=walt)
    gone = run("models", "list", token=made["token"], ok=False)
    assert "[UNAUTHENTICATED]" in gone.output + gone.stderr
    # a closed namespace takes models from its writers only
    run("namespaces", "create", "cli-team")
    closed = run("models", "create", "cli-team/m", token=walt, ok=False)
    assert "[PERMISSION_DENIED]" in closed.output + closed.stderr
    run("namespaces", "member", "cli-team", "cli-walt", "--role", "writer")
    run("models", "create", "cli-team/m", token=walt)
    shown = json.loads(run("namespaces", "show", "cli-team", "--json").output)
    assert {"user": "cli-walt", "role": "writer"} in shown["members"]
    assert "cli-team is open" in run("namespaces", "set", "cli-team", "--open").output
    run("namespaces", "member", "cli-team", "cli-walt", "--role", "none")
    # everything above is in the audit log, refusals included
    denied = json.loads(run("audit", "--actor", "cli-walt", "--outcome", "denied", "--json").output)
    assert {"model.create"} <= {e["action"] for e in denied}
    revoked = json.loads(run("audit", "--action", "token.revoke", "--json").output)
    assert revoked[0]["actor"] == "cli-walt" and revoked[0]["outcome"] == "success"
    not_admin = run("audit", token=walt, ok=False)
    assert "[PERMISSION_DENIED]" in not_admin.output + not_admin.stderr
