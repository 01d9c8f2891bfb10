"""The registry end to end through the ``modelyard`` command, against the session's server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from e2e_support import BIG, bundle, digests

from server_support import Server

MODELYARD = Path(sys.executable).parent / "modelyard"


def cli(server: Server, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command with the server in the environment (``--token`` when given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env |= {"MODELYARD_URL": server.url, "MODELYARD_TOKEN": server.admin_token}
    argv = [str(MODELYARD), *(("--token", token) if token else ()), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def ok(server: Server, *args: str, token: str | None = None) -> Any:
    """Run with ``--json``, expect success, return the parsed output."""
    done = cli(server, *args, "--json", token=token)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def fails(server: Server, *args: str, token: str | None = None) -> str:
    """Run, expect exit status 1 with a message and no traceback; return stderr."""
    done = cli(server, *args, token=token)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: ") or "\nError: " in done.stderr
    return done.stderr


@pytest.mark.slow
def test_push_pull_metrics_tags(server: Server, tmp_path: Path) -> None:
    ref = f"default/cli-{uuid.uuid4().hex[:8]}"
    sent = bundle(tmp_path / "bundle")

    created = ok(server, "models", "create", ref, "--task", "asr", "--description", "speech")
    assert (created["task"], created["access"], created["owner"]) == ("asr", "private", "admin")
    assert ok(server, "models", "show", ref)["description"] == "speech"
    assert ref.split("/")[1] in {m["name"] for m in ok(server, "models", "list", "--task", "asr")}

    v1 = ok(server, "versions", "create", ref, "--version", "1.0", "--tag", "production")
    assert (v1["state"], v1["tags"]) == ("PENDING", ["production"])

    pushed = ok(server, "push", ref, str(tmp_path / "bundle"), "--version", "1.0", "--finish")
    assert pushed["state"] == "READY" and pushed["number"] == 1
    shown = ok(server, "versions", "show", ref, "1.0")
    assert {f["path"]: f["sha256"] for f in shown["files"]} == sent
    assert {f["path"]: f["size"] for f in shown["files"]}["weights.bin"] == BIG

    table = cli(server, "versions", "list", ref)
    assert table.returncode == 0 and "1.0" in table.stdout and "READY" in table.stdout

    pulled = cli(server, "pull", ref, "1.0", str(tmp_path / "pulled"))
    assert pulled.returncode == 0, pulled.stderr
    assert "pulling 3 files" in pulled.stderr
    assert digests(tmp_path / "pulled") == sent

    for step in ("2", "3", "1"):
        ok(
            server,
            "metrics",
            "log",
            ref,
            "1.0",
            f"loss={1 / int(step)}",
            "phase=train",
            "--step",
            step,
        )
    loss = ok(server, "metrics", "list", ref, "1.0", "--key", "loss")
    assert [(m["step"], m["value"]) for m in loss] == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
    ok(server, "metrics", "log", ref, "downloads=7")
    assert [m["value"] for m in ok(server, "metrics", "list", ref)] == [7.0]

    # A READY version takes no more files.
    assert "READY" in fails(server, "push", ref, str(tmp_path / "bundle"), "--version", "1.0")

    ok(server, "versions", "create", ref, "--version", "2.0", "--framework", "onnx")
    assert ok(server, "tags", "set", ref, "production", "2.0")["number"] == 2
    assert ok(server, "tags", "list", ref) == {"production": 2}
    history = ok(server, "tags", "history", ref, "production")
    assert [
        (e["version_number"], e["previous_version_number"], e["moved_by"]) for e in history
    ] == [
        (1, None, "admin"),
        (2, 1, "admin"),
    ]
    finished = ok(server, "versions", "finish", ref, "2.0")
    assert finished["state"] == "READY"


def test_second_user_and_errors(server: Server) -> None:
    suffix = uuid.uuid4().hex[:8]
    ok(server, "models", "create", f"default/secret-{suffix}")
    ok(server, "models", "create", f"default/open-{suffix}", "--public")
    created = cli(server, "users", "create", f"viewer-{suffix}")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()

    assert "not found" in fails(server, "models", "show", f"default/secret-{suffix}", token=token)
    assert ok(server, "models", "show", f"default/open-{suffix}", token=token)["access"] == "public"
    visible = {m["name"] for m in ok(server, "models", "list", "--contains", suffix, token=token)}
    assert visible == {f"open-{suffix}"}
    assert "admin" in fails(server, "users", "create", f"x-{suffix}", token=token).lower()

    own = ok(server, "tokens", "create", token=token)
    assert own["user"] == f"viewer-{suffix}" and own["token"] != token
    assert "already" in fails(server, "models", "create", f"default/open-{suffix}").lower()
    assert "token" in fails(server, "models", "list", token="not-a-token")
