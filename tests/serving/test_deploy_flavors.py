"""A scikit-learn, an ONNX and a TorchScript model each go register -> deploy -> predict ->
undeploy against a running server, through the SDK and through the CLI; the predictions equal
the in-process model's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from serving_support import BUILDERS, ROWS, ServerProcess

from modelyard import Client
from modelyard.cli.main import main
from modelyard.domain.deployments import DeploymentState
from modelyard.domain.runtime import CheckState


def _register(client: Client, name: str, bundle: Path) -> object:
    version = client.new_model(name).new_model_version("1", artifacts=[bundle]).finish()
    assert version.wait_for_checks(timeout=180).state in (CheckState.PASSED, CheckState.WARNED)
    return version


@pytest.mark.parametrize("flavor", list(BUILDERS))
def test_sdk_register_deploy_predict_undeploy(flavor: str, client: Client, tmp_path: Path) -> None:
    expected = BUILDERS[flavor](tmp_path / "bundle")
    version = _register(client, f"sdk-{flavor}", tmp_path / "bundle")

    deployment = version.deploy(timeout=180)

    assert deployment.state == DeploymentState.ACTIVE and deployment.info.replicas_ready == 1
    np.testing.assert_allclose(deployment.predict(ROWS), expected, rtol=1e-5)
    # The same through the version's own route and a fresh lookup by id.
    np.testing.assert_allclose(version.predict(ROWS), expected, rtol=1e-5)
    assert client.get_deployment(deployment.id).name == f"sdk-{flavor}"

    stopped = deployment.undeploy()
    assert stopped.state == DeploymentState.STOPPED
    version.delete()  # allowed once it is undeployed


@pytest.mark.parametrize("flavor", list(BUILDERS))
def test_cli_register_deploy_predict_undeploy(
    flavor: str, client: Client, served: ServerProcess, tmp_path: Path
) -> None:
    expected = BUILDERS[flavor](tmp_path / "bundle")
    auth = ["--url", served.url, "--token", served.token]
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(main, [*auth, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    cli("models", "create", f"default/cli-{flavor}")
    cli("push", f"default/cli-{flavor}", str(tmp_path / "bundle"), "--version", "1", "--finish")
    version = client.get_model(f"cli-{flavor}").get_version("1")
    version.wait_for_checks(timeout=180)

    shown = json.loads(cli("deploy", f"default/cli-{flavor}", "1", "--json"))
    assert shown["state"] == "ACTIVE", shown

    answer = json.loads(cli("predict", shown["id"], "--data", json.dumps(ROWS)))
    np.testing.assert_allclose(answer, expected, rtol=1e-5)
    listed = cli("deployments", "--state", "ACTIVE")
    assert shown["id"] in listed and f"cli-{flavor}" in listed

    undeployed = json.loads(cli("deployments", "undeploy", shown["id"], "--json"))
    assert undeployed["state"] == "STOPPED"
