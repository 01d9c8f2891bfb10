"""The published ``modelbox`` 0.0.5 client against a running modelyard server, through its own
high-level API, as a ModelBox user would call it (it sends no credentials: namespace ``mbx``
takes anonymous calls on this server).

Run by test_grpc_modelbox_client.py in a pytest of its own: the client's modules cannot share a
process with MLflow's (see modelbox_stub)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import grpc
from grpc_support import ANONYMOUS_NAMESPACE, GrpcServer
from modelbox import service_pb2, service_pb2_grpc
from modelbox.modelbox import Event, EventSource, MLFramework, ModelBox

from modelyard import Client


def test_models_versions_files_metrics_metadata_experiments_and_events(
    grpc_server: GrpcServer, admin: Client, tmp_path: Path
) -> None:
    mb = ModelBox(grpc_server.address)
    model = mb.new_model("asr", "", ANONYMOUS_NAMESPACE, "English ASR", "speech to text")
    version = model.new_model_version("1.0.0", "first", "the first", framework=MLFramework.PYTORCH)

    # Upload (the client streams 1 KiB chunks after a metadata frame) and download.
    weights = tmp_path / "weights.bin"
    content = bytes(range(256)) * 1200  # 300 KiB: more than one download chunk
    weights.write_bytes(content)
    uploaded = version.upload_artifact([str(weights)])
    file_id = uploaded.artifact_ids[str(weights)]
    copy = tmp_path / "copy.bin"
    downloaded = version.download_artifact(file_id, str(copy))
    assert copy.read_bytes() == content
    assert downloaded.checksum == hashlib.sha256(content).hexdigest()

    # Track a file that stays where it is; list the artifacts of the model and the version.
    notes = tmp_path / "notes.txt"
    notes.write_text("kept elsewhere")
    assert model.track_artifacts([str(notes)]).num_artifacts_tracked == 1
    (tracked,) = model.artifacts
    assert (tracked.path, tracked.checksum) == (
        str(notes),
        hashlib.md5(b"kept elsewhere").hexdigest(),
    )
    (stored,) = version.artifacts
    assert (stored.id, stored.checksum) == (file_id, hashlib.sha256(content).hexdigest())

    # Metrics at several steps.
    for step, loss in enumerate([0.5, 0.25, 0.125]):
        version.log_metrics({"loss": loss}, step=step)
    assert [(v.step, v.value) for v in version.all_metrics()["loss"]] == [
        (0, 0.5),
        (1, 0.25),
        (2, 0.125),
    ]

    # Metadata keeps its JSON types (the client reads every number back as a float; the
    # registry itself keeps 3 an integer).
    params = {"lr": 0.5, "layers": [64, 32], "tied": True, "name": "conformer", "n": 3}
    version.update_metadata("params", params)
    assert version.metadata().metadata == {"params": params}
    stored_params = admin.get_model("asr", ANONYMOUS_NAMESPACE).get_version("1").metadata
    assert stored_params["params"] == params
    assert isinstance(stored_params["params"]["n"], int)

    # An experiment and its checkpoint, which take metrics, files and events like any parent.
    experiment = mb.new_experiment("run-1", "", ANONYMOUS_NAMESPACE, "ext-1", MLFramework.PYTORCH)
    again = mb.experiment(experiment.id)
    assert (again.name, again.external_id, again.framework) == (
        "run-1",
        "ext-1",
        MLFramework.PYTORCH,
    )
    assert [e.id for e in mb.experiments(ANONYMOUS_NAMESPACE).experiments] == [experiment.id]
    checkpoint = experiment.new_checkpoint(3, {"loss": 0.5})
    assert [(c.id, c.epoch) for c in experiment.checkpoints()] == [(checkpoint.id, 3)]
    checkpoint.log_metrics({"acc": 0.75}, step=3)
    assert [v.value for v in checkpoint.all_metrics()["acc"]] == [0.75]

    # Events logged on the experiment come back with their metadata.
    experiment.log_event(Event("started", EventSource("trainer"), 0, {"gpus": 2}))
    (event,) = experiment.events()
    assert (event.name, event.source.name, event.metadata) == ("started", "trainer", {"gpus": 2})


def test_watch_namespace_receives_a_created_model(grpc_server: GrpcServer, admin: Client) -> None:
    start = admin.events_page(namespace=ANONYMOUS_NAMESPACE).last_id
    channel = grpc.insecure_channel(grpc_server.address)
    watch = service_pb2_grpc.ModelStoreStub(channel).WatchNamespace(
        service_pb2.WatchNamespaceRequest(namespace=ANONYMOUS_NAMESPACE, since=start),
        timeout=30,
    )
    received: list[service_pb2.WatchNamespaceResponse] = []

    def read() -> None:
        try:
            for message in watch:
                received.append(message)
                if message.payload.struct_value.fields["model"].string_value == "watched":
                    return
        except grpc.RpcError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    ModelBox(grpc_server.address).new_model("watched", "", ANONYMOUS_NAMESPACE, "t", "d")
    reader.join(timeout=30)
    watch.cancel()
    channel.close()
    created = [m for m in received if m.payload.struct_value.fields["model"].string_value]
    assert created, "no event arrived"
    assert created[-1].event == service_pb2.OBJECT_CREATED
    fields = created[-1].payload.struct_value.fields
    assert fields["action"].string_value == "model.create"
    assert fields["namespace"].string_value == ANONYMOUS_NAMESPACE
