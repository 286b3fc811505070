"""`GET /v1/services`: every service's health against its SLO, from the read tools."""

from __future__ import annotations

from fastapi import APIRouter

from quarterdeck.api.routes.common import ControlDep, Viewer, problems
from quarterdeck.api.schemas import ServicesResponse

router = APIRouter(prefix="/v1", tags=["services"])


@router.get(
    "/services",
    response_model=ServicesResponse,
    summary="Health of every service",
    responses=problems(503),
)
async def list_services(control: ControlDep, _who: Viewer) -> ServicesResponse:
    at, services = await control.services()
    return ServicesResponse(at=at, services=services)
