"""The SDK and CLI against a real server whose task runner starts with it (its lifespan)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from http_source import Source
from modelyard import Client
from modelyard.cli.main import main
from modelyard.config import Settings
from modelyard.domain.enums import VersionState
from modelyard.errors import FailedPrecondition, InvalidArgument
from modelyard.server import build_app


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(url, admin token) of a server that may import from 127.0.0.1 (allowed explicitly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = Settings(home=tmp_path / "home", port=port, import_allowed_hosts="127.0.0.1")
    app = build_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.02)
        yield f"http://127.0.0.1:{port}", settings.token_file.read_text().strip()
    finally:
        server.should_exit = True
        thread.join(10)


def test_sdk_imports_and_waits(server: tuple[str, str], source: Source):
    url, token = server
    data = b"weights" * 1000
    with Client(url, token) as client:
        version = client.new_model("m").new_model_version("1")
        task = version.import_files(
            {"w.bin": source.add("w.bin", data)},
            sha256={"w.bin": hashlib.sha256(data).hexdigest()},
            wait=True,
            timeout=30,
        )
        assert task.state == "COMPLETED"
        assert [a.path for a in version.artifacts()] == ["w.bin"]
        with pytest.raises(FailedPrecondition, match=r"failed: file x from .*404"):
            version.import_files({"x": f"{source.url}/missing"}, wait=True, timeout=30)
        states = [t.state for t in client.list_tasks()]
        assert states == ["FAILED", "COMPLETED"]
        assert client.get_task(task.id).result == task.result


def test_sdk_creates_a_version_from_model_files(server: tuple[str, str], source: Source):
    url, token = server
    data = b"deepdev weights" * 1000
    with Client(url, token) as client:
        model = client.new_model("dd")
        version = model.new_model_version(
            "1.0",
            model_files={"model/w.bin": source.add("w.bin", data)},
            model_files_sha256={"model/w.bin": hashlib.sha256(data).hexdigest()},
            wait=True,
            timeout=30,
        )
        assert version.state == VersionState.READY and version.import_task
        assert client.get_task(version.import_task).state == "COMPLETED"
        assert [(a.path, a.sha256) for a in version.artifacts()] == [
            ("model/w.bin", hashlib.sha256(data).hexdigest())
        ]
        got = model.get_version("1.0").download("model/w.bin", source.root / "got")
        assert got.read_bytes() == data

        pending = model.new_model_version("2.0", model_files={"x": f"{source.url}/missing"})
        assert pending.state == VersionState.PENDING and pending.import_task
        with pytest.raises(FailedPrecondition, match=r"failed: file x from .*404"):
            client.wait_task(pending.import_task, timeout=30)
        assert pending.refresh().state == VersionState.FAILED

        with pytest.raises(FailedPrecondition, match="404"):
            model.new_model_version("3.0", model_files={"y": f"{source.url}/nope"}, wait=True)
        assert model.get_version("3.0").state == VersionState.FAILED

        with pytest.raises(InvalidArgument, match="artifacts"):
            model.new_model_version("4.0", artifacts=["x.bin"], model_files={"x": "http://a/b"})
        with pytest.raises(InvalidArgument, match=r"files\.z: .*not a globally routable"):
            model.new_model_version("4.0", model_files={"z": "http://100.64.0.1/z"})
        assert [v.version for v in model.versions()] == ["1.0", "2.0", "3.0"]


def test_cli_import_and_tasks_show(server: tuple[str, str], source: Source):
    url, token = server
    with Client(url, token) as client:
        client.new_model("m").new_model_version("1")
    cli = CliRunner()

    def run(*args: str) -> Any:
        result = cli.invoke(main, ["--url", url, "--token", token, *args])
        return result

    done = run("import", "default/m", "1", f"a.bin={source.add('a.bin', b'abc')}", "--json")
    assert done.exit_code == 0, done.output
    task = json.loads(done.output)
    assert task["state"] == "COMPLETED" and task["result"]["files"][0]["path"] == "a.bin"
    shown = run("tasks", "show", task["id"])
    assert shown.exit_code == 0 and "COMPLETED" in shown.output and task["id"] in shown.output
    listed = run("tasks", "list", "--state", "COMPLETED")
    assert listed.exit_code == 0 and task["id"] in listed.output
    failed = run("import", "default/m", "1", f"b.bin={source.url}/nope")
    assert failed.exit_code == 1 and "404" in failed.output
    bad = run("import", "default/m", "1", "no-equals-sign")
    assert bad.exit_code == 2 and "PATH=URL" in bad.output
