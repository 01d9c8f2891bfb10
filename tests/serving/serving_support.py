"""A real ``modelyard server`` process for the serving tests, that a test can SIGKILL and start
again on the same home and port; and tiny real models of each framework, built here."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent
from typing import Any

import httpx
import numpy as np

from modelyard.domain.deployments import (
    Deployment,
    DeploymentSettings,
    DeploymentState,
    ServingBackend,
)
from modelyard.domain.enums import AccessLevel

MODELYARD = Path(sys.executable).parent / "modelyard"
RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 4)).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype(int)
ROWS = X[:6].tolist()
CHECK_TIMEOUT = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    home: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def start(self, *extra: str) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(MODELYARD),
                    "server",
                    "--home",
                    str(self.home),
                    "--port",
                    str(self.port),
                    # a model that hangs in its checks holds them up this long, no longer
                    "--check-timeout-seconds",
                    str(CHECK_TIMEOUT),
                    *extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy in 60 s:\n{self.log.read_text()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"authorization": f"Bearer {self.token}"}, timeout=60
        )


# -- tiny real models: (bundle writer, the in-process prediction of ROWS) ------------------------


def sklearn_bundle(bundle: Path) -> list[Any]:
    from sklearn.linear_model import LogisticRegression

    from modelyard.runtime.flavors.sklearn import SklearnFlavor

    model = LogisticRegression().fit(X, Y)
    SklearnFlavor(format="skops").save(model, bundle)
    _example(bundle)
    return model.predict(np.array(ROWS)).tolist()


def onnx_bundle(bundle: Path) -> list[Any]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = RNG.normal(size=(4, 3)).astype("float32")
    bias = RNG.normal(size=(3,)).astype("float32")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    bundle.mkdir(parents=True, exist_ok=True)
    onnx.save(model, bundle / "model.onnx")
    _example(bundle)
    return (np.array(ROWS, dtype="float32") @ weights + bias).tolist()


def torchscript_bundle(bundle: Path) -> list[Any]:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    net.eval()
    bundle.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # TorchScript is deprecated, and still what users have
        warnings.filterwarnings("ignore", r".*torch\.jit\.\w+` is deprecated", DeprecationWarning)
        torch.jit.script(net).save(str(bundle / "model.pt"))
    _example(bundle)
    with torch.inference_mode():
        return net(torch.tensor(ROWS)).tolist()


def score_bundle(bundle: Path, predict_body: str, *, requirements: str = "") -> Path:
    """A score.py bundle whose predict is ``predict_body`` (given ``data`` and ``model``)."""
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "score.py").write_text(
        "import os, time\n\n\ndef load_model():\n    return {'scale': 2}\n\n\n"
        "def predict(data, model=None):\n" + _indent(dedent(predict_body))
    )
    (bundle / "requirements.txt").write_text(requirements)
    _example(bundle)
    return bundle


def _indent(body: str) -> str:
    return "".join(f"    {line}\n" if line.strip() else "\n" for line in body.splitlines())


def _example(bundle: Path) -> None:
    (bundle / "input_example.json").write_text(json.dumps(ROWS[:2]))


BUILDERS: dict[str, Callable[[Path], list[Any]]] = {
    "sklearn": sklearn_bundle,
    "onnx": onnx_bundle,
    "torchscript": torchscript_bundle,
}


def deployment_entity(deployment_id: str = "01a2423a3b487ba78bf33277baeaa6f5") -> Deployment:
    """A deployment as the database would hand it over: ACTIVE, one replica, local."""
    now = datetime.now(UTC)
    return Deployment(
        id=deployment_id,
        name="doubler",
        model_id="m1",
        namespace="default",
        model="doubler",
        model_owner="admin",
        model_access=AccessLevel.PRIVATE,
        model_teams=(),
        version_id="v1",
        version="1",
        version_number=1,
        backend=ServingBackend.LOCAL,
        settings=DeploymentSettings(),
        forced=False,
        state=DeploymentState.ACTIVE,
        status_message=None,
        task_id=None,
        created_by="admin",
        created_at=now,
        updated_at=now,
        last_used_at=None,
    )
