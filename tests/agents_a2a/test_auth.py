"""The bearer-token seam: with an Authenticator, calls need a token (the card stays public) and the
authenticated principal — not the one a message claims — is the approver."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from a2a.types import TaskState
from starlette.requests import Request

from quarterdeck.agents.a2a.cards import EXECUTOR, agent_card
from quarterdeck.agents.a2a.client import AgentClient, AgentError
from quarterdeck.agents.a2a.executor_agent import ExecutorAgent
from quarterdeck.agents.a2a.server import agent_app
from quarterdeck.agents.a2a.taskstore import SqliteTaskStore
from quarterdeck.agents.a2a.transport import in_process_url
from quarterdeck.core.models import Decision
from tests.agents_a2a.conftest import MakeExecutor
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, proposal

pytestmark = pytest.mark.anyio
TOKENS = {"t-alice": "alice", "t-bob": "bob"}


async def authenticate(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return TOKENS.get(header.removeprefix("Bearer ").strip())


def http(app: object, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url=in_process_url(EXECUTOR),
        headers=headers,
    )


async def test_token_required_and_principal_from_the_token(
    make_executor: MakeExecutor, guard: FakeGuard, cluster: FakeCluster, tmp_path: Path
) -> None:
    guard.decisions["scale"] = Decision.REQUIRE_APPROVAL
    service = make_executor()
    app = agent_app(
        agent_card(EXECUTOR, in_process_url(EXECUTOR)),
        ExecutorAgent(service),
        SqliteTaskStore(tmp_path / "tasks.sqlite", EXECUTOR),
        authenticator=authenticate,
    )
    anonymous = http(app)
    assert (await anonymous.get("/.well-known/agent-card.json")).status_code == 200
    refused = await anonymous.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    await anonymous.aclose()

    alice = await AgentClient.connect(in_process_url(EXECUTOR), http=http(app, "t-alice"))
    payload = {"skill": "execute", "proposal": proposal().model_dump(mode="json"), "mode": "auto"}
    waiting = await alice.send(data=payload)
    assert waiting.state == TaskState.TASK_STATE_INPUT_REQUIRED
    bob = await AgentClient.connect(in_process_url(EXECUTOR), http=http(app, "t-bob"))
    done = await bob.send(
        data={"skill": "decide", "approve": True, "principal": "mallory"},
        task_id=waiting.task_id,
        context_id=waiting.context_id,
    )
    assert done.completed
    approval = service.ledger.approval("p-1")
    assert approval is not None
    assert approval.decided_by == "bob"
    assert len(cluster.applied) == 1

    mallory = await AgentClient.connect(in_process_url(EXECUTOR), http=http(app, "t-bad"))
    with pytest.raises(AgentError, match="401"):
        await mallory.send(data={"skill": "approvals"})
    await mallory.aclose()
    await alice.aclose()
    await bob.aclose()
