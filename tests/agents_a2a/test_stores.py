"""The durable pieces on their own: the SQLite task store and the guard context builder."""

from __future__ import annotations

from pathlib import Path

import pytest
from a2a.server.context import ServerCallContext
from a2a.types import ListTasksRequest, Task, TaskState, TaskStatus

from quarterdeck.agents.a2a.taskstore import SqliteTaskStore
from quarterdeck.agents.approvals import ExecutionRecord, ExecutionState
from quarterdeck.agents.guard_context import build_context
from quarterdeck.core.models import Target
from tests.agents_a2a.fakes import FakeCluster, FakeService

pytestmark = pytest.mark.anyio
CTX = ServerCallContext()


def task(tid: str, state: TaskState, context: str = "c1") -> Task:
    return Task(id=tid, context_id=context, status=TaskStatus(state=state))


async def test_task_store_round_trip_across_instances_and_agents(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite"
    store = SqliteTaskStore(path, "executor")
    await store.save(task("t1", TaskState.TASK_STATE_INPUT_REQUIRED), CTX)
    await store.save(task("t2", TaskState.TASK_STATE_COMPLETED, "c2"), CTX)
    await store.save(task("t1", TaskState.TASK_STATE_COMPLETED), CTX)  # update, not a new row
    store.close()

    again = SqliteTaskStore(path, "executor")
    found = await again.get("t1", CTX)
    assert found is not None
    assert found.status.state == TaskState.TASK_STATE_COMPLETED
    assert await SqliteTaskStore(path, "coordinator").get("t1", CTX) is None
    page = await again.list(ListTasksRequest(context_id="c2"), CTX)
    assert [t.id for t in page.tasks] == ["t2"]
    first = await again.list(ListTasksRequest(page_size=1), CTX)
    assert [t.id for t in first.tasks] == ["t1"]  # most recently saved first
    assert first.next_page_token == "1"
    assert first.total_size == 2
    await again.delete("t1", CTX)
    assert await again.get("t1", CTX) is None


def test_guard_context_reads_the_cluster_and_the_ledger() -> None:
    cluster = FakeCluster(
        {"ranker": FakeService(replicas=3, version="v2", versions=("v1", "v2"), weights={})}
    )
    target = Target(namespace="ml", service="ranker")
    applied = [
        ExecutionRecord(
            proposal_id="p-1",
            namespace="ml",
            service="ranker",
            kind="scale",
            action={"kind": "scale", "replicas": 3},
            state=ExecutionState.APPLIED,
            started_at=10.0,
        ),
        ExecutionRecord(
            proposal_id="p-2",
            namespace="ml",
            service="ranker",
            kind="scale",
            action={"kind": "scale", "replicas": 9},
            state=ExecutionState.FAILED,
            started_at=20.0,
        ),
    ]
    ctx = build_context(cluster, target, now=30.0, applied=applied)
    svc = ctx.service("ml", "ranker")
    assert svc is not None
    assert (svc.replicas, svc.current_version, svc.current_revision) == (3, "v2", 2)
    assert [(r.version, r.healthy) for r in svc.revisions] == [("v1", True), ("v2", False)]
    assert svc.effective_weights() == {"v2": 100}
    assert [a.proposal_id for a in ctx.history] == ["p-1"]  # a failed apply changed nothing
    missing = build_context(cluster, Target(namespace="ml", service="nope"), now=30.0)
    assert missing.services == ()


def test_a_version_rolled_back_from_is_not_a_healthy_rollback_target() -> None:
    cluster = FakeCluster({"ranker": FakeService(version="v3", versions=("v1", "v2", "v3"))})
    target = Target(namespace="ml", service="ranker")
    rollback = ExecutionRecord(
        proposal_id="p-9",
        namespace="ml",
        service="ranker",
        kind="rollback",
        action={"kind": "rollback", "to_version": "v1"},
        state=ExecutionState.APPLIED,
        started_at=5.0,
        outcome={"before_state": {"version": "v2"}},
    )
    svc = build_context(cluster, target, now=30.0, applied=[rollback]).service("ml", "ranker")
    assert svc is not None
    assert [(r.version, r.healthy) for r in svc.revisions] == [
        ("v1", True),
        ("v2", False),
        ("v3", False),
    ]
