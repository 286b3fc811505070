"""The FastAPI app: `create_app(settings, control=…, auth=…)`.

Wiring only: the routers (`quarterdeck.api.routes.*`), the bearer-token check on every `/v1`
route and on the agents' A2A endpoints mounted under `/a2a/{agent}`, Quarterdeck's own
`/metrics`, and error answers that are always JSON with a `detail` — 4xx naming the problem,
and a logged, clean 500 as the very last resort.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from quarterdeck.api.auth import Authenticator
from quarterdeck.api.control import Control, ControlError
from quarterdeck.api.metrics import ApiMetrics, AuditTail, RequestMetrics
from quarterdeck.api.routes import actions, audit, chat, health, loop, services
from quarterdeck.api.security import A2AGate

log = logging.getLogger("quarterdeck.api")

AGENT_CARD_PATH = "/.well-known/agent-card.json"


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
                A2AGate(agent, auth, public={AGENT_CARD_PATH}),
                name=f"a2a-{name}",
            )
    _errors(app)
    app.add_middleware(RequestMetrics, metrics=metrics, skip={"/metrics"})
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ControlError)
    async def control_error(_request: Request, exc: ControlError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

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
