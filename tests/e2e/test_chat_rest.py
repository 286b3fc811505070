"""Use 1: an SRE asks in chat ("p95 of fraud-detector is high, fix it") and over REST (a
structured scale), against a real `quarterdeck serve`; the simulated cluster changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import FRAUD, RANKER, Served, sse_events, start_server, wait_for

# The bundled flash-sale scenario: fraud-detector's load has tripled by 22 minutes. The tests
# share one server: the chat acts on fraud-detector only, the structured request on ranker only.
SERVER = ("--speed", "0", "--start-at", "22m", "--no-loop", "--mode", "observe")


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_server(Path(tmp_path_factory.mktemp("chat-rest")), *SERVER)
    yield served
    assert served.stop() == 0


def _changed(s: Served, service: str, replicas: int) -> dict[str, object]:
    """The service's status once its desired replicas differ from `replicas`. /v1/services may
    answer from a cache up to a second old (RuntimeControl.services_max_age_s)."""
    return wait_for(  # type: ignore[no-any-return]
        lambda: (st := s.services()[f"ml/{service}"])["replicas"] != replicas and st,
        timeout=3.0,
        what=f"{service}'s replicas to change from {replicas}",
    )


def test_chat_streams_steps_then_a_final_answer_with_evidence_and_fixes(s: Served) -> None:
    before = s.services()["ml/fraud-detector"]
    assert before["health"] == "violated"
    assert before["replicas"] == 2

    events = []
    with s.as_("otto").stream(
        "POST", "/v1/chat/stream", json={"text": "p95 of fraud-detector is high, fix it"}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(r))

    kinds = [k for k, _ in events]
    assert kinds[-1] == "final"
    assert kinds.count("final") == 1
    assert "error" not in kinds
    steps = [d["text"] for k, d in events if k == "step" and d["text"]]
    assert any(t.startswith("observer:") for t in steps), steps  # the agents' own steps
    assert any(t.startswith("planner:") for t in steps), steps
    final = events[-1][1]
    assert final["state"] == "completed", final
    # The answer rests on evidence: the p95 it saw, against the SLO.
    assert "p95_latency_ms" in final["text"]
    assert "SLO 150" in final["text"]

    after = _changed(s, "fraud-detector", before["replicas"])
    assert after["replicas"] > before["replicas"]
    # The chat's proposal went through the executor under the operator's name.
    applied = s.as_("vera").get("/v1/proposals", params={"status": "applied"}).json()
    chat = [p for p in applied["proposals"] if p["proposal_id"].startswith("chat-")]
    assert len(chat) == 1
    assert chat[0]["proposal"]["requested_by"] == "otto"
    assert chat[0]["verdict"]["action"]["replicas"] == after["replicas"]


def test_structured_action_applies_a_scale(s: Served) -> None:
    assert s.replicas("ranker") == 4
    r = s.as_("otto").post(
        "/v1/actions",
        json={"target": RANKER, "action": {"kind": "scale", "replicas": 5}, "reason": "e2e"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is False
    record = body["record"]
    assert record["status"] == "applied", record
    assert record["proposal"]["requested_by"] == "otto"
    assert _changed(s, "ranker", 4)["replicas"] == 5

    # A viewer may read but not act; bad input names the field; neither changes anything.
    fraud = s.replicas("fraud-detector")
    denied = s.as_("vera").post(
        "/v1/actions", json={"target": FRAUD, "action": {"kind": "scale", "replicas": 9}}
    )
    assert denied.status_code == 403
    bad = s.as_("otto").post(
        "/v1/actions", json={"target": FRAUD, "action": {"kind": "scale", "replicas": -1}}
    )
    assert bad.status_code == 422
    assert "replicas" in str(bad.json()["detail"])
    assert s.replicas("fraud-detector") == fraud


def test_cli_chat_and_services_against_the_server(s: Served) -> None:
    services = s.cli("services", who="vera")
    assert services.code == 0, services.output
    assert "ml/fraud-detector" in services.stdout
    assert "violated" in services.stdout

    chat = s.cli("chat", "how is ranker doing", who="otto")
    assert chat.code == 0, chat.output
    assert "· observer:" in chat.stdout  # a step, printed as it arrived
    assert "completed" in chat.stdout
    assert "p95_latency_ms" in chat.stdout

    assert s.cli("chat", "how is ranker", who=None).code == 2  # no token: bad input
    wrong = s.cli("services", "--token", "not-a-token")
    assert wrong.code == 1
    assert "not allowed" in wrong.stderr
