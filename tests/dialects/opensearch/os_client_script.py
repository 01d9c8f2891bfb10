"""Run by test_opensearch_client.py with opensearch-py-ml's own venv: the published client,
unchanged, against a running modelyard server. Reads its settings (a JSON file named by
argv[1]) and prints one JSON object of what the server answered."""

import json
import sys

from opensearch_py_ml.ml_commons import MLCommonClient
from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

ML = "/_plugins/_ml"


def error_of(call):
    try:
        call()
    except TransportError as exc:
        return {"status": exc.status_code, "type": exc.error}
    return None


def main() -> None:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    client = OpenSearch(hosts=[cfg["url"]], http_auth=(cfg["user"], cfg["token"]), timeout=120)
    ml = MLCommonClient(client)
    access = ml.model_access_control
    out = {}

    out["group"] = access.register_model_group(
        name="tiny-embeddings", description="test models", access_mode="private"
    )
    group_id = out["group"]["model_group_id"]
    out["group_id_by_name"] = access.get_model_group_id_by_name("tiny-embeddings")

    # A TorchScript model in 10,000,000-byte chunks, deployed by the client and waited for.
    torch_id = ml.register_model(
        cfg["torch_zip"], cfg["torch_meta"], model_group_id=group_id, deploy_model=True
    )
    out["torch_id"] = torch_id
    out["torch_model"] = ml.get_model_info(torch_id)
    out["torch_embedding"] = ml.generate_embedding(torch_id, cfg["texts"])
    out["torch_predict"] = ml.predict(torch_id, {"text_docs": cfg["texts"]})

    # An ONNX model from a URL on 127.0.0.1 (the client has no method for it: its transport).
    registered = client.transport.perform_request(
        "POST", f"{ML}/models/_register", body=cfg["onnx_register"]
    )
    task = ml.get_task_info(registered["task_id"], wait_until_task_done=True)
    out["onnx_task"] = task
    onnx_id = task["model_id"]
    out["onnx_deploy"] = ml.deploy_model(onnx_id)
    out["onnx_embedding"] = ml.generate_model_inference(onnx_id, {"text_docs": cfg["texts"]})

    out["models_found"] = ml.search_model({"query": {"term": {"model_group_id": group_id}}})
    out["tasks_found"] = ml.search_task({"query": {"term": {"model_id": onnx_id}}})
    out["groups_found"] = access.search_model_group(
        {"query": {"match": {"name": "tiny-embeddings"}}}
    )
    out["delete_deployed"] = error_of(lambda: ml.delete_model(torch_id))

    out["undeploy"] = [ml.undeploy_model(torch_id), ml.undeploy_model(onnx_id)]
    out["after_undeploy"] = ml.get_model_info(torch_id)["model_state"]
    out["delete"] = [ml.delete_model(torch_id), ml.delete_model(onnx_id)]
    out["delete_group"] = access.delete_model_group(group_id)
    out["delete_task"] = ml.delete_task(registered["task_id"])
    out["gone"] = error_of(lambda: ml.get_model_info(torch_id))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
