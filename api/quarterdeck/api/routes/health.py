"""Liveness, readiness, and Quarterdeck's own Prometheus metrics (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from quarterdeck.api.metrics import CONTENT_TYPE_LATEST, ApiMetrics, AuditTail
from quarterdeck.api.routes.common import ControlDep
from quarterdeck.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Ready when the cluster and metrics adapters answer",
    responses={503: {"model": Health, "description": "an adapter does not answer"}},
)
async def readyz(control: ControlDep) -> Response:
    checks = await control.readiness()
    ready = all(checks.values())
    body = Health(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Quarterdeck's own metrics (Prometheus text format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    tail: AuditTail = request.app.state.audit_tail
    tail.catch_up()
    m: ApiMetrics = request.app.state.metrics
    return Response(m.render(), media_type=CONTENT_TYPE_LATEST)
