"""The published ``modelbox`` 0.0.5 client against a running modelyard server (client_flow.py),
in a pytest of its own: the client's modules cannot share a process with MLflow's, which the
runtime tests import (see modelbox_stub)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_published_modelbox_client(tmp_path: Path) -> None:
    flow = Path(__file__).parent / "client_flow.py"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", str(flow)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
