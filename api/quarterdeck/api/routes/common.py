"""What every router shares: the control dependency and the documented error answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from quarterdeck.api.auth import Principal, Role
from quarterdeck.api.control import Control
from quarterdeck.api.schemas import Problem, ValidationProblem
from quarterdeck.api.security import require


def get_control(request: Request) -> Control:
    control: Control = request.app.state.control
    return control


ControlDep = Annotated[Control, Depends(get_control)]
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Approver = Annotated[Principal, Depends(require(Role.APPROVER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer (besides 401/403/422)."""
    text = {
        400: "bad request",
        401: "missing or invalid bearer token",
        403: "the caller's role may not do this",
        404: "no such resource",
        409: "conflicts with the current state",
        422: "the request is invalid; the message names the field",
        503: "a dependency (cluster, metrics, executor) did not answer",
    }
    out: dict[int | str, dict[str, Any]] = {
        c: {"model": Problem, "description": text[c]} for c in (401, 403, *codes)
    }
    # Any /v1 route refuses unknown or repeated query parameters, so any may answer 422.
    out[422] = {"model": ValidationProblem, "description": text[422]}
    return out


def strict_body(model: type[BaseModel]) -> Callable[[Request], Awaitable[None]]:
    """A route dependency: the raw JSON body must also validate *strictly* against `model`.

    FastAPI validates bodies in pydantic's lax mode, where `true` passes for the integer 1 and
    `"3"` for 3; for requests that change a cluster a wrong type is a mistake to refuse, not to
    guess at. The lax pass still builds the handler's argument and the OpenAPI schema.
    """

    async def check(request: Request) -> None:
        raw = await request.body()
        if not raw.strip() or raw.strip() == b"null":
            return  # no body: the lax pass already decided whether that is allowed
        try:
            model.model_validate_json(raw, strict=True)
        except ValidationError as e:
            raise RequestValidationError(
                [{**err, "loc": ("body", *err["loc"])} for err in e.errors()]
            ) from None

    return check
