"""The FastAPI app: `create_app(settings, control=…, auth=…)`.

Wiring only: the routers (`quarterdeck.api.routes.*`), the bearer-token check on every `/v1`
route and on the agents' A2A endpoints mounted under `/a2a/{agent}`, Quarterdeck's own
`/metrics`, and error answers that are always JSON with a `detail` — 4xx naming the problem,
and a logged, clean 500 as the very last resort.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from quarterdeck.agents.a2a.client import AgentError
from quarterdeck.api.auth import Authenticator
from quarterdeck.api.control import Control, ControlError
from quarterdeck.api.metrics import ApiMetrics, AuditTail, RequestMetrics
from quarterdeck.api.public_card import PublicCard
from quarterdeck.api.routes import actions, audit, chat, health, loop, services
from quarterdeck.api.security import A2AGate

log = logging.getLogger("quarterdeck.api")


class ApiSettings(BaseModel):
    """How the API presents itself; immutable."""

    model_config = ConfigDict(frozen=True)

    title: str = "Quarterdeck"
    version: str = "0.1.0"
    a2a_prefix: str = Field(
        default="/a2a", description="the agents' A2A apps are mounted at {prefix}/{agent}"
    )
    mount_agents: bool = Field(default=True, description="serve the agents' A2A endpoints too")


_DESCRIPTION = """\
Quarterdeck's REST API: service health, action requests (dry-run or for real), proposals and
their approval, chat with the agents (JSON or server-sent events), the autonomous loop, and the
audit log. Every `/v1` route needs `Authorization: Bearer <token>`; roles are ordered
viewer < operator < approver < admin (read; + chat and actions; + approve/reject; + loop control).
"""


def create_app(
    settings: ApiSettings | None = None, *, control: Control, auth: Authenticator
) -> FastAPI:
    """The API over `control`, checking tokens with `auth`. Starting the app (its lifespan)
    starts `control`'s background driver when it has one, and stops it on shutdown."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        start = getattr(control, "start", None)
        if callable(start):
            start()
        try:
            yield
        finally:
            stop = getattr(control, "stop", None)
            if callable(stop):
                await stop()

    app = FastAPI(
        title=settings.title,
        version=settings.version,
        description=_DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(known_query_parameters)],
    )
    metrics = ApiMetrics()
    app.state.control = control
    app.state.auth = auth
    app.state.metrics = metrics
    app.state.audit_tail = AuditTail(control.audit, metrics)

    for module in (health, services, actions, chat, loop, audit):
        app.include_router(module.router)
    if settings.mount_agents:
        for name, agent in control.a2a_apps().items():
            app.mount(
                f"{settings.a2a_prefix}/{name}",
                PublicCard(A2AGate(agent, auth, public={AGENT_CARD_WELL_KNOWN_PATH})),
                name=f"a2a-{name}",
            )
    _errors(app)
    _openapi_with_required_tags(app)
    app.add_middleware(RequestMetrics, metrics=metrics, skip={"/metrics"})
    return app


async def known_query_parameters(request: Request) -> None:
    """Refuse query parameters the route does not take, or takes once but got several times, so
    a typo (`?stauts=pending`) or a repeat is a 422 that names it instead of being silently
    ignored (or silently the last one winning)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.url.path.startswith("/v1/"):
        return  # probes and scrapers (/healthz, /metrics…) may add whatever they like
    known = _query_names(dependant)
    counts = Counter(name for name, _ in request.query_params.multi_items())
    takes = f"this route takes: {', '.join(sorted(known)) or 'none'}"
    errors = [
        {
            "loc": ("query", name),
            "msg": f"unknown query parameter ({takes})",
            "type": "extra_forbidden",
        }
        for name in sorted(set(counts) - known)
    ]
    errors += [
        {"loc": ("query", name), "msg": f"given {n} times; give it once", "type": "too_many"}
        for name, n in sorted(counts.items())
        if n > 1 and name in known
    ]
    if errors:
        raise RequestValidationError(errors)


def _query_names(dependant: Any) -> set[str]:
    """Query parameter names of a route's dependant and all its sub-dependencies."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _openapi_with_required_tags(app: FastAPI) -> None:
    """Mark every discriminator property as required in the schemas its union maps to.

    The action models default their `kind` (`ScaleAction()` needs no `kind=`), so pydantic lists
    it as optional, yet a union member is only recognised by its `kind`: a client following the
    schema literally would send bodies the API must refuse. The schema says what is accepted.
    """

    def patched() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.get("components", {}).get("schemas", {})
            for node in _walk(schema):
                disc = node.get("discriminator")
                if not isinstance(disc, dict):
                    continue
                prop = disc.get("propertyName")
                for ref in (disc.get("mapping") or {}).values():
                    target = components.get(str(ref).rsplit("/", 1)[-1])
                    if isinstance(target, dict) and prop in target.get("properties", {}):
                        required = target.setdefault("required", [])
                        if prop not in required:
                            required.append(prop)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = patched  # type: ignore[method-assign]


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ControlError)
    async def control_error(_request: Request, exc: ControlError) -> JSONResponse:
        if exc.status == 422:  # the same shape as every other 422
            detail: Any = [{"loc": ["body"], "msg": exc.message, "type": "value_error"}]
        else:
            detail = exc.message
        return JSONResponse({"detail": detail}, status_code=exc.status)

    @app.exception_handler(AgentError)
    async def agents_failed(_request: Request, exc: AgentError) -> JSONResponse:
        log.warning("agent call failed: %s", exc)
        return JSONResponse(
            {"detail": f"the agents did not answer properly: {type(exc).__name__}"},
            status_code=503,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's shape ({loc, msg, type}), minus the echoed input: a body may be large or hold
        # secrets, and the location and message already say what is wrong.
        detail = [
            {
                "loc": list(e.get("loc", ())),
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's answer to a body that is not UTF-8 JSON: a bad body like any other.
            detail = [
                {"loc": ["body"], "msg": "the body is not valid JSON", "type": "json_invalid"}
            ]
            return JSONResponse({"detail": detail}, status_code=422)
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def last_resort(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", ref, request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error (reference {ref}); the server log has the details"},
            status_code=500,
        )
