"""A dry-run: what the guard would say about a proposal, and what applying it would do.

One function, `dry_run`, shared by `quarterdeck dry-run` and `POST /v1/actions` with
`dry_run: true`. It asks the guard (pure, given its context) and predicts — on a *fork* of the
simulator, never the simulator itself — the action the guard would let through, which may be a
clamped version of the one asked for. Nothing is applied, recorded or audited here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.agents.approvals import ExecutionRecord
from quarterdeck.agents.executor import GuardLike
from quarterdeck.agents.guard_context import build_context
from quarterdeck.core.models import Action, ActionProposal, Decision, Verdict
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.whatif import DEFAULT_HORIZON_S, WhatIf, predict
from quarterdeck.tools.cluster.base import ClusterClient


class DryRunResult(BaseModel):
    """The guard's verdict and the predicted effect of the action it would let through."""

    model_config = ConfigDict(frozen=True)

    proposal: ActionProposal
    verdict: Verdict
    predicted_action: Action = Field(
        description="the action the prediction applied: the verdict's (possibly clamped) action"
    )
    prediction: WhatIf | None = Field(
        default=None, description="None when there is no simulator to predict with"
    )
    note: str = Field(default="", description="what to keep in mind when reading the figures")

    @property
    def would_apply(self) -> bool:
        return self.verdict.decision is Decision.ALLOW


def sim_wall_time(sim: Simulator) -> Callable[[float], datetime]:
    """Sim seconds → aware wall time, so freeze windows read the scenario's calendar."""
    epoch = sim.epoch
    return lambda t: datetime.fromtimestamp(epoch + t, tz=UTC)


def dry_run(
    proposal: ActionProposal,
    *,
    guard: GuardLike,
    cluster: ClusterClient,
    now: float,
    sim: Simulator | None,
    horizon: float = DEFAULT_HORIZON_S,
    applied: Sequence[ExecutionRecord] = (),
    wall_time: Callable[[float], datetime] | None = None,
) -> DryRunResult:
    """Judge `proposal` and predict the verdict's action against doing nothing.

    `applied` is the executor's history (cooldowns and rate limits count it). Raises ValueError
    when `horizon` is not positive or the simulator's scenario has ended.
    """
    if wall_time is None and sim is not None:
        wall_time = sim_wall_time(sim)
    context = build_context(cluster, proposal.target, now=now, applied=applied, wall_time=wall_time)
    verdict = guard.evaluate(proposal, context)
    notes = []
    if verdict.clamped:
        notes.append("the guard clamped the action; the prediction is of the clamped action")
    if verdict.decision is Decision.DENY:
        notes.append("denied: this action would not be applied; the prediction shows why not")
    elif verdict.decision is Decision.REQUIRE_APPROVAL:
        notes.append("it would wait for a human's approval before being applied")
    prediction = None
    if sim is None:
        notes.append("no simulator on this target, so no prediction")
    else:
        guarded = proposal.model_copy(update={"action": verdict.action})
        prediction = predict(sim, [guarded], horizon=horizon)
        if prediction.rejected:
            notes.append(
                "the simulator refused the action: "
                + "; ".join(r.reason for r in prediction.rejected)
            )
    return DryRunResult(
        proposal=proposal,
        verdict=verdict,
        predicted_action=verdict.action,
        prediction=prediction,
        note=" · ".join(notes),
    )
