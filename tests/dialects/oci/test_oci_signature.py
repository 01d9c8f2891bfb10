"""OCI request signatures: what is accepted, and each way a request is refused (401 in OCI's
error shape, ``{"code": "NotAuthenticated", "message"}``)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from modelyard.dialects.oci import signature
from modelyard.errors import Unauthenticated
from oci_support import GENERIC, OciApi, Signer, fingerprint, keys

MODEL = {"compartmentId": "ocid1.compartment.oc1..c", "projectId": "ads", "displayName": "m"}


def refused(answer: httpx.Response, words: str) -> None:
    assert answer.status_code == 401, answer.text
    body = answer.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == "NotAuthenticated"
    assert words in body["message"], body["message"]
    assert answer.headers["opc-request-id"]


def test_a_request_signed_with_a_registered_key_acts_as_its_user(oci: OciApi) -> None:
    made = oci.http.post("/20190101/models", json=MODEL, auth=oci.bob)
    assert made.status_code == 200, made.text
    assert made.json()["createdBy"] == "bob"
    got = oci.http.get(f"/20190101/models/{made.json()['id']}", auth=oci.bob)
    assert got.status_code == 200
    assert got.headers["etag"] == made.headers["etag"]
    sent = oci.http.get(
        "/20190101/models?compartmentId=c&projectId=ads",
        auth=oci.bob,
        headers={"opc-request-id": "abc"},
    )
    assert sent.status_code == 200
    assert sent.headers["opc-request-id"] == "abc"


def test_unsigned_requests_are_refused(oci: OciApi) -> None:
    refused(oci.http.get("/20190101/models?compartmentId=c"), "not signed")
    token = oci.api.registry.admin_token
    bearer = {"Authorization": f"Bearer {token}"}
    refused(oci.http.get("/20190101/models?compartmentId=c", headers=bearer), "not signed")


def test_a_key_nobody_registered_is_refused(oci: OciApi) -> None:
    *_, stranger = keys(3)
    refused(oci.http.get("/20190101/models/x", auth=Signer(stranger)), "is registered")


def test_a_registered_fingerprint_with_another_key_is_refused(oci: OciApi) -> None:
    forged = Signer(keys(3)[2], key_fingerprint=fingerprint(oci.bob_key))
    refused(oci.http.get("/20190101/models/x", auth=forged), "does not verify")


def test_a_body_changed_after_signing_is_refused(oci: OciApi) -> None:
    tampered = Signer(oci.bob_key, tamper=b'{"compartmentId": "c", "projectId": "evil"}')
    refused(oci.http.post("/20190101/models", json=MODEL, auth=tampered), "x-content-sha256")


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_stale_or_future_date_is_refused(oci: OciApi, minutes: int) -> None:
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    refused(oci.http.get("/20190101/models/x", auth=Signer(oci.bob_key, date=when)), "clock")


@pytest.mark.parametrize(
    ("method", "names", "missing"),
    [
        ("GET", ("date", "(request-target)"), "host"),
        ("GET", ("(request-target)", "host"), "date"),
        ("POST", GENERIC, "content-length, content-type, x-content-sha256"),
    ],
)
def test_a_signature_must_cover_the_required_headers(
    oci: OciApi, method: str, names: tuple[str, ...], missing: str
) -> None:
    signer = Signer(oci.bob_key, headers=names)
    answer = oci.http.request(method, "/20190101/models?compartmentId=c", json=MODEL, auth=signer)
    refused(answer, f"does not cover {missing}")


def test_the_signed_target_is_the_path_and_query_sent(oci: OciApi) -> None:
    signer = Signer(oci.bob_key)
    request = oci.http.build_request("GET", "/20190101/models?compartmentId=c")
    signed = next(signer.auth_flow(request))
    changed = oci.http.build_request(
        "GET", "/20190101/models?compartmentId=d", headers=dict(signed.headers)
    )
    refused(oci.http.send(changed), "does not verify")


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ('Signature keyId="a/b/c",signature="!!"', "not base64"),
        ('Signature keyId="nofingerprint",signature="AA=="', "<tenancy>/<user>/<fingerprint>"),
        ('Signature version="2",keyId="a/b/c",signature="AA=="', "version"),
        ('Signature algorithm="hmac-sha256",keyId="a/b/c",signature="AA=="', "algorithm"),
        ("Signature keyId=a/b/c", "malformed"),
    ],
)
def test_malformed_authorization_headers_are_refused(header: str, words: str) -> None:
    with pytest.raises(Unauthenticated, match=words.replace("<", ".").replace(">", ".")):
        signature.parse(header)


def test_only_the_signed_date_counts(oci: OciApi) -> None:
    """An old signature cannot be replayed by adding a fresh, unsigned x-date."""
    old = datetime.now(UTC) - timedelta(minutes=10)
    request = oci.http.build_request("GET", "/20190101/models/x")
    signed = next(Signer(oci.bob_key, date=old).auth_flow(request))
    fresh = email.utils.formatdate(usegmt=True)
    replayed = oci.http.build_request(
        "GET", "/20190101/models/x", headers={**signed.headers, "x-date": fresh}
    )
    refused(oci.http.send(replayed), "clock")
