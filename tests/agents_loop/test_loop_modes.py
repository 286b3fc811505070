"""The autonomous loop, mode by mode, on a fake cluster: what it proposes, applies and waits for."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from quarterdeck.agents.a2a.wire import PlanResult, ServiceHealth
from quarterdeck.agents.loop import LoopEvent, LoopMode
from quarterdeck.agents.runtime import Runtime
from quarterdeck.audit import AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import (
    ActionProposal,
    Decision,
    RollbackAction,
    ScaleAction,
    Target,
    Verdict,
)
from quarterdeck.policies.context import GuardContext
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard
from tests.agents_loop.conftest import MakeRuntime, ScriptedBrains

pytestmark = pytest.mark.anyio

FRAUD = Target(namespace="ml", service="fraud-detector")


async def test_observe_reports_and_applies_nothing(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster, brains: ScriptedBrains
) -> None:
    rt = make_runtime(LoopMode.OBSERVE)
    quiet = await rt.loop_once()
    assert quiet.events == []
    board.set("fraud-detector", 400.0)
    step = await rt.loop_once()
    assert [e.kind for e in step.events] == ["incident_opened", "reported"]
    assert cluster.applied == []
    assert brains.plans == 0


async def test_suggest_proposes_without_applying_and_never_repeats(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster
) -> None:
    rt = make_runtime(LoopMode.SUGGEST)
    board.set("fraud-detector", 400.0)
    first = await rt.loop_once()
    [s1] = first.of_kind("suggested")
    assert s1.proposal is not None
    assert s1.proposal.action == ScaleAction(replicas=4)
    second = await rt.loop_once()
    [s2] = second.of_kind("suggested")
    assert s2.proposal is not None
    assert s2.proposal.action == ScaleAction(replicas=6)  # the next candidate, not the same one
    third = await rt.loop_once()
    assert [e.kind for e in third.events] == ["nothing_to_do"]
    assert cluster.applied == []
    assert await rt.approvals() == []


async def test_approve_mode_waits_for_a_human_and_does_not_repropose(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster, brains: ScriptedBrains
) -> None:
    rt = make_runtime(LoopMode.APPROVE)
    board.set("fraud-detector", 400.0)
    first = await rt.loop_once()
    [executed] = first.of_kind("executed")
    assert executed.status == "awaiting_approval"
    later = await rt.loop_once()
    assert [e.kind for e in later.events] == ["waiting"]
    assert "waits for approval" in later.events[0].message
    for _ in range(2):  # still waiting: said once, not again every step
        assert (await rt.loop_once()).events == []
    assert brains.plans == 1
    pending = await rt.approvals()
    assert [a.proposal_id for a in pending] == [executed.proposal_id]
    assert cluster.applied == []
    outcome = await rt.decide(pending[0].proposal_id, approve=True, principal="bob")
    assert outcome.decided
    assert outcome.state == "TASK_STATE_COMPLETED"
    assert [a for _, a in cluster.applied] == [ScaleAction(replicas=4)]


async def test_auto_applies_what_policy_allows_and_asks_for_the_rest(
    make_runtime: MakeRuntime,
    board: SignalBoard,
    cluster: FakeCluster,
    guard: FakeGuard,
    clock: ManualClock,
) -> None:
    rt = make_runtime(LoopMode.AUTO)
    board.set("fraud-detector", 400.0)
    step = await rt.loop_once()
    [executed] = step.of_kind("executed")
    assert executed.status == "applied"
    assert [a for _, a in cluster.applied] == [ScaleAction(replicas=4)]
    # while the applied action settles, nothing new is proposed
    clock.advance(15)
    assert [e.kind for e in (await rt.loop_once()).events] == ["waiting"]
    # settled and still breaching: verified (no change), then the loop tries the next action,
    # which policy now sends to a human
    guard.decisions["scale"] = Decision.REQUIRE_APPROVAL
    clock.advance(60)
    step = await rt.loop_once()
    assert [e.kind for e in step.events] == ["verified", "executed"]
    assert step.events[1].status == "awaiting_approval"
    assert len(cluster.applied) == 1


async def test_stands_still_on_stale_signals(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster, audit: AuditLog
) -> None:
    rt = make_runtime(LoopMode.AUTO)
    board.set("fraud-detector", 400.0)
    board.stale.add("fraud-detector")
    step = await rt.loop_once()
    [still] = step.events
    assert still.kind == "standing_still"
    assert "standing still" in still.message
    assert cluster.applied == []
    loop_entries = [e for e in audit.query() if e.kind == "loop"]
    assert any("standing still" in str(e.payload) for e in loop_entries)


async def test_one_trace_per_incident_in_the_audit_log(
    make_runtime: MakeRuntime, board: SignalBoard, audit: AuditLog
) -> None:
    rt = make_runtime(LoopMode.AUTO)
    board.set("fraud-detector", 400.0)
    step = await rt.loop_once()
    incident = step.events[0].incident_id
    entries = [e for e in audit.query() if e.trace_id == f"trace-{incident}"]
    assert {e.kind for e in entries} >= {"observation", "loop", "proposal", "verdict", "execution"}
    board.set("fraud-detector", 90.0)
    assert (await rt.loop_once()).events == []  # one healthy step is not enough to close
    closed = await rt.loop_once()
    assert [e.kind for e in closed.events] == ["incident_closed"]
    assert closed.events[0].incident_id == incident


async def test_a_service_the_observer_skips_is_reported_as_no_data(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster, brains: ScriptedBrains
) -> None:
    rt = make_runtime(LoopMode.AUTO)
    board.set("fraud-detector", 400.0)
    brains.silent.add("fraud-detector")
    step = await rt.loop_once()
    [still] = step.events
    assert still.kind == "standing_still"
    assert "no usable signals" in still.message
    assert cluster.applied == []
    assert (await rt.loop_once()).events == []  # said once while nothing changes


async def test_after_a_denial_the_loop_pauses_then_tries_the_next_candidate(
    make_runtime: MakeRuntime,
    board: SignalBoard,
    cluster: FakeCluster,
    guard: FakeGuard,
    clock: ManualClock,
) -> None:
    guard.decisions["scale"] = Decision.DENY
    rt = make_runtime(LoopMode.AUTO)
    board.set("fraud-detector", 400.0)
    first = await rt.loop_once()
    [denied] = first.of_kind("executed")
    assert denied.status == "denied"
    clock.advance(15)
    paused = await rt.loop_once()
    assert [e.kind for e in paused.events] == ["waiting"]
    assert "denied" in paused.events[0].message
    clock.advance(50)
    [second] = (await rt.loop_once()).of_kind("executed")
    assert second.proposal is not None
    assert denied.proposal is not None
    assert second.proposal.action != denied.proposal.action  # the next candidate
    assert cluster.applied == []


def _bigger_first(brains: ScriptedBrains) -> None:
    """The planner ranks the bigger step first (as the what-if does during a surge)."""
    scripted = brains.plan

    def plan(health: ServiceHealth) -> PlanResult:
        result = scripted(health)
        return result.model_copy(update={"proposals": list(reversed(result.proposals))})

    brains.plan = plan  # type: ignore[method-assign]


def _approval_above(guard: FakeGuard, replicas: int) -> None:
    """The guard asks a human for a scale above `replicas` (like `agent-replica-touch`)."""
    judged = guard.evaluate

    def evaluate(proposal: ActionProposal, context: GuardContext) -> Verdict:
        verdict = judged(proposal, context)
        action = proposal.action
        if isinstance(action, ScaleAction) and action.replicas > replicas:
            return verdict.model_copy(update={"decision": Decision.REQUIRE_APPROVAL})
        return verdict

    guard.evaluate = evaluate  # type: ignore[method-assign]


async def _auto_step_with_approval_above(
    replicas: int,
    make_runtime: MakeRuntime,
    board: SignalBoard,
    brains: ScriptedBrains,
    guard: FakeGuard,
) -> tuple[Runtime, LoopEvent]:
    """One `auto` pass on a breach, the planner ranking 2 → 6 above 2 → 4 and the guard asking a
    human for a scale above `replicas`: the runtime and the pass's one `executed` event."""
    _bigger_first(brains)
    _approval_above(guard, replicas)
    rt = make_runtime(LoopMode.AUTO)
    board.set("fraud-detector", 400.0)
    step = await rt.loop_once()
    [executed] = step.of_kind("executed")
    return rt, executed


