"""The registry end to end through the Python SDK, against the session's real server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from e2e_support import BIG, bundle, digests

from modelyard import Client, FailedPrecondition, ModelNotFound
from modelyard.domain.enums import FileStorage, VersionState
from server_support import Server


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
def test_model_version_files_metrics_tags(admin: Client, server: Server, tmp_path: Path) -> None:
    sent = bundle(tmp_path / "bundle")
    model = admin.new_model(unique("sdk"), task="classification", metadata={"team": "risk"})
    assert admin.get_model(model.full_name).id == model.id
    assert admin.get_model(model.name, namespace="default").metadata == {"team": "risk"}

    v1 = model.new_model_version(version="1.0.0", framework="sklearn", unique_tags=["production"])
    assert v1.state == VersionState.PENDING
    uploaded = v1.upload_artifact(tmp_path / "bundle")
    assert sorted(a.path for a in uploaded) == sorted(sent)
    v1.finish()
    assert v1.state == VersionState.READY and v1.content_digest

    listed = {a.path: a for a in model.get_version("1.0.0").artifacts()}
    assert set(listed) == set(sent)
    assert listed["weights.bin"].size == BIG
    for path, digest in sent.items():
        assert listed[path].checksum == f"sha256:{digest}"
        assert listed[path].parent == v1.id
        assert listed[path].storage == FileStorage.STORED
    assert listed["README.md"].mime_type == "text/markdown"

    out = tmp_path / "pulled"
    v1.download_all(out)
    assert digests(out) == sent
    single = v1.download("config/params.json", tmp_path / "params.json")
    assert single.read_text() == (tmp_path / "bundle" / "config" / "params.json").read_text()

    for step in (3, 1, 2):
        v1.log_metrics({"loss": 1.0 / step, "note": f"epoch {step}"}, step=step)
    loss = v1.metrics(key="loss")
    assert [(m.step, m.value) for m in loss] == [(1, 1.0), (2, 0.5), (3, 1.0 / 3)]
    assert [m.key for m in v1.metrics()] == ["loss"] * 3 + ["note"] * 3

    # A READY version's files are frozen, on the SDK's typed exception.
    with pytest.raises(FailedPrecondition, match="READY"):
        v1.upload_artifact(tmp_path / "bundle" / "README.md")

    # The unique tag moves between versions; its history says which version and who.
    v2 = model.new_model_version(version="2.0.0")
    v2.set_tag("production")
    assert "production" in v2.tags
    assert model.tags() == {"production": 2}
    assert model.version_by_tag("production").id == v2.id
    assert "production" not in model.get_version("1.0.0").tags
    with Client(server.url, admin.create_token(user=_new_admin(admin))) as ops:
        ops.get_model(model.full_name).set_tag("production", "1.0.0")
    history = model.tag_history("production")
    assert [(e.version_number, e.previous_version_number) for e in history] == [
        (1, None),
        (2, 1),
        (1, 2),
    ]
    assert [e.moved_by for e in history][:2] == ["admin", "admin"]
    assert history[2].moved_by.startswith("ops-")

    model.update_metadata("stage", "beta")
    assert model.refresh().metadata == {"team": "risk", "stage": "beta"}


def _new_admin(admin: Client) -> str:
    return admin.create_user(unique("ops"), is_admin=True).name


def test_second_user_sees_public_but_not_private_models(admin: Client, server: Server) -> None:
    private = admin.new_model(unique("private"))
    public = admin.new_model(unique("public"), access="public")
    viewer_name = admin.create_user(unique("viewer")).name
    with Client(server.url, admin.create_token(user=viewer_name)) as viewer:
        assert viewer.whoami().name == viewer_name
        with pytest.raises(ModelNotFound):
            viewer.get_model(private.full_name)
        assert viewer.get_model(public.full_name).id == public.id
        visible = {m.name for m in viewer.list_models(name_prefix="p")}
        assert public.name in visible and private.name not in visible


def test_list_models_pages_through_filters(admin: Client) -> None:
    prefix = unique("page")
    names = {admin.new_model(f"{prefix}-{i}", task="paging").name for i in range(5)}
    listed = [m.name for m in admin.list_models(name_prefix=prefix, page_size=2)]
    assert sorted(listed) == sorted(names)
    assert {m.name for m in admin.list_models(name_contains=prefix[5:], task="paging")} == names
