"""Two agents in separate processes over loopback HTTP: the coordinator here, the executor in a
subprocess (uvicorn). An a2a-sdk client discovers the coordinator's card and runs a request and
its approval end to end; the cluster changes exactly once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, SendMessageRequest, TaskState
from a2a.utils.errors import UnsupportedOperationError

from quarterdeck.agents.a2a.payloads import data_of, data_part
from quarterdeck.agents.a2a.transport import in_process_url
from quarterdeck.agents.a2a.wire import Health, Intent, PlanResult, ServiceHealth
from quarterdeck.agents.runtime import Runtime, RuntimeDeps, RuntimeSettings, scripted_brains
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import ScaleAction, Target
from quarterdeck.tools.registry import ToolRegistry
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard
from tests.support import agent_process, free_port

pytestmark = pytest.mark.anyio
FD = Target(namespace="ml", service="fraud-detector")


@pytest.fixture
def executor_url(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    state = tmp_path / "executor"
    state.mkdir()
    with agent_process(
        "tests.agents_a2a.serve_executor", free_port(), "--state", str(state)
    ) as url:
        yield url, state


def understand(text: str) -> Intent:
    return Intent(kind="act", target=FD, action=ScaleAction(replicas=6), explanation=text)


def diagnose(services: object) -> list[ServiceHealth]:
    return [ServiceHealth(target=FD, health=Health.BREACH, summary="p95 400 ms over 150 ms")]


@pytest.fixture
async def coordinator(tmp_path: Path, executor_url: tuple[str, Path]) -> AsyncIterator[Runtime]:
    board = SignalBoard()
    deps = RuntimeDeps(
        reasoner=None,
        registry=ToolRegistry(),
        cluster=FakeCluster(),  # never applied to: the executor runs elsewhere
        metrics=None,  # type: ignore[arg-type]
        guard=FakeGuard(),
        audit=AuditLog(tmp_path / "audit.db", AuditKey(b"k" * 32, source="test")),
        clock=ManualClock(0.0),
    )
    rt = Runtime.build(
        deps,
        RuntimeSettings(
            state_dir=tmp_path / "coordinator",
            local_agents=("coordinator", "observer", "planner"),
            remote_agents={"executor": executor_url[0]},
        ),
        brains=scripted_brains(diagnose, lambda _h: PlanResult(proposals=[]), understand),
        signals=board.read,
    )
    yield rt
    await rt.aclose()


def applied(state: Path) -> list[dict[str, object]]:
    log = state / "applied.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_request_and_approval_end_to_end_across_processes(
    coordinator: Runtime, executor_url: tuple[str, Path]
) -> None:
    _, executor_state = executor_url
    base = in_process_url("coordinator")
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=coordinator.apps["coordinator"]), base_url=base
    )
    card = (await http.get("/.well-known/agent-card.json")).json()
    assert card["name"] == "quarterdeck-coordinator"
    assert card["capabilities"]["streaming"] is True
    assert "bearer" in card["securitySchemes"]
    assert card["skills"][0]["examples"]

    client = await ClientFactory(ClientConfig(streaming=True, httpx_client=http)).create_from_url(
        base
    )
    request = Message(
        role=Role.ROLE_USER,
        message_id="m-1",
        parts=[Part(text="scale fraud-detector to 6"), data_part({"principal": "alice"})],
    )
    states = []
    task_id = context_id = ""
    async for event in client.send_message(SendMessageRequest(message=request)):
        if event.HasField("task"):
            task_id, context_id = event.task.id, event.task.context_id
        if event.HasField("status_update"):
            states.append(event.status_update.status.state)
            last = event.status_update.status
    assert states[-1] == TaskState.TASK_STATE_INPUT_REQUIRED
    approval = next(d["approval"] for d in data_of(last.message.parts) if "approval" in d)
    assert applied(executor_state) == []

    decide = Message(
        role=Role.ROLE_USER,
        message_id="m-2",
        task_id=task_id,
        context_id=context_id,
        parts=[data_part({"skill": "decide", "approve": True, "principal": "bob"})],
    )
    final = None
    async for event in client.send_message(SendMessageRequest(message=decide)):
        if event.HasField("status_update"):
            final = event.status_update.status
    assert final is not None
    assert final.state == TaskState.TASK_STATE_COMPLETED
    [report] = [d["report"] for d in data_of(final.message.parts) if "report" in d]
    assert report["status"] == "applied"
    assert report["proposal_id"] == approval["proposal_id"]
    assert [a["action"] for a in applied(executor_state)] == [{"kind": "scale", "replicas": 6}]

    with pytest.raises(UnsupportedOperationError, match="terminal state"):
        async for _ in client.send_message(SendMessageRequest(message=decide)):
            pass
    outcome = await coordinator.decide(approval["proposal_id"], approve=True, principal="carol")
    assert not outcome.decided
    assert "already decided: approved by bob" in outcome.message
    assert len(applied(executor_state)) == 1
    await client.close()
    await http.aclose()
