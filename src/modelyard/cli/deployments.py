"""``modelyard deploy``, ``modelyard predict`` and ``modelyard deployments``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from modelyard.cli._common import Env, json_option, pass_env, print_json, print_record, print_table
from modelyard.client.deployments import Deployment

FIELDS = (
    "id",
    "name",
    "namespace",
    "model",
    "version",
    "state",
    "status_message",
    "backend",
    "replicas",
    "replicas_ready",
    "batching",
    "memory_mb",
    "request_timeout_s",
    "idle_ttl_s",
    "deploy_on_predict",
    "public",
    "forced",
    "task_id",
    "created_by",
    "created_at",
    "last_used_at",
    "endpoints",
)
COLUMNS = ("id", "name", "namespace", "model", "version", "state", "replicas", "replicas_ready")


def _settings(f: Any) -> Any:
    options = [
        click.option("--max-batch-size", type=click.IntRange(1, 1024), help="Micro-batch size."),
        click.option("--max-wait-ms", type=click.FloatRange(0, 1000), help="Batch wait, ms."),
        click.option("--memory-mb", type=click.IntRange(min=256), help="Memory per replica."),
        click.option("--request-timeout", type=float, help="Seconds a prediction may take."),
        click.option("--idle-ttl", type=float, help="Undeploy after this many idle seconds."),
        click.option(
            "--deploy-on-predict/--no-deploy-on-predict",
            default=None,
            help="A prediction while STOPPED deploys it again.",
        ),
        click.option(
            "--public/--no-public",
            default=None,
            help="Anyone may predict with it (by id or V2 name) without a token.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command()
@click.argument("ref", metavar="NS/NAME")
@click.argument("version", required=False)
@click.option("--tag", help="Deploy the version holding this tag instead of VERSION.")
@click.option("--replicas", type=click.IntRange(1, 64), default=1, show_default=True)
@_settings
@click.option("--name", help="The KServe V2 model name (default: the model's name).")
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    help="Worker processes on the server, or its Ray cluster (default: the server's).",
)
@click.option("--force", is_flag=True, help="Deploy even though the version's checks FAILED.")
@click.option("--no-wait", is_flag=True, help="Print the deployment and return at once.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Wait this long.")
@json_option
@pass_env
def deploy(
    env: Env,
    ref: str,
    version: str | None,
    tag: str | None,
    replicas: int,
    max_batch_size: int | None,
    max_wait_ms: float | None,
    memory_mb: int | None,
    request_timeout: float | None,
    idle_ttl: float | None,
    deploy_on_predict: bool | None,
    public: bool | None,
    name: str | None,
    backend: str | None,
    force: bool,
    no_wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Serve VERSION (or --tag) of NS/NAME; waits until it is ACTIVE."""
    if (version is None) == (tag is None):
        raise click.UsageError("give VERSION or --tag (not both)")
    model = env.model(ref)
    target = model.get_version(version) if version is not None else model.version_by_tag(tag or "")
    deployment = target.deploy(
        replicas=replicas,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        memory_mb=memory_mb,
        request_timeout_s=request_timeout,
        idle_ttl_s=idle_ttl,
        deploy_on_predict=deploy_on_predict,
        public=public,
        name=name,
        backend=backend,
        force=force,
        wait=not no_wait,
        timeout=timeout,
    )
    print_record(deployment.info, FIELDS, as_json)


@click.command()
@click.argument("deployment_id", metavar="DEPLOYMENT")
@click.option("--data", "data_json", help="The input as JSON, e.g. '[[5.1, 3.5, 1.4, 0.2]]'.")
@click.option(
    "--file",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file holding the input ('-' for stdin is --file /dev/stdin).",
)
@pass_env
def predict(env: Env, deployment_id: str, data_json: str | None, data_file: Path | None) -> None:
    """Predict with DEPLOYMENT (its id) and print the answer as JSON."""
    if (data_json is None) == (data_file is None):
        raise click.UsageError("give the input with --data or --file (one of them)")
    text = data_json if data_json is not None else data_file.read_text()  # type: ignore[union-attr]
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data/--file") from None
    print_json(env.client.get_deployment(deployment_id).predict(data))


@click.group(invoke_without_command=True)
@click.option("--state", type=click.Choice(["PENDING", "DEPLOYING", "ACTIVE", "FAILED", "STOPPED"]))
@json_option
@click.pass_context
def deployments(ctx: click.Context, state: str | None, as_json: bool) -> None:
    """Deployments of models you can see (newest first); subcommands show, scale, undeploy."""
    if ctx.invoked_subcommand is None:
        env: Env = ctx.obj
        print_table((d.info for d in env.client.list_deployments(state=state)), COLUMNS, as_json)


@deployments.command("show")
@click.argument("deployment_id", metavar="DEPLOYMENT")
@click.option("--wait", is_flag=True, help="Wait until it is ACTIVE (exit 1 if it FAILED).")
@json_option
@pass_env
def show(env: Env, deployment_id: str, wait: bool, as_json: bool) -> None:
    """One deployment: state, replicas, settings, endpoints."""
    deployment: Deployment = env.client.get_deployment(deployment_id)
    print_record((deployment.wait() if wait else deployment).info, FIELDS, as_json)


@deployments.command("update")
@click.argument("deployment_id", metavar="DEPLOYMENT")
@click.option("--replicas", type=click.IntRange(1, 64))
@_settings
@json_option
@pass_env
def update(
    env: Env,
    deployment_id: str,
    replicas: int | None,
    max_batch_size: int | None,
    max_wait_ms: float | None,
    memory_mb: int | None,
    request_timeout: float | None,
    idle_ttl: float | None,
    deploy_on_predict: bool | None,
    public: bool | None,
    as_json: bool,
) -> None:
    """Scale or reconfigure a deployment; live replicas follow without dropping requests."""
    deployment = env.client.get_deployment(deployment_id).update(
        replicas=replicas,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        memory_mb=memory_mb,
        request_timeout_s=request_timeout,
        idle_ttl_s=idle_ttl,
        deploy_on_predict=deploy_on_predict,
        public=public,
    )
    print_record(deployment.info, FIELDS, as_json)


@deployments.command("undeploy")
@click.argument("deployment_id", metavar="DEPLOYMENT")
@json_option
@pass_env
def undeploy(env: Env, deployment_id: str, as_json: bool) -> None:
    """Stop serving a deployment (STOPPED)."""
    print_record(env.client.get_deployment(deployment_id).undeploy().info, FIELDS, as_json)
