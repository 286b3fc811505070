"""Use 2: the autonomous loop in `approve` mode on a running server. A proposal waits; an
approver approves it (CLI and REST against the same server); it is applied exactly once, and a
second approval is refused (409 / exit 1)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import RANKER, Served, StartServer, wait_for


def _pending(s: Served) -> list[dict[str, Any]]:
    r = s.as_("vera").get("/v1/proposals", params={"status": "pending"})
    assert r.status_code == 200, r.text
    return list(r.json()["proposals"])


def _applied_executions(s: Served, pid: str) -> list[dict[str, Any]]:
    r = s.as_("vera").get("/v1/audit", params={"proposal": pid, "kind": "execution"})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["entries"] if e["payload"].get("applied") is True]


def test_loop_proposal_waits_then_is_applied_once_after_approval(serve: StartServer) -> None:
    # The loop runs in the background: every 15 simulated seconds, 60x real time, from just
    # before fraud-detector's load spike peaks.
    s = serve("--mode", "approve", "--speed", "60", "--start-at", "21m", "--interval", "15s")
    loop = s.as_("vera").get("/v1/loop").json()
    assert loop == {"mode": "approve", "interval_s": 15.0, "enabled": True}

    waiting = wait_for(lambda: _pending(s), timeout=30.0, what="a pending proposal")
    record = waiting[0]
    pid = record["proposal_id"]
    assert record["status"] == "awaiting_approval"
    assert record["proposal"]["target"]["service"] == "fraud-detector"
    assert record["proposal"]["requested_by"].startswith("agent:")
    assert _applied_executions(s, pid) == []  # nothing applied while it waits

    listed = s.cli("approvals", "list", who="vera")
    assert listed.code == 0, listed.output
    assert pid in listed.stdout
    assert "scale" in listed.stdout

    # A viewer may not approve; an unknown id is bad input naming it.
    nope = s.cli("approvals", "approve", pid, who="vera")
    assert nope.code == 1
    assert "not allowed" in nope.stderr
    unknown = s.cli("approvals", "approve", "no-such-proposal", who="alice")
    assert unknown.code == 2
    assert "no-such-proposal" in unknown.stderr

    ok = s.cli("approvals", "approve", pid, "--comment", "checked the dashboards", who="alice")
    assert ok.code == 0, ok.output
    assert f"approved {pid}" in ok.stdout

    again = s.as_("bob").post(f"/v1/proposals/{pid}/approve")
    assert again.status_code == 409, again.text
    assert "alice" in again.json()["detail"]
    twice = s.cli("approvals", "approve", pid, who="bob")
    assert twice.code == 1
    assert "already decided" in twice.stderr

    applied = _applied_executions(s, pid)
    assert len(applied) == 1
    action = applied[0]["payload"]["action"]
    assert action["kind"] == "scale"
    decided = s.as_("vera").get(f"/v1/proposals/{pid}").json()
    assert decided["approval"]["decided_by"] == "alice"
    assert decided["approval"]["comment"] == "checked the dashboards"
    assert decided["status"] in {"applied", "verified", "rolled_back", "escalated"}
    assert pid not in [p["proposal_id"] for p in _pending(s)]


def test_rest_approve_and_cli_reject_of_requests_that_wait(serve: StartServer) -> None:
    s = serve("--mode", "approve", "--speed", "0", "--start-at", "22m", "--no-loop")
    body = {"target": RANKER, "action": {"kind": "scale", "replicas": 5}, "mode": "approve"}

    first = s.as_("otto").post("/v1/actions", json=body).json()["record"]
    assert first["status"] == "awaiting_approval"
    rejected = s.cli("approvals", "reject", first["proposal_id"], who="alice")
    assert rejected.code == 0, rejected.output
    assert "rejected" in rejected.stdout
    assert s.replicas("ranker") == 4

    second = s.as_("otto").post("/v1/actions", json=body).json()["record"]
    pid = second["proposal_id"]
    r = s.as_("alice").post(f"/v1/proposals/{pid}/approve", json={"comment": "ok"})
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "approved"
    assert r.json()["record"]["status"] == "applied"
    assert wait_for(lambda: s.replicas("ranker") == 5, timeout=3.0, what="ranker at 5")
    assert s.as_("bob").post(f"/v1/proposals/{pid}/reject").status_code == 409
    assert len(_applied_executions(s, pid)) == 1
    assert _applied_executions(s, first["proposal_id"]) == []
