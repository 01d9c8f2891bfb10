"""The Python SDK: ``Client`` and the objects it returns."""

from modelyard.client.client import Client
from modelyard.client.deployments import Deployment
from modelyard.client.resources import Artifact, Metric, Model, ModelVersion

__all__ = ["Artifact", "Client", "Deployment", "Metric", "Model", "ModelVersion"]
