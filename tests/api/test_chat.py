"""Chat over HTTP: the SSE stream yields the agents' steps, then one final answer; the JSON variant
returns the same ending; a chat request that needs approval is approved over REST."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import Api, bearer

pytestmark = pytest.mark.anyio


def sse_events(text: str) -> list[tuple[str, Any]]:
    """(event, parsed data) for each event in a text/event-stream body (pings skipped)."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
        if data:
            out.append((event, json.loads("\n".join(data))))
    return out


async def test_stream_yields_steps_then_the_final_answer(api: Api) -> None:
    async with api.client.stream(
        "POST", "/v1/chat/stream", json={"text": "how fraud-detector"}, headers=bearer("otto")
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join([chunk async for chunk in r.aiter_text()])
    events = sse_events(body)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "final"
    assert kinds.count("final") == 1
    assert kinds.count("step") >= 3  # understood, asking the observer, the observer's answer
    texts = [d["text"] for e, d in events if e == "step"]
    assert any("observer" in t for t in texts), texts
    final = events[-1][1]
    assert final["state"] == "completed"
    assert "ml/fraud-detector: breach" in final["text"]
    request = api.run.audit.query(kind="request", principal="otto")
    assert [e.payload["text"] for e in request] == ["how fraud-detector"]


async def test_json_chat_returns_the_same_ending(api: Api) -> None:
    r = await api.client.post("/v1/chat", json={"text": "how ranker"}, headers=bearer("otto"))
    assert r.status_code == 200
    reply = r.json()
    assert reply["state"] == "completed"
    assert reply["text"].startswith("ml/ranker:")
    assert len(reply["steps"]) >= 3


async def test_chat_action_is_applied_under_the_requester(api: Api) -> None:
    r = await api.client.post(
        "/v1/chat", json={"text": "scale fraud-detector to 4"}, headers=bearer("otto")
    )
    assert r.json()["state"] == "completed", r.json()
    assert api.replicas() == 4
    execs = api.run.audit.query(kind="execution")
    assert [e.payload["action"] for e in execs] == [{"kind": "scale", "replicas": 4}]
    proposal = api.run.audit.query(kind="proposal")[0]
    assert proposal.principal == "otto"  # the executor audits the proposal under the requester


async def test_chat_action_waits_for_approval_then_applies_once(api: Api) -> None:
    # Restarting both pods at once is over the restart-share limit: the guard wants a human.
    r = await api.client.post(
        "/v1/chat", json={"text": "restart fraud-detector 2"}, headers=bearer("otto")
    )
    reply = r.json()
    assert reply["state"] == "input_required", reply
    pid = reply["approval"]["proposal_id"]
    assert api.run.audit.query(kind="execution") == []
    r = await api.client.post(f"/v1/proposals/{pid}/approve", headers=bearer("bob"))
    assert r.status_code == 200, r.text
    assert r.json()["record"]["status"] == "applied"
    r = await api.client.post(f"/v1/proposals/{pid}/approve", headers=bearer("alice"))
    assert r.status_code == 409
    execs = api.run.audit.query(kind="execution", proposal_id=pid)
    assert len(execs) == 1
    assert execs[0].payload["action"]["kind"] == "restart"


async def test_unknown_request_is_answered_not_failed(api: Api) -> None:
    r = await api.client.post(
        "/v1/chat", json={"text": "make me a sandwich"}, headers=bearer("otto")
    )
    assert r.status_code == 200
    assert r.json()["state"] == "completed"
    assert "not understood" in r.json()["text"]  # the intent parser's explanation
    assert api.run.audit.query(kind="proposal") == []


async def test_empty_chat_is_422(api: Api) -> None:
    r = await api.client.post("/v1/chat", json={"text": ""}, headers=bearer("otto"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "text"]
