"""``model_state``: ML Commons' lifecycle, derived from a version and its newest deployment."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from modelyard.dialects.opensearch.documents import model_state
from modelyard.domain.deployments import DeploymentSettings, DeploymentState
from modelyard.domain.enums import VersionState


def _deployment(state: DeploymentState, replicas: int = 2) -> Any:
    return SimpleNamespace(state=state, settings=DeploymentSettings(replicas=replicas))


@pytest.mark.parametrize(
    ("version_state", "deployment", "ready", "expected"),
    [
        (VersionState.PENDING, None, None, "REGISTERING"),
        (VersionState.FAILED, None, None, "REGISTER_FAILED"),
        (VersionState.READY, None, None, "REGISTERED"),
        (VersionState.READY, _deployment(DeploymentState.PENDING), 0, "DEPLOYING"),
        (VersionState.READY, _deployment(DeploymentState.DEPLOYING), 0, "DEPLOYING"),
        (VersionState.READY, _deployment(DeploymentState.ACTIVE), 2, "DEPLOYED"),
        (VersionState.READY, _deployment(DeploymentState.ACTIVE), None, "DEPLOYED"),
        (VersionState.READY, _deployment(DeploymentState.ACTIVE), 1, "PARTIALLY_DEPLOYED"),
        (VersionState.READY, _deployment(DeploymentState.ACTIVE), 0, "PARTIALLY_DEPLOYED"),
        (VersionState.READY, _deployment(DeploymentState.FAILED), 0, "DEPLOY_FAILED"),
        (VersionState.READY, _deployment(DeploymentState.STOPPED), 0, "UNDEPLOYED"),
    ],
)
def test_model_state(
    registry: Any,
    version_state: VersionState,
    deployment: Any,
    ready: int | None,
    expected: str,
) -> None:
    service, admin = registry.service, registry.admin
    service.create_model(admin, name="m", namespace="opensearch")
    version = dataclasses.replace(
        service.create_version(admin, "opensearch", "m"), state=version_state
    )
    assert model_state(version, deployment, ready) == expected
