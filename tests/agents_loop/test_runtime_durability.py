"""Durable approvals through the whole runtime: restart, double approval, crash mid-apply."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from a2a.types import TaskState

from quarterdeck.agents.a2a.wire import Health, ServiceHealth
from quarterdeck.agents.executor import ExecutorHooks
from quarterdeck.agents.loop import LoopMode
from quarterdeck.audit import AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import Decision, ScaleAction, Target
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard
from tests.agents_loop.conftest import MakeRuntime, ScriptedBrains

pytestmark = pytest.mark.anyio


class Crash(Exception):
    """Stands for the process dying."""


async def test_pending_approval_survives_a_restart_and_applies_once(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster
) -> None:
    first = make_runtime(LoopMode.APPROVE)
    board.set("fraud-detector", 400.0)
    await first.loop_once()
    [pending] = await first.approvals()
    await first.aclose()  # drop everything

    second = make_runtime(LoopMode.APPROVE)  # same files
    assert [a.proposal_id for a in await second.approvals()] == [pending.proposal_id]
    outcome = await second.decide(pending.proposal_id, approve=True, principal="bob")
    assert outcome.decided
    assert outcome.report is not None
    assert outcome.report["status"] == "applied"
    assert len(cluster.applied) == 1
    again = await second.decide(pending.proposal_id, approve=False, principal="carol")
    assert not again.decided
    assert again.message == "already decided: approved by bob"
    assert len(cluster.applied) == 1


async def test_chat_request_waits_for_approval_and_is_decided_through_the_runtime(
    make_runtime: MakeRuntime,
    board: SignalBoard,
    cluster: FakeCluster,
    guard: FakeGuard,
    audit: AuditLog,
) -> None:
    guard.decisions["scale"] = Decision.REQUIRE_APPROVAL
    board.set("fraud-detector", 400.0)
    rt = make_runtime()
    steps = [s async for s in rt.chat("fix fraud-detector", principal="alice")]
    texts = [s.text for s in steps if s.text]
    assert any(t.startswith("asking the observer") for t in texts)
    assert any(t.startswith("planner:") for t in texts)
    last = steps[-1]
    assert last.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert "needs approval" in last.text
    assert "p95 400 ms over 150 ms" in last.text  # the evidence, in words
    [pending] = await rt.approvals()
    assert pending.proposal.requested_by == "alice"
    assert cluster.applied == []

    outcome = await rt.decide(pending.proposal_id, approve=True, principal="bob")
    assert outcome.decided
    assert outcome.state == "TASK_STATE_COMPLETED"
    assert [a for _, a in cluster.applied] == [ScaleAction(replicas=4)]
    assert not (await rt.decide(pending.proposal_id, approve=True, principal="bob")).decided
    assert len(cluster.applied) == 1
    trace = pending.trace_id
    assert trace is not None
    assert trace.startswith("trace-chat-")
    trail = [(e.kind, e.principal) for e in audit.query() if e.trace_id == trace]
    assert trail == [
        ("request", "alice"),
        ("proposal", "alice"),
        ("verdict", "agent:executor"),
        ("approval", "bob"),
        ("verdict", "agent:executor"),  # checked again when the approval arrived
        ("execution", "agent:executor"),
    ]


async def test_chat_answers_in_words_and_refuses_what_it_does_not_understand(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster
) -> None:
    rt = make_runtime()
    reply = await rt.ask("how is fraud-detector", principal="alice")
    assert reply.completed
    assert "ml/fraud-detector: ok" in reply.text
    assert "p95_latency_ms = 90" in reply.text
    unknown = await rt.ask("make me a sandwich", principal="alice")
    assert unknown.completed
    assert "did not understand" in unknown.text
    assert cluster.applied == []


async def test_crash_between_apply_and_record_is_not_applied_again(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster
) -> None:
    def die(_pid: str) -> None:
        raise Crash

    board.set("fraud-detector", 400.0)
    first = make_runtime(LoopMode.AUTO)
    assert first.executor is not None
    first.executor.deps.hooks = ExecutorHooks(after_apply=die)
    step = await first.loop_once()
    assert step.events[-1].kind == "error"  # the loop survives an agent that fails mid-call
    assert len(cluster.applied) == 1
    await first.aclose()

    second = make_runtime(LoopMode.AUTO)  # recovers on build
    assert len(cluster.applied) == 1
    later = await second.loop_once()
    assert len(cluster.applied) == 1
    assert later.events[-1].kind == "waiting"
    assert "settling" in later.events[-1].message


async def test_open_incidents_carry_on_across_a_restart(
    make_runtime: MakeRuntime, board: SignalBoard, cluster: FakeCluster, audit: AuditLog
) -> None:
    first = make_runtime(LoopMode.SUGGEST)
    board.set("fraud-detector", 400.0)
    step = await first.loop_once()
    [opened] = step.of_kind("incident_opened")
    [suggested] = step.of_kind("suggested")
    assert suggested.proposal is not None
    assert suggested.proposal.action == ScaleAction(replicas=4)
    await first.aclose()

    second = make_runtime(LoopMode.SUGGEST)  # same files: the incident and what it tried
    again = await second.loop_once()
    assert again.of_kind("incident_opened") == []
    [next_one] = again.of_kind("suggested")
    assert next_one.incident_id == opened.incident_id
    assert next_one.proposal is not None
    assert next_one.proposal.action == ScaleAction(replicas=6)  # not the one tried before
    board.set("fraud-detector", 90.0)
    await second.loop_once()
    [closed] = (await second.loop_once()).of_kind("incident_closed")
    assert closed.incident_id == opened.incident_id
    trace = f"trace-{opened.incident_id}"
    assert {e.kind for e in audit.query() if e.trace_id == trace} >= {"observation", "loop"}
    await second.aclose()

    third = make_runtime(LoopMode.SUGGEST)  # closed incidents are gone from the store
    assert third.loop.incidents == {}
    assert cluster.applied == []


async def test_the_scale_down_window_survives_a_restart(
    make_runtime: MakeRuntime, board: SignalBoard, brains: ScriptedBrains, clock: ManualClock
) -> None:
    """What each service needed over the scale-down window, and the load per replica that ran
    hot, are stored with the incidents: a restarted loop neither forgets a recent peak nor
    waits a whole window to give back, nor scales a service back down into its queueing."""
    scripted = brains.diagnose

    def with_needs(services: Sequence[Target] | None) -> list[ServiceHealth]:
        # The brain's diagnosis says how many replicas the load needs: 6 in trouble, else 3.
        return [
            h.model_copy(
                update={"diagnosis": {"details": {"needed": 3 if h.health is Health.OK else 6}}}
            )
            for h in scripted(services)
        ]

    brains.diagnose = with_needs  # type: ignore[method-assign]
    first = make_runtime(LoopMode.SUGGEST)
    board.set("fraud-detector", 400.0)
    await first.loop_once()
    clock.advance(15)
    board.set("fraud-detector", 90.0)
    await first.loop_once()
    before = first.loop._needs.readings()
    assert [n for _, n in before["ml/fraud-detector"]] == [6, 3]
    first.loop._hot.note("ml/fraud-detector", clock.now(), 45.0)
    await first.loop_once()  # every pass stores what it knows
    hot = first.loop._hot.readings()
    await first.aclose()

    second = make_runtime(LoopMode.SUGGEST)
    assert second.loop._needs.readings() == first.loop._needs.readings()
    assert second.loop._hot.readings() == hot == {"ml/fraud-detector": (clock.now(), 45.0)}
    await second.aclose()
