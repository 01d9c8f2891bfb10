"""The model catalog routes in-process, signed as the oci SDK signs: a catalog model's life
(create, read, update, provenance, artifact up and down, list, delete) and each failure path
in OCI's error shape; and the signing-key routes of the native API."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx

from modelyard.api.app import create_app
from oci_support import OciApi, Signer, fingerprint, keys, private_pem, public_pem

FILES = {
    "score.py": b"def load_model():\n    return 1\n\n\ndef predict(data, model=load_model()):\n"
    b"    return {'prediction': data}\n",
    "runtime.yaml": b"MODEL_ARTIFACT_VERSION: '3.0'\n",
    "model_artifact_manifest.json": b"{}",
}
NEW = {
    "compartmentId": "ocid1.compartment.oc1..c",
    "projectId": "ads",
    "displayName": "churn model",
    "description": "first",
    "freeformTags": {"team": "risk"},
    "customMetadataList": [
        {"key": "team", "value": "risk", "category": "Other", "hasArtifact": False}
    ],
    "definedMetadataList": [{"key": "Framework", "value": "scikit-learn"}],
    "inputSchema": '{"schema": []}',
}


def oci_error(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code, body
    assert answer.headers["opc-request-id"]
    message: str = body["message"]
    return message


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def create(oci: OciApi, signer: Signer, **changes: Any) -> dict[str, Any]:
    answer = oci.http.post("/20190101/models", json={**NEW, **changes}, auth=signer)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def upload(oci: OciApi, model_id: str, data: bytes) -> httpx.Response:
    headers = {
        "content-disposition": "attachment; filename=artifact.zip",
        "content-type": "application/octet-stream",
    }
    signer = Signer(oci.bob_key, sign_body=False)
    url = f"/20190101/models/{model_id}/artifact"
    return oci.http.post(url, content=data, headers=headers, auth=signer)


def test_a_catalog_model_lives_as_a_version(oci: OciApi) -> None:
    made = create(oci, oci.bob)
    assert made["lifecycleState"] == "ACTIVE"
    assert made["projectId"] == "ads" and made["modelVersionSetName"] == "churn-model"
    assert made["customMetadataList"][0]["key"] == "team"
    defined = made["definedMetadataList"]
    assert [(d["key"], d["value"]) for d in defined] == [("Framework", "scikit-learn")]
    url = f"/20190101/models/{made['id']}"
    native = oci.api.client_for("bob").get("/api/v1/models/ads/churn-model/versions/1").json()
    assert native["id"] == made["id"] and native["name"] == "churn model"
    assert native["metadata"]["oci"]["freeformTags"] == {"team": "risk"}

    changed = oci.http.put(
        url,
        json={"displayName": "churn v1", "freeformTags": {"team": "ops"}},
        auth=oci.bob,
        headers={"if-match": oci.http.get(url, auth=oci.bob).headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["displayName"] == "churn v1"
    assert changed.json()["customMetadataList"] == made["customMetadataList"]  # kept

    provenance = {"repositoryUrl": "https://git/x", "gitCommit": "abc", "trainingScript": "t.py"}
    assert oci.http.post(url + "/provenance", json=provenance, auth=oci.bob).json() == provenance
    assert oci.http.get(url + "/provenance", auth=oci.bob).json() == provenance
    native = oci.api.client_for("bob").get("/api/v1/models/ads/churn-model/versions/1").json()
    assert native["provenance"]["repo"] == "https://git/x"
    assert native["provenance"]["commit"] == "abc"

    assert upload(oci, made["id"], zipped(FILES)).status_code == 200
    head = oci.http.head(url + "/artifact/content", auth=oci.bob)
    assert head.status_code == 200
    assert head.headers["content-disposition"] == "attachment; filename=churn-model-1.zip"
    content = oci.http.get(url + "/artifact/content", auth=oci.bob)
    assert content.status_code == 200
    assert int(head.headers["content-length"]) == len(content.content)
    with zipfile.ZipFile(io.BytesIO(content.content)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == FILES  # no manifest of modelyard's

    second = create(oci, oci.bob, displayName="churn model", versionLabel="2.0")
    assert second["modelVersionSetId"] == made["modelVersionSetId"]
    assert second["versionId"] == 2 and second["versionLabel"] == "2.0"
    joined = create(oci, oci.bob, displayName="other", modelVersionSetId=made["modelVersionSetId"])
    assert joined["modelVersionSetName"] == "churn-model"

    listed = oci.http.get("/20190101/models?compartmentId=c&projectId=ads&limit=2", auth=oci.bob)
    assert [m["versionId"] for m in listed.json()] == [1, 2]
    assert "customMetadataList" not in listed.json()[0]
    rest = oci.http.get(
        f"/20190101/models?compartmentId=c&projectId=ads&limit=2&page={listed.headers['opc-next-page']}",
        auth=oci.bob,
    )
    assert [m["id"] for m in rest.json()] == [joined["id"]]
    assert "opc-next-page" not in rest.headers
    named = oci.http.get("/20190101/models?compartmentId=c&displayName=other", auth=oci.bob)
    assert [m["id"] for m in named.json()] == [joined["id"]]

    assert oci.http.delete(url, auth=oci.bob).status_code == 204
    oci_error(oci.http.get(url, auth=oci.bob), 404, "NotAuthorizedOrNotFound")


def test_failure_paths_answer_in_ocis_shape(oci: OciApi) -> None:
    missing = oci.http.post("/20190101/models", json={"projectId": "ads"}, auth=oci.bob)
    assert "compartmentId" in oci_error(missing, 400, "InvalidParameter")
    oci_error(oci.http.get("/20190101/models/nope", auth=oci.bob), 404, "NotAuthorizedOrNotFound")
    oci_error(oci.http.get("/20190101/nothing", auth=oci.bob), 404, "NotAuthorizedOrNotFound")

    made = create(oci, oci.bob)
    url = f"/20190101/models/{made['id']}"
    oci_error(oci.http.get(url + "/artifact/content", auth=oci.bob), 404, "NotAuthorizedOrNotFound")
    assert "zip" in oci_error(upload(oci, made["id"], b"not a zip"), 400, "InvalidParameter")
    assert upload(oci, made["id"], zipped(FILES)).status_code == 200
    again = upload(oci, made["id"], zipped(FILES))
    assert "immutable" in oci_error(again, 409, "IncorrectState")
    stale = oci.http.put(url, json={"description": "x"}, headers={"if-match": "0"}, auth=oci.bob)
    oci_error(stale, 412, "NoEtagMatch")
    relabel = oci.http.put(url, json={"versionLabel": "9"}, auth=oci.bob)
    assert "versionLabel" in oci_error(relabel, 400, "InvalidParameter")
    elsewhere = oci.http.post(
        "/20190101/models",
        json={**NEW, "projectId": "other", "modelVersionSetId": made["modelVersionSetId"]},
        auth=oci.bob,
    )
    assert "modelVersionSetId" in oci_error(elsewhere, 400, "InvalidParameter")


def test_permissions_are_the_services(oci: OciApi) -> None:
    """Bob's models are private: the admin sees them; a third user does not, nor can change
    or delete them (404, as OCI answers what one may not touch)."""
    made = create(oci, oci.bob)
    url = f"/20190101/models/{made['id']}"
    assert oci.http.get(url, auth=oci.admin).status_code == 200
    carol_key = keys(3)[2]
    carol = oci.api.client_for("carol")
    assert carol.post(
        "/api/v1/users/me/keys", json={"public_key": public_pem(carol_key)}
    ).is_success
    as_carol = Signer(carol_key)
    oci_error(oci.http.get(url, auth=as_carol), 404, "NotAuthorizedOrNotFound")
    oci_error(oci.http.delete(url, auth=as_carol), 404, "NotAuthorizedOrNotFound")
    assert oci.http.get("/20190101/models?compartmentId=c", auth=as_carol).json() == []


def test_signing_keys_are_registered_listed_and_deleted(oci: OciApi, assert_problem: Any) -> None:
    bob = oci.api.client_for("bob")
    listed = bob.get("/api/v1/users/me/keys").json()["keys"]
    assert [k["fingerprint"] for k in listed] == [fingerprint(oci.bob_key)]
    assert listed[0]["user"] == "bob"
    again = bob.post("/api/v1/users/me/keys", json={"public_key": public_pem(oci.bob_key)})
    assert_problem(again, 409, "ALREADY_EXISTS", "public_key")
    secret = bob.post("/api/v1/users/me/keys", json={"public_key": private_pem(oci.bob_key)})
    assert "private key" in assert_problem(secret, 422, "INVALID_ARGUMENT", "public_key")["detail"]
    garbage = bob.post("/api/v1/users/me/keys", json={"public_key": "hello"})
    assert_problem(garbage, 422, "INVALID_ARGUMENT", "public_key")
    others = bob.get("/api/v1/users/me/keys", params={"user": "admin"})
    assert_problem(others, 403, "PERMISSION_DENIED")
    key_id = listed[0]["id"]
    assert_problem(
        oci.api.client_for("carol").delete(f"/api/v1/users/me/keys/{key_id}"), 404, "NOT_FOUND"
    )

    assert oci.http.get("/20190101/models?compartmentId=c", auth=oci.bob).status_code == 200
    assert bob.delete(f"/api/v1/users/me/keys/{key_id}").json()["id"] == key_id
    gone = oci.http.get("/20190101/models?compartmentId=c", auth=oci.bob)
    assert "is registered" in oci_error(gone, 401, "NotAuthenticated")
    audit = oci.api.admin.get("/api/v1/audit", params={"actor": "bob", "action": "key."}).json()
    assert [(e["action"], e["outcome"]) for e in audit["events"]][:2] == [
        ("key.delete", "success"),
        ("key.add", "failed"),  # the last refused one
    ]
    failed = oci.api.admin.get("/api/v1/audit", params={"action": "auth.failed"}).json()
    assert "is registered" in failed["events"][0]["detail"]["why"]


def test_without_signing_keys_the_key_routes_and_the_dialect_refuse(api: Any) -> None:
    app = create_app(api.service)  # no keys
    holder = type(api)(registry=api.registry, app=app, portal=api.portal)
    try:
        answer = holder.admin.post("/api/v1/users/me/keys", json={"public_key": "x"})
        assert answer.status_code == 409
        signed = holder.anon.get("/20190101/models/x", auth=Signer(keys(1)[0]))
        oci_error(signed, 409, "IncorrectState")
    finally:
        holder.close()


def test_the_dialect_documents_itself(oci: OciApi) -> None:
    main = oci.http.get("/openapi.json").json()["info"]["description"]
    assert "/20190101/docs" in main
    assert oci.http.get("/20190101/docs").status_code == 200
    schema = oci.http.get("/20190101/openapi.json").json()
    assert {"/models", "/models/{model_id}", "/models/{model_id}/artifact"} <= set(schema["paths"])
    assert set(schema["components"]["schemas"]["ModelCreate"]["required"]) == {
        "compartmentId",
        "projectId",
    }


def test_json_bodies_are_capped_and_artifacts_stream(oci: OciApi) -> None:
    big = b'{"compartmentId": "' + b"a" * (17 * 1024 * 1024) + b'"}'
    answer = oci.http.post("/20190101/models", content=big, auth=oci.bob)
    assert answer.status_code == 413  # refused before the dialect: no opc-request-id
    assert answer.json()["code"] == "RequestEntityTooLarge"
    made = create(oci, oci.bob)
    large = zipped({**FILES, "model.bin": bytes(17 * 1024 * 1024)})
    assert upload(oci, made["id"], large).status_code == 200
