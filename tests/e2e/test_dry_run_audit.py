"""Uses 3 and 4 on a running server: a dry-run predicts and changes nothing; the audit log
shows who asked and what happened under one trace id per request, verifies, and — after an
attacker edits the database file — `quarterdeck audit verify` fails."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict

from tests.e2e.conftest import FRAUD, RANKER, StartServer

SERVER = ("--speed", "0", "--start-at", "22m", "--no-loop")


def test_dry_run_returns_verdict_and_prediction_and_changes_nothing(serve: StartServer) -> None:
    s = serve(*SERVER)
    before = s.services()
    audited = s.as_("vera").get("/v1/audit").json()["count"]
    r = s.as_("otto").post(
        "/v1/actions",
        json={"target": FRAUD, "action": {"kind": "scale", "replicas": 8}, "dry_run": True},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True
    result = body["result"]
    assert result["verdict"]["decision"] in {"allow", "require_approval", "deny"}
    assert result["predicted_action"] == result["verdict"]["action"]
    # The default policies clamp a scale step; the prediction is of what would be applied.
    assert 2 < result["predicted_action"]["replicas"] <= 8
    prediction = result["prediction"]
    assert prediction is not None
    assert prediction["verdict"] == "helps"  # more replicas during the spike
    delta = prediction["total"]["delta"]
    assert delta["failed_requests"] < 0
    assert delta["p95_ms_mean"] < 0
    assert delta["replica_hours"] > 0

    # Nothing changed: replicas, clock, proposals; only the request itself was audited.
    after = s.services()
    assert {k: v["replicas"] for k, v in after.items()} == {
        k: v["replicas"] for k, v in before.items()
    }
    assert s.as_("vera").get("/v1/services").json()["at"] == 22 * 60
    pid = result["proposal"]["id"]
    assert s.as_("vera").get(f"/v1/proposals/{pid}").status_code == 404
    kinds = [e["kind"] for e in s.as_("vera").get("/v1/audit").json()["entries"][audited:]]
    assert kinds == ["request"]

    # Out of bounds: the guard says why, the prediction is of what it would let through.
    far = (
        s.as_("otto")
        .post(
            "/v1/actions",
            json={"target": FRAUD, "action": {"kind": "scale", "replicas": 50}, "dry_run": True},
        )
        .json()["result"]
    )
    assert far["verdict"]["matches"], far["verdict"]
    assert far["verdict"]["decision"] != "allow" or far["verdict"]["action"]["replicas"] <= 20
    assert s.replicas("fraud-detector") == before["ml/fraud-detector"]["replicas"]


def test_audit_review_verify_then_tampering_is_caught(serve: StartServer) -> None:
    s = serve(*SERVER)
    chat = s.as_("otto").post("/v1/chat", json={"text": "p95 of fraud-detector is high, fix it"})
    assert chat.status_code == 200, chat.text
    rest = s.as_("otto").post(
        "/v1/actions", json={"target": RANKER, "action": {"kind": "scale", "replicas": 5}}
    )
    assert rest.json()["record"]["status"] == "applied"

    page = s.as_("vera").get("/v1/audit", params={"limit": 1000}).json()
    entries = page["entries"]
    assert page["count"] == len(entries) > 0
    by_trace: dict[str, list[dict[str, object]]] = defaultdict(list)
    for e in entries:
        assert e["principal"], e  # every step says who
        if e["trace_id"]:
            by_trace[str(e["trace_id"])].append(e)
    # The served simulator's now is the wall clock's now, so audit times read as real times
    # (and `quarterdeck audit list --since 1h` finds them).
    assert abs(float(entries[0]["at"]) - time.time()) < 300
    requests = [e for e in entries if e["kind"] == "request"]
    assert [r["principal"] for r in requests] == ["otto", "otto"]
    traces = {r["trace_id"] for r in requests}
    assert len(traces) == 2  # one trace id per request
    for trace in traces:
        steps = by_trace[str(trace)]
        kinds = [e["kind"] for e in steps]
        assert kinds[0] == "request"
        assert {"proposal", "verdict", "execution"} <= set(kinds), kinds
        assert {e["principal"] for e in steps} >= {"otto", "agent:executor"}
        assert len({e["proposal_id"] for e in steps if e["proposal_id"]}) == 1
        # The trace filter returns exactly these steps.
        same = s.as_("vera").get("/v1/audit", params={"trace": trace}).json()["entries"]
        assert [e["seq"] for e in same] == [e["seq"] for e in steps]

    verify = s.as_("vera").get("/v1/audit/verify").json()
    assert verify["ok"] is True
    assert verify["entries"] >= len(entries)

    # Clean shutdown on SIGTERM: exit 0, the audit log closed, the CLI sees an intact chain.
    assert s.stop() == 0
    assert "audit log closed" in s.stderr_text()
    intact = s.cli("audit", "verify", "--db", str(s.audit_db), "--key-file", str(s.key_file))
    assert intact.code == 0, intact.output
    recent = s.cli("audit", "list", "--db", str(s.audit_db), "--since", "1h", "--kind", "request")
    assert recent.code == 0, recent.output
    assert recent.stdout.count("otto") == 2

    # An attacker with write access to the file: drop the append-only triggers, rewrite history.
    target = next(e for e in entries if e["kind"] == "execution")
    with sqlite3.connect(s.audit_db) as db:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f'DROP TRIGGER "{name}"')
        payload = json.dumps({**target["payload"], "applied": False}, sort_keys=True)
        db.execute("UPDATE entries SET payload = ? WHERE seq = ?", (payload, target["seq"]))
    db.close()
    caught = s.cli("audit", "verify", "--db", str(s.audit_db), "--key-file", str(s.key_file))
    assert caught.code == 1, caught.output
    assert str(target["seq"]) in caught.output