async def test_auto_applies_the_best_step_policy_allows_rather_than_wait_for_a_human(
    make_runtime: MakeRuntime,
    board: SignalBoard,
    cluster: FakeCluster,
    brains: ScriptedBrains,
    guard: FakeGuard,
) -> None:
    # 2 → 6 needs a human, 2 → 4 does not
    rt, executed = await _auto_step_with_approval_above(4, make_runtime, board, brains, guard)
    assert executed.status == "applied"
    assert cluster.applied == [(FRAUD, ScaleAction(replicas=4))]
    assert await rt.approvals() == []


async def test_auto_asks_a_human_when_no_candidate_is_allowed(
    make_runtime: MakeRuntime,
    board: SignalBoard,
    cluster: FakeCluster,
    brains: ScriptedBrains,
    guard: FakeGuard,
) -> None:
    # both steps need a human: the best-ranked one is asked for
    rt, executed = await _auto_step_with_approval_above(2, make_runtime, board, brains, guard)
    assert executed.status == "awaiting_approval"
    [waiting] = await rt.approvals()
    assert waiting.proposal.action == ScaleAction(replicas=6)
    assert cluster.applied == []


async def test_a_bad_version_is_rolled_back_while_a_scale_up_settles(
    make_runtime: MakeRuntime,
    board: SignalBoard,
    cluster: FakeCluster,
    brains: ScriptedBrains,
    clock: ManualClock,
) -> None:
    """A scale-up is applied and settles (60 s here); 15 s later the brain finds a bad version.
    The rollback does not wait for the scale's verification: a scale cannot fix a version."""
    scripted_diagnose, scripted_plan = brains.diagnose, brains.plan
    cause = {"now": "load"}

    def diagnose(services: Sequence[Target] | None) -> list[ServiceHealth]:
        return [h.model_copy(update={"cause": cause["now"]}) for h in scripted_diagnose(services)]

    def plan(health: ServiceHealth) -> PlanResult:
        if health.cause != "bad_version":
            return scripted_plan(health)
        back = ActionProposal(
            id="plan-rollback",
            target=health.target,
            action=RollbackAction(to_version="v1"),
            reason="roll back the bad version",
            evidence=health.evidence,
        )
        return PlanResult(proposals=[back])

    brains.diagnose = diagnose  # type: ignore[method-assign]
    brains.plan = plan  # type: ignore[method-assign]
    rt = make_runtime(LoopMode.AUTO)
    board.set("fraud-detector", 400.0)
    first = await rt.loop_once()
    [scaled] = first.of_kind("executed")
    assert scaled.status == "applied"
    clock.advance(15)
    cause["now"] = "bad_version"
    second = await rt.loop_once()
    [rolled] = second.of_kind("executed")
    assert rolled.proposal is not None
    assert rolled.proposal.action == RollbackAction(to_version="v1")
    assert [a for _, a in cluster.applied] == [
        ScaleAction(replicas=4),
        RollbackAction(to_version="v1"),
    ]
