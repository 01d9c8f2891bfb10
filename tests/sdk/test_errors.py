"""Problem+json responses come back as the exception class the server raised."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sdk_wire import Handler, model_json

from modelyard import Client
from modelyard.errors import (
    ERROR_CLASSES,
    Conflict,
    ErrorCode,
    FileNotFound,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RegistryError,
)

STATUS = {
    ErrorCode.INTERNAL: 500,
    ErrorCode.CONFLICT: 409,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.FAILED_PRECONDITION: 409,
    ErrorCode.INVALID_ARGUMENT: 422,
    ErrorCode.INTEGRITY_ERROR: 422,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.TOO_MANY_REQUESTS: 429,
}


def problem(status: int, code: str, detail: str = "it went wrong") -> httpx.Response:
    body = {
        "type": f"https://modelyard.dev/problems/{code.lower()}",
        "title": "x",
        "status": status,
        "detail": detail,
        "code": code,
        "errors": [{"field": "name", "message": "expected a name"}],
        "request_id": "req-123",
    }
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


@pytest.mark.parametrize("code", list(ERROR_CLASSES), ids=str)
def test_each_code_raises_its_class(
    mock_client: Callable[[Handler], Client], code: ErrorCode
) -> None:
    status = STATUS.get(code, 404)
    client = mock_client(lambda request: problem(status, str(code)))
    with pytest.raises(RegistryError) as caught:
        client.get_model("default/m")
    exc = caught.value
    assert type(exc) is ERROR_CLASSES[code]
    assert exc.message == "it went wrong"
    assert exc.status == status  # type: ignore[attr-defined]
    assert exc.request_id == "req-123"  # type: ignore[attr-defined]
    assert exc.field == "name"
    assert exc.errors[0].message == "expected a name"


@pytest.mark.parametrize(
    ("code", "builtin"),
    [
        (ErrorCode.FILE_NOT_FOUND, FileNotFoundError),
        (ErrorCode.PERMISSION_DENIED, PermissionError),
        (ErrorCode.INVALID_ARGUMENT, ValueError),
    ],
)
def test_typed_errors_are_also_builtins(
    mock_client: Callable[[Handler], Client], code: ErrorCode, builtin: type[Exception]
) -> None:
    client = mock_client(lambda request: problem(STATUS.get(code, 404), str(code)))
    with pytest.raises(builtin):
        client.get_model("m")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(404, NotFound), (409, Conflict), (422, InvalidArgument), (403, PermissionDenied)],
)
def test_responses_without_a_known_code_map_by_status(
    mock_client: Callable[[Handler], Client], status: int, expected: type[RegistryError]
) -> None:
    client = mock_client(lambda request: httpx.Response(status, text="proxy says no"))
    with pytest.raises(expected) as caught:
        client.get_model("m")
    assert type(caught.value) is expected
    assert caught.value.message == "proxy says no"


def test_unknown_status_is_a_registry_error(mock_client: Callable[[Handler], Client]) -> None:
    client = mock_client(lambda request: httpx.Response(502, json={"code": "FROM_THE_FUTURE"}))
    with pytest.raises(RegistryError) as caught:
        client.get_model("m")
    assert type(caught.value) is RegistryError
    assert caught.value.status == 502  # type: ignore[attr-defined]


def test_file_not_found_on_download(
    mock_client: Callable[[Handler], Client], tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/files/missing.bin"):
            return problem(404, "FILE_NOT_FOUND", "no file missing.bin")
        return httpx.Response(200, json=model_json("m"))

    client = mock_client(handler)
    with pytest.raises(FileNotFound, match=r"no file missing\.bin"):
        client.get_model("m").download("missing.bin", tmp_path)
