"""Exactly-once apply across a crash, on a real simulator through the `sim` adapter: a claim left
`applying` is finished by a compare-and-set on the world, and the simulator counts every call."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from quarterdeck.agents.approvals import ExecutionState, Ledger
from quarterdeck.agents.executor import (
    AlreadyDecided,
    ExecutionReport,
    ExecutionStatus,
    ExecutorError,
    ExecutorHooks,
)
from quarterdeck.audit import AuditLog
from quarterdeck.core.models import (
    Action,
    Decision,
    RestartAction,
    RollbackAction,
    ScaleAction,
    Target,
)
from quarterdeck.sim.wire.server import serve_in_thread
from quarterdeck.tools.cluster import ClusterConfig, make_cluster_client
from quarterdeck.tools.cluster.sim import SimClusterClient
from tests.agents_a2a.conftest import MakeExecutor, MakeExecutorOn
from tests.agents_a2a.fakes import FakeGuard, proposal
from tests.agents_a2a.sim_cluster import CountingSim

FD = Target(namespace="ml", service="fraud-detector")


class Crash(Exception):
    """Stands for the process dying."""


def die(_pid: str) -> None:
    raise Crash


def crash_run(make: MakeExecutor, action: Action, *, at: str) -> None:
    """Run `action` in a process that dies `at` 'before_apply' or 'after_apply'."""
    hooks = ExecutorHooks(**{at: die})
    first = make(hooks=hooks)
    with pytest.raises(Crash):
        first.execute(proposal(action=action), mode="auto")
    assert first.report("p-1").status is ExecutionStatus.IN_PROGRESS
    first.close()


def statuses(audit: AuditLog) -> list[str]:
    return [str(e.payload.get("status")) for e in audit.query(kind="execution")]


def test_crash_after_the_claim_before_the_call_applies_exactly_once(
    make_sim_executor: MakeExecutor, counted: CountingSim, audit: AuditLog
) -> None:
    crash_run(make_sim_executor, ScaleAction(replicas=6), at="before_apply")
    assert counted.applied == []  # the claim is on disk, the world untouched

    second = make_sim_executor()  # a new process on the same files
    claim = second.ledger.execution("p-1")
    assert claim is not None
    assert claim.state is ExecutionState.APPLYING
    assert claim.pre_state is not None
    assert claim.pre_state["replicas"] == 2
    [report] = second.recover()
    assert report.status is ExecutionStatus.APPLIED
    assert "the first call never took effect" in report.message
    assert counted.applied == [(FD, ScaleAction(replicas=6))]
    assert SimClusterClient(counted.sim).deployment(FD).replicas == 6

    assert second.recover() == []  # finished: nothing left to recover
    third = make_sim_executor()
    assert third.execute(proposal(), mode="auto").status is ExecutionStatus.APPLIED
    assert len(counted.applied) == 1
    assert statuses(audit) == ["replaying", "applied"]


def test_crash_after_the_call_before_recording_is_confirmed_not_called_again(
    make_sim_executor: MakeExecutor, counted: CountingSim, audit: AuditLog
) -> None:
    crash_run(make_sim_executor, ScaleAction(replicas=6), at="after_apply")
    assert len(counted.applied) == 1

    [report] = make_sim_executor().recover()
    assert report.status is ExecutionStatus.APPLIED
    assert "confirmed by observation" in report.message
    assert counted.applied == [(FD, ScaleAction(replicas=6))]  # one call in total
    execution = report.execution
    assert execution is not None
    assert execution.outcome is not None
    assert execution.outcome["before_state"]["replicas"] == 2  # undo still knows what was
    assert statuses(audit) == ["applied"]


def test_world_changed_in_between_is_escalated_not_replayed(
    make_sim_executor: MakeExecutor, counted: CountingSim, audit: AuditLog
) -> None:
    other = SimClusterClient(counted.sim)

    def someone_else_scales_then_die(_pid: str) -> None:
        other.apply(FD, ScaleAction(replicas=3))  # another actor, while this process is down
        raise Crash

    first = make_sim_executor(hooks=ExecutorHooks(before_apply=someone_else_scales_then_die))
    with pytest.raises(Crash):
        first.execute(proposal(action=ScaleAction(replicas=6)), mode="auto")
    first.close()

    [report] = make_sim_executor().recover()
    assert report.status is ExecutionStatus.UNCONFIRMED
    assert "changed since the action was planned" in report.message
    assert counted.applied == [(FD, ScaleAction(replicas=3))]  # only the other actor's call
    assert other.deployment(FD).replicas == 3
    [entry] = audit.query(kind="execution")
    assert entry.payload["escalate"] is True
    assert entry.payload["pre_state"]["replicas"] == 2
    assert entry.payload["observed"]["replicas"] == 3


def test_rollback_replayed_after_a_crash_before_the_call_and_confirmed_after_it(
    make_sim_executor: MakeExecutor, counted: CountingSim
) -> None:
    crash_run(make_sim_executor, RollbackAction(to_version="v1"), at="before_apply")
    [report] = make_sim_executor().recover()
    assert report.status is ExecutionStatus.APPLIED
    assert "never took effect" in report.message
    assert [a for _, a in counted.applied] == [RollbackAction(to_revision=1)]
    assert SimClusterClient(counted.sim).deployment(FD).version == "v1"


def test_rollback_confirmed_by_the_new_revision_after_a_crash_after_the_call(
    make_sim_executor: MakeExecutor, counted: CountingSim
) -> None:
    crash_run(make_sim_executor, RollbackAction(to_revision=1), at="after_apply")
    [report] = make_sim_executor().recover()
    assert report.status is ExecutionStatus.APPLIED
    assert "confirmed by observation" in report.message
    assert len(counted.applied) == 1


def restarts(counted: CountingSim) -> int:
    return sum(1 for e in counted.sim.events(0.0) if e.reason == "DeploymentRestarted")


def test_rolling_restart_carries_a_marker_from_the_proposal_and_is_not_repeated(
    make_sim_executor: MakeExecutor, counted: CountingSim
) -> None:
    crash_run(make_sim_executor, RestartAction(), at="after_apply")
    assert restarts(counted) == 1
    client = SimClusterClient(counted.sim)
    assert client.restart_marker(FD) == "quarterdeck/p-1"

    [report] = make_sim_executor().recover()
    assert report.status is ExecutionStatus.APPLIED
    assert "confirmed by observation" in report.message
    assert restarts(counted) == 1
    again = client.restart_marked(FD, "quarterdeck/p-1")  # the same restart, applied again
    assert not again.applied
    assert restarts(counted) == 1


def test_rolling_restart_that_never_happened_is_made_once_after_a_restart(
    make_sim_executor: MakeExecutor, counted: CountingSim
) -> None:
    crash_run(make_sim_executor, RestartAction(), at="before_apply")
    assert restarts(counted) == 0
    [report] = make_sim_executor().recover()
    assert report.status is ExecutionStatus.APPLIED
    assert restarts(counted) == 1
    assert make_sim_executor().recover() == []
    assert restarts(counted) == 1


def test_restart_of_some_pods_is_confirmed_by_the_pods_it_replaced(
    make_sim_executor: MakeExecutor, counted: CountingSim
) -> None:
    crash_run(make_sim_executor, RestartAction(pods=1), at="after_apply")
    [report] = make_sim_executor().recover()
    assert report.status is ExecutionStatus.APPLIED
    assert "confirmed by observation" in report.message
    assert len(counted.applied) == 1


def test_approval_arriving_twice_applies_once_even_across_a_crash(
    make_sim_executor: MakeExecutor, counted: CountingSim, guard: FakeGuard
) -> None:
    guard.decisions["scale"] = Decision.REQUIRE_APPROVAL
    first = make_sim_executor(hooks=ExecutorHooks(before_apply=die))
    assert first.execute(proposal(), mode="auto").status is ExecutionStatus.AWAITING_APPROVAL
    with pytest.raises(Crash):
        first.decide("p-1", approve=True, principal="bob")
    first.close()

    second = make_sim_executor()
    with pytest.raises(AlreadyDecided, match="already approved by bob"):
        second.decide("p-1", approve=True, principal="bob")  # the approval, delivered again
    assert counted.applied == []
    [report] = second.recover()
    assert report.status is ExecutionStatus.APPLIED
    with pytest.raises(AlreadyDecided):
        second.decide("p-1", approve=True, principal="carol")
    assert counted.applied == [(FD, ScaleAction(replicas=6))]


def test_two_processes_approving_at_once_apply_once(
    make_sim_executor: MakeExecutor, counted: CountingSim, guard: FakeGuard
) -> None:
    guard.decisions["scale"] = Decision.REQUIRE_APPROVAL
    assert make_sim_executor().execute(proposal()).status is ExecutionStatus.AWAITING_APPROVAL
    a, b = make_sim_executor(), make_sim_executor()  # two executors on the same files
    start = threading.Barrier(2)
    results: list[ExecutionReport | ExecutorError] = []

    def approve(executor: object, who: str) -> None:
        assert hasattr(executor, "decide")
        start.wait()
        try:
            results.append(executor.decide("p-1", approve=True, principal=who))
        except ExecutorError as exc:
            results.append(exc)

    threads = [threading.Thread(target=approve, args=(x, w)) for x, w in ((a, "bob"), (b, "amy"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 2
    applied = [r for r in results if isinstance(r, ExecutionReport)]
    assert applied
    assert all(r.status is ExecutionStatus.APPLIED for r in applied)
    assert counted.applied == [(FD, ScaleAction(replicas=6))]


def test_a_ledger_written_before_pre_states_gains_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE executions (proposal_id TEXT PRIMARY KEY, namespace TEXT NOT NULL, "
            "service TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL, "
            "started_at REAL NOT NULL, finished_at REAL, outcome TEXT)"
        )
        conn.execute(
            "INSERT INTO executions VALUES ('old-1', 'ml', 'fraud-detector', 'scale', "
            '\'{"kind": "scale", "replicas": 4}\', \'applying\', 5.0, NULL, NULL)'
        )
    conn.close()
    ledger = Ledger(path)
    try:
        record = ledger.execution("old-1")
        assert record is not None
        assert record.pre_state is None  # recovered by observation only, as before
        assert record.replays == 0
        assert ledger.claim_replay("old-1", seen=0)
        assert not ledger.claim_replay("old-1", seen=0)  # one winner per replay
    finally:
        ledger.close()


def test_over_the_sim_facade_a_rolling_restart_cut_short_is_confirmed_by_its_marker(
    tmp_path: Path, counted: CountingSim, make_executor_on: MakeExecutorOn
) -> None:
    """Over HTTP, through the kube adapter and the simulator's Kubernetes facade (which keeps the
    restartedAt stamp on the Deployment's template, as the API server does): the restart that
    landed before the crash is recognised by the proposal's marker, and not rolled again."""
    with serve_in_thread(counted.sim) as server:
        config = ClusterConfig(kind="kube", url=server.url, retries=0, epoch=counted.sim.epoch)
        client = make_cluster_client(config)
        make = make_executor_on(client)
        crash_run(make, RestartAction(), at="after_apply")
        assert restarts(counted) == 1
        [report] = make().recover()
        assert report.status is ExecutionStatus.APPLIED
        assert "confirmed by observation" in report.message
        assert restarts(counted) == 1
