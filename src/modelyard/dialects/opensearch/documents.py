"""modelyard's entities as ML Commons' documents: model groups, models and tasks, with the
field names, enum values and epoch-millisecond times ML Commons stores in its indices (what its
get and search APIs answer).

A model's ``model_state`` is derived from its version's state and its newest deployment's:

=====================  ===========================================  =====================
version                deployment                                   model_state
=====================  ===========================================  =====================
PENDING                -                                            REGISTERING
FAILED                 -                                            REGISTER_FAILED
READY                  none                                         REGISTERED
READY                  PENDING, DEPLOYING                           DEPLOYING
READY                  ACTIVE, all replicas ready (or none known)   DEPLOYED
READY                  ACTIVE, fewer replicas ready than wanted     PARTIALLY_DEPLOYED
READY                  FAILED                                       DEPLOY_FAILED
READY                  STOPPED                                      UNDEPLOYED
=====================  ===========================================  =====================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelyard.domain.deployments import Deployment, DeploymentState
from modelyard.domain.entities import Model, ModelVersion
from modelyard.domain.enums import VersionState
from modelyard.domain.tasks import Task, TaskKind

GROUP_INDEX = ".plugins-ml-model-group"
MODEL_INDEX = ".plugins-ml-model"
TASK_INDEX = ".plugins-ml-task"
#: The one algorithm (``function_name``) modelyard serves through this dialect.
ALGORITHM = "TEXT_EMBEDDING"
#: ML Commons' worker node, as tasks and undeploy answers name it.
NODE = "modelyard"
#: The version metadata key holding what ML Commons records of the uploaded zip.
METADATA_KEY = "opensearch"
TASK_TYPES = {TaskKind.IMPORT_FILES: "REGISTER_MODEL", TaskKind.DEPLOY: "DEPLOY_MODEL"}


def millis(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def group_source(model: Model, latest_version: int) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": model.name,
        "latest_version": latest_version,
        "description": model.description or "",
        "access": str(model.access),
        "owner": {"name": model.owner, "backend_roles": [], "roles": []},
        "created_time": millis(model.created_at),
        "last_updated_time": millis(model.updated_at),
        "model_group_id": model.id,
    }
    if model.teams:
        source["backend_roles"] = list(model.teams)
    return source


def model_state(
    version: ModelVersion, deployment: Deployment | None, ready_replicas: int | None
) -> str:
    """See the module's table; ``ready_replicas`` None: not known on this server."""
    if version.state == VersionState.PENDING:
        return "REGISTERING"
    if version.state != VersionState.READY:
        return "REGISTER_FAILED"
    if deployment is None:
        return "REGISTERED"
    if deployment.state in (DeploymentState.PENDING, DeploymentState.DEPLOYING):
        return "DEPLOYING"
    if deployment.state == DeploymentState.FAILED:
        return "DEPLOY_FAILED"
    if deployment.state == DeploymentState.STOPPED:
        return "UNDEPLOYED"
    if ready_replicas is not None and ready_replicas < deployment.settings.replicas:
        return "PARTIALLY_DEPLOYED"
    return "DEPLOYED"


def model_source(
    version: ModelVersion, deployment: Deployment | None, ready_replicas: int | None
) -> dict[str, Any]:
    recorded: dict[str, Any] = version.metadata.get(METADATA_KEY) or {}
    spec = version.runtime.text_embedding if version.runtime is not None else None
    state = model_state(version, deployment, ready_replicas)
    source: dict[str, Any] = {
        "name": version.name or version.model,
        "model_group_id": version.model_id,
        "algorithm": ALGORITHM,
        "model_version": str(version.number),
        "model_format": str(spec.model_format) if spec is not None else None,
        "model_state": state,
        "model_content_size_in_bytes": recorded.get("model_content_size_in_bytes"),
        "model_content_hash_value": recorded.get("model_content_hash_value"),
        "model_config": version.meta_info.model_config_,
        "created_time": millis(version.created_at),
        "last_updated_time": millis(version.updated_at),
        "last_registered_time": millis(version.finished_at),
        "total_chunks": recorded.get("total_chunks"),
        "is_hidden": False,
    }
    if version.description:
        source["description"] = version.description
    if version.status_message and state == "REGISTER_FAILED":
        source["error"] = version.status_message
    if deployment is not None:
        replicas = deployment.settings.replicas
        deployed = state in ("DEPLOYED", "PARTIALLY_DEPLOYED")
        source["planning_worker_node_count"] = replicas
        known = replicas if ready_replicas is None else ready_replicas
        source["current_worker_node_count"] = known if deployed else 0
        source["planning_worker_nodes"] = [NODE]
        source["deploy_to_all_nodes"] = True
        if deployed:
            source["last_deployed_time"] = millis(deployment.updated_at)
        elif deployment.state == DeploymentState.STOPPED:
            source["last_undeployed_time"] = millis(deployment.updated_at)
    return {k: v for k, v in source.items() if v is not None}


def task_source(task: Task) -> dict[str, Any]:
    """A task as ML Commons answers ``GET tasks/{id}``; its ``model_id`` is the version's."""
    source: dict[str, Any] = {
        "task_type": TASK_TYPES.get(task.kind, str(task.kind)),
        "function_name": ALGORITHM,
        "state": str(task.state),
        "worker_node": [NODE],
        "create_time": millis(task.created_at),
        "last_update_time": millis(task.finished_at or task.started_at or task.created_at),
        "is_async": True,
    }
    if task.version_id is not None:
        source["model_id"] = task.version_id
    if task.error:
        source["error"] = task.error
    return source


def deleted(index: str, doc_id: str) -> dict[str, Any]:
    """OpenSearch's answer to deleting one document."""
    return {
        "_index": index,
        "_id": doc_id,
        "_version": 1,
        "result": "deleted",
        "_shards": {"total": 1, "successful": 1, "failed": 0},
        "_seq_no": 0,
        "_primary_term": 1,
    }
