"""Kubernetes `Status` errors: every failure the facade returns is one, as an API server does."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

_REASONS = {
    400: "BadRequest",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
}


class KubeError(Exception):
    """Raised inside a handler; the route wrapper turns it into a `Status` response."""

    def __init__(
        self, code: int, message: str, *, reason: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details


def not_found(resource: str, name: str, group: str = "") -> KubeError:
    qualified = f"{resource}.{group}" if group else resource
    return KubeError(
        404,
        f'{qualified} "{name}" not found',
        details={"name": name, "group": group, "kind": resource},
    )


def status_body(error: KubeError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": error.message,
        "reason": error.reason,
        "code": error.code,
    }
    if error.details is not None:
        body["details"] = error.details
    return body


def status_response(error: KubeError) -> JSONResponse:
    return JSONResponse(status_body(error), status_code=error.code)
