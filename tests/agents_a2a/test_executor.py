"""The executor's guard → approval → act → verify, on fakes: what is applied, when, how often."""

from __future__ import annotations

import pytest

from quarterdeck.agents.executor import (
    AlreadyDecided,
    ExecutionStatus,
    ExecutorHooks,
    ExecutorSettings,
    NotAllowed,
)
from quarterdeck.audit import AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import Decision, RollbackAction, ScaleAction
from tests.agents_a2a.conftest import MakeExecutor
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard, proposal


class Crash(Exception):
    """Stands for the process dying."""


def test_allowed_proposal_is_applied_once_with_the_clamped_action(
    make_executor: MakeExecutor, cluster: FakeCluster, guard: FakeGuard
) -> None:
    guard.max_replicas = 5
    ex = make_executor()
    report = ex.execute(proposal(action=ScaleAction(replicas=9)), mode="auto")
    assert report.status is ExecutionStatus.APPLIED
    assert [a for _, a in cluster.applied] == [ScaleAction(replicas=5)]
    assert "clamped" in report.message
    again = ex.execute(proposal(action=ScaleAction(replicas=9)), mode="auto")
    assert again.status is ExecutionStatus.APPLIED
    assert len(cluster.applied) == 1


def test_denied_proposal_is_never_applied(
    make_executor: MakeExecutor, cluster: FakeCluster, guard: FakeGuard, audit: AuditLog
) -> None:
    guard.decisions["scale"] = Decision.DENY
    report = make_executor().execute(proposal(), mode="auto")
    assert report.status is ExecutionStatus.DENIED
    assert "test guard says deny" in report.message
    assert cluster.applied == []
    kinds = [e.kind for e in audit.query()]
    assert kinds == ["proposal", "verdict"]


def test_approval_survives_a_restart_and_applies_once(
    make_executor: MakeExecutor, cluster: FakeCluster, guard: FakeGuard
) -> None:
    guard.decisions["scale"] = Decision.REQUIRE_APPROVAL
    first = make_executor()
    report = first.execute(proposal(), mode="auto", task_id="t1", context_id="c1")
    assert report.status is ExecutionStatus.AWAITING_APPROVAL
    assert [a.proposal_id for a in first.approvals()] == ["p-1"]
    first.close()

    second = make_executor()  # a new process on the same files
    pending = second.approvals()
    assert [(a.proposal_id, a.task_id) for a in pending] == [("p-1", "t1")]
    done = second.decide("p-1", approve=True, principal="bob")
    assert done.status is ExecutionStatus.APPLIED
    assert len(cluster.applied) == 1
    with pytest.raises(AlreadyDecided, match="already approved by bob"):
        second.decide("p-1", approve=True, principal="carol")
    assert len(cluster.applied) == 1
    assert second.approvals() == []


def test_rejection_applies_nothing(
    make_executor: MakeExecutor, cluster: FakeCluster, guard: FakeGuard
) -> None:
    ex = make_executor()
    assert ex.execute(proposal(), mode="approve").status is ExecutionStatus.AWAITING_APPROVAL
    report = ex.decide("p-1", approve=False, principal="bob", comment="not now")
    assert report.status is ExecutionStatus.REJECTED
    assert "not now" in report.message
    assert cluster.applied == []


def test_four_eyes_refuses_self_approval(make_executor: MakeExecutor, cluster: FakeCluster) -> None:
    ex = make_executor(settings=ExecutorSettings(four_eyes=True))
    ex.execute(proposal(requested_by="alice"), mode="approve")
    with pytest.raises(NotAllowed, match="four-eyes"):
        ex.decide("p-1", approve=True, principal="alice")
    assert ex.approvals()[0].pending
    assert cluster.applied == []


def test_guard_is_rechecked_when_the_approval_arrives(
    make_executor: MakeExecutor, cluster: FakeCluster, guard: FakeGuard
) -> None:
    ex = make_executor()
    ex.execute(proposal(), mode="approve")
    guard.decisions["scale"] = Decision.DENY  # e.g. a change freeze began meanwhile
    report = ex.decide("p-1", approve=True, principal="bob")
    assert report.status is ExecutionStatus.DENIED
    assert "now denies" in report.message
    assert cluster.applied == []


def test_crash_between_apply_and_record_is_not_applied_again(
    make_executor: MakeExecutor, cluster: FakeCluster
) -> None:
    def die(_pid: str) -> None:
        raise Crash

    first = make_executor(hooks=ExecutorHooks(after_apply=die))
    with pytest.raises(Crash):
        first.execute(proposal(), mode="auto")
    assert len(cluster.applied) == 1
    assert first.report("p-1").status is ExecutionStatus.IN_PROGRESS
    first.close()

    second = make_executor()
    recovered = second.recover()
    assert [r.status for r in recovered] == [ExecutionStatus.APPLIED]
    assert "not applied again" in recovered[0].message
    assert second.execute(proposal(), mode="auto").status is ExecutionStatus.APPLIED
    assert len(cluster.applied) == 1


def test_crash_with_the_pre_state_still_observed_is_applied_once_more(
    make_executor: MakeExecutor, cluster: FakeCluster
) -> None:
    def die(_pid: str) -> None:
        cluster.services["fraud-detector"].replicas = 2  # as if the call never took effect
        raise Crash

    first = make_executor(hooks=ExecutorHooks(after_apply=die))
    with pytest.raises(Crash):
        first.execute(proposal(), mode="auto")
    first.close()
    recovered = make_executor().recover()
    assert [r.status for r in recovered] == [ExecutionStatus.APPLIED]
    assert "the first call never took effect" in recovered[0].message
    assert [a for _, a in cluster.applied] == [ScaleAction(replicas=6)] * 2
    assert cluster.services["fraud-detector"].replicas == 6


