"""The autonomous loop: read or change its mode and interval, run one pass now (admin only to
change; anyone with a token may read)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from quarterdeck.agents.loop import LoopStep
from quarterdeck.api.routes.common import Admin, ControlDep, Viewer, problems, strict_body
from quarterdeck.api.schemas import LoopEventOut, LoopSettings, LoopTickResponse

router = APIRouter(prefix="/v1", tags=["loop"])


@router.get(
    "/loop", response_model=LoopSettings, summary="The loop's settings", responses=problems()
)
async def get_loop(control: ControlDep, _who: Viewer) -> LoopSettings:
    return control.loop_settings()


@router.put(
    "/loop",
    response_model=LoopSettings,
    summary="Change the loop's mode, interval, on/off",
    responses=problems(),
    dependencies=[Depends(strict_body(LoopSettings))],
)
async def put_loop(body: LoopSettings, control: ControlDep, who: Admin) -> LoopSettings:
    before = control.loop_settings()
    after = await control.set_loop(body)
    control.audit.append(
        "loop",
        {
            "change": "settings",
            "before": before.model_dump(mode="json"),
            "after": after.model_dump(mode="json"),
        },
        principal=who.name,
    )
    return after


def tick_response(step: LoopStep) -> LoopTickResponse:
    return LoopTickResponse(
        at=step.at,
        mode=step.mode,
        healthy=sum(1 for h in step.health if h.health.value == "ok"),
        services=len(step.health),
        events=[
            LoopEventOut(
                kind=e.kind,
                service=e.service,
                message=e.message,
                incident_id=e.incident_id,
                proposal_id=e.proposal_id,
                status=e.status,
            )
            for e in step.events
        ],
    )


@router.post(
    "/loop/tick",
    response_model=LoopTickResponse,
    summary="Run one loop pass now",
    responses=problems(503),
)
async def tick(control: ControlDep, who: Admin) -> LoopTickResponse:
    control.audit.append("loop", {"change": "manual tick"}, principal=who.name)
    return tick_response(await control.tick())
