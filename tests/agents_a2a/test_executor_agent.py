"""The executor agent over A2A (in process): execute → input-required → decide → completed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from a2a.types import TaskState

from quarterdeck.agents.a2a.cards import EXECUTOR, agent_card
from quarterdeck.agents.a2a.client import TaskFinished
from quarterdeck.agents.a2a.executor_agent import ExecutorAgent
from quarterdeck.agents.a2a.server import agent_app
from quarterdeck.agents.a2a.taskstore import SqliteTaskStore
from quarterdeck.agents.a2a.transport import AgentNetwork, in_process_url
from quarterdeck.agents.executor import ExecutorService
from quarterdeck.core.models import Decision, RollbackAction
from tests.agents_a2a.conftest import MakeExecutor
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, proposal

pytestmark = pytest.mark.anyio


def network(service: ExecutorService, state: Path) -> AgentNetwork:
    app = agent_app(
        agent_card(EXECUTOR, in_process_url(EXECUTOR)),
        ExecutorAgent(service),
        SqliteTaskStore(state / "tasks.sqlite", EXECUTOR),
    )
    return AgentNetwork(apps={EXECUTOR: app})


def execute_payload(pid: str = "p-1") -> dict[str, object]:
    return {"skill": "execute", "proposal": proposal(pid).model_dump(mode="json"), "mode": "auto"}


async def test_approval_round_trip_survives_restart(
    make_executor: MakeExecutor, guard: FakeGuard, cluster: FakeCluster, tmp_path: Path
) -> None:
    guard.decisions["scale"] = Decision.REQUIRE_APPROVAL
    net = network(make_executor(), tmp_path)
    client = await net.client(EXECUTOR)
    waiting = await client.send("scale fraud-detector", execute_payload())
    assert waiting.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert waiting.first("report")["status"] == "awaiting_approval"
    await net.aclose()

    net2 = network(make_executor(), tmp_path)  # a new process: new service, store and app
    client2 = await net2.client(EXECUTOR)
    listed = await client2.send(data={"skill": "approvals"})
    assert [a["proposal"]["id"] for a in listed.first("approvals")] == ["p-1"]
    done = await client2.send(
        data={"skill": "decide", "approve": True, "principal": "bob"},
        task_id=waiting.task_id,
        context_id=waiting.context_id,
    )
    assert done.state == TaskState.TASK_STATE_COMPLETED, done.text
    assert done.first("report")["status"] == "applied"
    assert len(cluster.applied) == 1
    with pytest.raises(TaskFinished, match="terminal state"):
        await client2.send(
            data={"skill": "decide", "approve": True, "principal": "carol"},
            task_id=waiting.task_id,
            context_id=waiting.context_id,
        )
    assert len(cluster.applied) == 1
    await net2.aclose()


async def test_denied_proposal_rejects_the_task(
    make_executor: MakeExecutor, guard: FakeGuard, cluster: FakeCluster, tmp_path: Path
) -> None:
    guard.decisions["scale"] = Decision.DENY
    net = network(make_executor(), tmp_path)
    reply = await (await net.client(EXECUTOR)).send(data=execute_payload())
    assert reply.state == TaskState.TASK_STATE_REJECTED
    assert "denied by policy" in reply.text
    assert cluster.applied == []
    await net.aclose()


async def test_bad_proposal_gets_a_clear_answer(
    make_executor: MakeExecutor, tmp_path: Path
) -> None:
    net = network(make_executor(), tmp_path)
    reply = await (await net.client(EXECUTOR)).send(
        data={"skill": "execute", "proposal": {"id": "x"}, "mode": "auto"}
    )
    assert reply.state is None
    assert reply.text.startswith("invalid proposal")
    await net.aclose()


async def test_two_approvals_at_once_apply_once(
    make_executor: MakeExecutor, guard: FakeGuard, cluster: FakeCluster, tmp_path: Path
) -> None:
    guard.decisions["scale"] = Decision.REQUIRE_APPROVAL
    net = network(make_executor(), tmp_path)
    client = await net.client(EXECUTOR)
    waiting = await client.send(data=execute_payload())

    async def approve(who: str) -> object:
        try:
            return await client.send(
                data={"skill": "decide", "approve": True, "principal": who},
                task_id=waiting.task_id,
                context_id=waiting.context_id,
            )
        except TaskFinished as exc:
            return exc

    results = await asyncio.gather(approve("bob"), approve("carol"))
    completed = [r for r in results if not isinstance(r, TaskFinished)]
    assert completed, results
    assert all(getattr(r, "state", None) == TaskState.TASK_STATE_COMPLETED for r in completed)
    assert len(cluster.applied) == 1
    await net.aclose()


async def test_preview_says_what_the_guard_would_decide_and_records_nothing(
    make_executor: MakeExecutor, guard: FakeGuard, cluster: FakeCluster, tmp_path: Path
) -> None:
    guard.decisions["rollback"] = Decision.REQUIRE_APPROVAL
    net = network(make_executor(), tmp_path)
    client = await net.client(EXECUTOR)
    back = proposal("p-2", action=RollbackAction(to_version="v1"))
    asked = [proposal("p-1").model_dump(mode="json"), back.model_dump(mode="json")]
    reply = await client.send(data={"skill": "preview", "proposals": asked})
    assert reply.first("decisions") == ["allow", "require_approval"]
    assert cluster.applied == []
    assert guard.recorded == []
    listed = await client.send(data={"skill": "approvals"})
    assert listed.first("approvals") == []
    bad = await client.send(data={"skill": "preview", "proposals": [{"id": "x"}]})
    assert bad.first("decisions") is None
    assert "invalid proposals" in bad.text
    await net.aclose()
