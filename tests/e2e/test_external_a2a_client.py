"""An external `a2a-sdk` client against a real `quarterdeck serve`: it discovers the coordinator's
card over HTTP, finds there the URL it can reach (not the in-process address the agent was built
with), and runs a request that policy sends to a human, then the approval, end to end."""

from __future__ import annotations

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, SendMessageRequest, TaskState

from quarterdeck.agents.a2a.payloads import data_of, data_part
from tests.e2e.conftest import StartServer, token

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_discover_request_and_approve_over_a2a(serve: StartServer) -> None:
    s = serve("--speed", "0", "--no-loop")
    base = f"{s.url}/a2a/coordinator/"
    async with httpx.AsyncClient(
        timeout=60.0, headers={"Authorization": f"Bearer {token('alice')}"}
    ) as http:
        card = (await http.get(f"{base}.well-known/agent-card.json")).json()
        assert card["name"] == "quarterdeck-coordinator"
        assert [i["url"] for i in card["supportedInterfaces"]] == [base]

        client = await ClientFactory(
            ClientConfig(streaming=True, httpx_client=http)
        ).create_from_url(base)
        request = Message(
            role=Role.ROLE_USER, message_id="ext-1",
            parts=[Part(text="restart two fraud-detector pods")],
        )  # fmt: skip
        task_id = context_id = ""
        last = None
        async for event in client.send_message(SendMessageRequest(message=request)):
            if event.HasField("task"):
                task_id, context_id = event.task.id, event.task.context_id
            if event.HasField("status_update"):
                last = event.status_update.status
        assert last is not None
        assert last.state == TaskState.TASK_STATE_INPUT_REQUIRED, last
        approval = next(d["approval"] for d in data_of(last.message.parts) if "approval" in d)
        pending = s.as_("vera").get(f"/v1/proposals/{approval['proposal_id']}").json()
        assert pending["status"] == "awaiting_approval"

        decide = Message(
            role=Role.ROLE_USER, message_id="ext-2", task_id=task_id, context_id=context_id,
            parts=[data_part({"skill": "decide", "approve": True})],
        )  # fmt: skip
        final = None
        async for event in client.send_message(SendMessageRequest(message=decide)):
            if event.HasField("status_update"):
                final = event.status_update.status
        assert final is not None
        assert final.state == TaskState.TASK_STATE_COMPLETED, final
        [report] = [d["report"] for d in data_of(final.message.parts) if "report" in d]
        assert report["status"] in {"applied", "verifying"}
        assert report["proposal_id"] == approval["proposal_id"]
    record = s.as_("vera").get(f"/v1/proposals/{approval['proposal_id']}").json()
    assert record["status"] in {"applied", "verifying"}
    assert record["approval"]["decided_by"] == "alice"  # the token's owner, not a claimed name
