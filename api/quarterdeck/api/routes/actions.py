"""Action requests (`POST /v1/actions`) and the proposals they become: list, read, approve, reject.

A request becomes an `ActionProposal` from the caller (`requested_by` is the token's principal)
and is audited as a `request` before anything else happens. With `dry_run: true` it is only
judged and predicted; otherwise the executor guards it and applies it, refuses it, or holds it
for approval — the answer is the executor's record either way.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel

from quarterdeck.agents.executor import ExecutionReport, ExecutionStatus
from quarterdeck.api.auth import Authenticator, Principal
from quarterdeck.api.routes.common import (
    Approver,
    ControlDep,
    Operator,
    Viewer,
    problems,
    strict_body,
)
from quarterdeck.api.schemas import (
    ActionRequest,
    ActionResponse,
    DecisionRequest,
    DecisionResponse,
    DryRunResponse,
    ProposalFilter,
)
from quarterdeck.core.models import ActionProposal

router = APIRouter(prefix="/v1", tags=["actions"])

ProposalId = Annotated[
    str, Path(min_length=1, max_length=128, description="the proposal's id", examples=["rest-1"])
]


class ProposalList(BaseModel):
    proposals: list[ExecutionReport]


@router.post(
    "/actions",
    response_model=DryRunResponse | ActionResponse,
    dependencies=[Depends(strict_body(ActionRequest))],
    summary="Request an action (or dry-run it)",
    responses=problems(409, 503),
)
async def request_action(
    body: ActionRequest, control: ControlDep, who: Operator
) -> DryRunResponse | ActionResponse:
    pid = f"rest-{uuid.uuid4().hex[:12]}"
    trace = f"trace-{pid}"
    proposal = ActionProposal(
        id=pid,
        target=body.target,
        action=body.action,
        reason=body.reason or f"requested over REST by {who.name}",
        trace_id=trace,
        requested_by=who.name,
        created_at=control.now(),
    )
    control.audit.append(
        "request",
        {
            "channel": "rest",
            "dry_run": body.dry_run,
            "mode": body.mode,
            "target": body.target,
            "action": body.action,
            "reason": body.reason,
        },
        principal=who.name,
        trace_id=trace,
        proposal_id=pid,
        service=body.target,
    )
    if body.dry_run:
        return DryRunResponse(result=await control.dry_run(proposal, body.horizon_s))
    return ActionResponse(record=await control.submit(proposal, body.mode))


@router.get(
    "/proposals",
    response_model=ProposalList,
    summary="Proposals the executor has seen, newest first",
    responses=problems(),
)
async def list_proposals(
    control: ControlDep,
    _who: Viewer,
    status: Annotated[
        ProposalFilter | None, Query(description="pending = waiting for approval")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ProposalList:
    return ProposalList(proposals=await control.proposals(status, limit))


@router.get(
    "/proposals/{proposal_id}",
    response_model=ExecutionReport,
    summary="One proposal's record",
    responses=problems(404),
)
async def get_proposal(
    proposal_id: ProposalId, control: ControlDep, _who: Viewer
) -> ExecutionReport:
    record = await control.proposal(proposal_id)
    if record is None:
        raise HTTPException(404, f"no proposal with id {proposal_id!r}")
    return record


async def _decide(
    request: Request,
    control: ControlDep,
    proposal_id: str,
    who: Principal,
    body: DecisionRequest | None,
    *,
    approve: bool,
) -> DecisionResponse:
    record = await control.proposal(proposal_id)
    if record is None:
        raise HTTPException(404, f"no proposal with id {proposal_id!r}")
    if record.status is not ExecutionStatus.AWAITING_APPROVAL:
        decided = record.approval
        if decided is not None and decided.decided_by:
            why = f"already {decided.status.value} by {decided.decided_by}"
        else:
            why = f"it is {record.status.value}, not waiting for approval"
        raise HTTPException(409, f"proposal {proposal_id} cannot be decided: {why}")
    auth: Authenticator = request.app.state.auth
    if auth.four_eyes and record.proposal is not None and record.proposal.requested_by == who.name:
        raise HTTPException(
            403, f"{who.name} requested proposal {proposal_id} and may not decide it (four-eyes)"
        )
    done = await control.decide(
        proposal_id, approve=approve, principal=who.name, comment=body.comment if body else None
    )
    return DecisionResponse(
        proposal_id=proposal_id,
        decision="approved" if approve else "rejected",
        message=done.message,
        record=done.record,
    )


@router.post(
    "/proposals/{proposal_id}/approve",
    response_model=DecisionResponse,
    dependencies=[Depends(strict_body(DecisionRequest))],
    summary="Approve a proposal waiting for a human",
    responses=problems(404, 409, 503),
)
async def approve(
    request: Request,
    proposal_id: ProposalId,
    control: ControlDep,
    who: Approver,
    body: Annotated[DecisionRequest | None, Body()] = None,
) -> DecisionResponse:
    return await _decide(request, control, proposal_id, who, body, approve=True)


@router.post(
    "/proposals/{proposal_id}/reject",
    response_model=DecisionResponse,
    dependencies=[Depends(strict_body(DecisionRequest))],
    summary="Reject a proposal waiting for a human",
    responses=problems(404, 409, 503),
)
async def reject(
    request: Request,
    proposal_id: ProposalId,
    control: ControlDep,
    who: Approver,
    body: Annotated[DecisionRequest | None, Body()] = None,
) -> DecisionResponse:
    return await _decide(request, control, proposal_id, who, body, approve=False)