def test_crash_with_the_world_moved_on_is_escalated_not_replayed(
    make_executor: MakeExecutor, cluster: FakeCluster
) -> None:
    def die(_pid: str) -> None:
        cluster.services["fraud-detector"].replicas = 3  # someone else scaled meanwhile
        raise Crash

    first = make_executor(hooks=ExecutorHooks(after_apply=die))
    with pytest.raises(Crash):
        first.execute(proposal(), mode="auto")
    first.close()
    recovered = make_executor().recover()
    assert [r.status for r in recovered] == [ExecutionStatus.UNCONFIRMED]
    assert "changed since the action was planned" in recovered[0].message
    assert len(cluster.applied) == 1
    assert cluster.services["fraud-detector"].replicas == 3

    cluster.fail_with = RuntimeError("api server said 500")
    report = make_executor().execute(proposal(), mode="auto")
    assert report.status is ExecutionStatus.UNCONFIRMED  # the recorded outcome stands
    assert len(cluster.applied) == 1


def test_verification_waits_for_the_settle_time_on_the_clock(
    make_executor: MakeExecutor, clock: ManualClock, board: SignalBoard
) -> None:
    ex = make_executor()
    report = ex.execute(proposal(predicted={"p95_latency_ms": 120.0}), mode="auto")
    assert report.verify_due_at == pytest.approx(clock.now() + 60)
    clock.advance(30)
    assert ex.verify_due() == []
    clock.advance(31)
    board.set("fraud-detector", 110.0, 0.0)
    [verified] = ex.verify_due()
    assert verified.status is ExecutionStatus.VERIFIED
    assert verified.verification is not None
    assert verified.verification["result"] == "as_predicted"
    assert ex.verify_due() == []


def test_worse_after_scaling_down_is_rolled_back(
    make_executor: MakeExecutor, clock: ManualClock, board: SignalBoard, cluster: FakeCluster
) -> None:
    cluster.services["fraud-detector"].replicas = 6
    board.set("fraud-detector", 100.0, 0.0)
    ex = make_executor()
    ex.execute(proposal(action=ScaleAction(replicas=2)), mode="auto")
    board.set("fraud-detector", 900.0, 0.2)
    clock.advance(61)
    [report] = ex.verify_due()
    assert report.status is ExecutionStatus.ROLLED_BACK
    assert [a for _, a in cluster.applied] == [ScaleAction(replicas=2), ScaleAction(replicas=6)]
    assert cluster.services["fraud-detector"].replicas == 6


def test_worse_after_scaling_up_is_escalated_not_undone(
    make_executor: MakeExecutor, clock: ManualClock, board: SignalBoard, cluster: FakeCluster
) -> None:
    ex = make_executor()
    ex.execute(proposal(action=ScaleAction(replicas=6)), mode="auto")
    board.set("fraud-detector", 900.0, 0.2)  # the load rose faster than the new pods came up
    clock.advance(61)
    [report] = ex.verify_due()
    assert report.status is ExecutionStatus.ESCALATED
    assert [a for _, a in cluster.applied] == [ScaleAction(replicas=6)]


def test_worse_after_a_rollback_is_escalated(
    make_executor: MakeExecutor, clock: ManualClock, board: SignalBoard, cluster: FakeCluster
) -> None:
    cluster.services["fraud-detector"].versions = ("v1", "v2")
    cluster.services["fraud-detector"].version = "v2"
    ex = make_executor()
    ex.execute(proposal(action=RollbackAction(to_version="v1")), mode="auto")
    board.set("fraud-detector", 900.0, 0.2)
    clock.advance(61)
    [report] = ex.verify_due()
    assert report.status is ExecutionStatus.ESCALATED
    assert len(cluster.applied) == 1


def test_stale_signals_after_settling_escalate(
    make_executor: MakeExecutor, clock: ManualClock, board: SignalBoard
) -> None:
    ex = make_executor()
    ex.execute(proposal(), mode="auto")
    board.stale.add("fraud-detector")
    clock.advance(61)
    [report] = ex.verify_due()
    assert report.status is ExecutionStatus.ESCALATED
    assert "no fresh signals" in report.message


def test_cluster_failure_is_reported_not_raised(
    make_executor: MakeExecutor, cluster: FakeCluster
) -> None:
    cluster.fail_with = RuntimeError("api server said 500")
    report = make_executor().execute(proposal(), mode="auto")
    assert report.status is ExecutionStatus.FAILED
    assert "api server said 500" in report.message


def test_every_step_is_audited_under_one_trace(
    make_executor: MakeExecutor, audit: AuditLog, clock: ManualClock
) -> None:
    ex = make_executor()
    ex.execute(proposal(), mode="approve", trace_id="trace-inc-7")
    ex.decide("p-1", approve=True, principal="bob")
    clock.advance(61)
    ex.verify_due()
    entries = audit.query()
    assert [e.kind for e in entries] == [
        "proposal",
        "verdict",
        "approval",
        "verdict",
        "execution",
        "verification",
    ]
    assert {e.trace_id for e in entries} == {"trace-inc-7"}
    assert next(e for e in entries if e.kind == "approval").principal == "bob"
