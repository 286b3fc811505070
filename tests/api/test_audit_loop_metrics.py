"""The audit log, the loop and /metrics over HTTP."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from quarterdeck.audit import AuditEntry
from tests.api.conftest import Api, MakeApi, bearer

pytestmark = pytest.mark.anyio

FRAUD = {"namespace": "ml", "service": "fraud-detector"}
V = bearer("vera")


async def _act(api: Api, n: int, **extra: Any) -> str:
    body = {"target": FRAUD, "action": {"kind": "scale", "replicas": n}, **extra}
    r = await api.client.post("/v1/actions", json=body, headers=bearer("otto"))
    assert r.status_code == 200, r.text
    data = r.json()
    return str(
        data["result"]["proposal"]["id"] if data["dry_run"] else data["record"]["proposal_id"]
    )


async def test_audit_filters_get_and_export(api: Api) -> None:
    pid = await _act(api, 4)
    r = await api.client.get(f"/v1/audit?proposal={pid}", headers=V)
    assert r.status_code == 200
    page = r.json()
    kinds = [e["kind"] for e in page["entries"]]
    assert kinds[:2] == ["request", "proposal"]
    assert "verdict" in kinds
    assert "execution" in kinds
    assert page["count"] == len(kinds)
    trace = page["entries"][0]["trace_id"]
    by_trace = (await api.client.get(f"/v1/audit?trace={trace}", headers=V)).json()
    assert [e["seq"] for e in by_trace["entries"]] == [e["seq"] for e in page["entries"]]
    mine = (await api.client.get("/v1/audit?principal=otto&kind=request", headers=V)).json()
    assert [e["proposal_id"] for e in mine["entries"]] == [pid]
    svc = (await api.client.get("/v1/audit?service=ml/ranker", headers=V)).json()
    assert svc["entries"] == []
    # Times: everything happened at the sim's now; an hour ago in sim time excludes nothing.
    recent = (await api.client.get("/v1/audit?since=1h", headers=V)).json()
    assert recent["count"] == api.run.audit.count()
    future = (await api.client.get("/v1/audit?since=2099-01-01T00:00:00Z", headers=V)).json()
    assert future["count"] == 0

    seq = page["entries"][0]["seq"]
    one = await api.client.get(f"/v1/audit/{seq}", headers=V)
    assert one.json() == page["entries"][0]
    assert (await api.client.get("/v1/audit/999999", headers=V)).status_code == 404

    export = await api.client.get(f"/v1/audit/export?proposal={pid}", headers=V)
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = export.text.strip().split("\n")
    parsed = [AuditEntry.model_validate_json(x) for x in lines]
    assert [e.seq for e in parsed] == [e["seq"] for e in page["entries"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [("since=yesterday", "since"), ("until=later", "until"), ("kind=gossip", "kind")],
)
async def test_audit_bad_filters_are_422(api: Api, query: str, field: str) -> None:
    r = await api.client.get(f"/v1/audit?{query}", headers=V)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", field]


async def test_audit_verify_ok_then_names_the_tampered_entry(api: Api) -> None:
    await _act(api, 4)
    r = (await api.client.get("/v1/audit/verify", headers=V)).json()
    assert r["ok"] is True
    assert r["entries"] == api.run.audit.count()
    assert r["anchor"] == f"{r['head_seq']}:{r['head_hash']}"
    target = api.run.audit.query(kind="execution")[0]
    with sqlite3.connect(api.run.audit_path) as db:  # an attacker with write access
        db.execute("DROP TRIGGER IF EXISTS entries_no_update")
        payload = json.dumps({**target.payload, "applied": False}, sort_keys=True)
        db.execute("UPDATE entries SET payload = ? WHERE seq = ?", (payload, target.seq))
    r = (await api.client.get("/v1/audit/verify", headers=V)).json()
    assert r["ok"] is False
    assert r["bad_seq"] == target.seq


async def test_loop_settings_and_a_tick_in_auto_mode(api: Api) -> None:
    admin = bearer("ada")
    got = (await api.client.get("/v1/loop", headers=V)).json()
    assert got["mode"] == "observe"
    r = await api.client.put(
        "/v1/loop", json={"mode": "auto", "interval_s": 30, "enabled": False}, headers=admin
    )
    assert r.status_code == 200
    assert r.json() == {"mode": "auto", "interval_s": 30.0, "enabled": False}
    assert (await api.client.get("/v1/loop", headers=V)).json()["mode"] == "auto"
    r = await api.client.put(
        "/v1/loop", json={"mode": "sometimes", "interval_s": 30, "enabled": False}, headers=admin
    )
    assert r.status_code == 422

    r = await api.client.post("/v1/loop/tick", headers=admin)
    assert r.status_code == 200, r.text
    step = r.json()
    assert step["mode"] == "auto"
    kinds = [e["kind"] for e in step["events"] if e["service"] == "ml/fraud-detector"]
    assert kinds == ["incident_opened", "executed"]
    assert api.replicas() == 4  # the planner's +2, allowed by policy, applied by the executor
    changes = api.run.audit.query(kind="loop", principal="ada")
    assert [c.payload.get("change") for c in changes] == ["settings", "manual tick"]


async def test_driver_advances_the_sim_and_runs_passes_when_enabled(make_api: MakeApi) -> None:
    api = await make_api(speed=300)  # 300 sim s per wall s: a 15 s interval is 50 ms
    start = api.sim.now
    api.control.start()
    # Poll rather than sleep a fixed time: on a loaded CI machine the driver may run late, but
    # what matters is that the world moves and the loop acts, not how fast.
    assert await _eventually(lambda: api.sim.now > start + 60)  # moves with the loop off
    assert api.run.audit.count(kind="loop") == 0
    r = await api.client.put(
        "/v1/loop", json={"mode": "auto", "interval_s": 15, "enabled": True}, headers=bearer("ada")
    )
    assert r.status_code == 200
    # the loop acts on fraud-detector's breach
    assert await _eventually(lambda: bool(api.run.audit.query(kind="execution")))
    assert await _eventually(lambda: api.replicas() > 2)
    await api.control.stop()
    frozen = api.sim.now
    await anyio.sleep(0.2)
    assert api.sim.now == frozen


async def _eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    """Whether `check()` holds within `timeout_s` of wall time (polled every 20 ms)."""
    with anyio.move_on_after(timeout_s):
        while not check():
            await anyio.sleep(0.02)
        return True
    return check()


async def test_metrics_count_requests_and_decisions(api: Api) -> None:
    await _act(api, 3, dry_run=True)
    pid = await _act(api, 5, mode="approve")
    await api.client.post(f"/v1/proposals/{pid}/approve", headers=bearer("bob"))
    await _act(api, 6)  # within the scale cooldown: denied
    await api.client.get("/v1/proposals/nope", headers=V)
    text = (await api.client.get("/metrics")).text
    assert 'qd_api_requests_total{method="POST",route="/v1/actions",status="200"} 3.0' in text
    assert (
        'qd_api_requests_total{method="GET",route="/v1/proposals/{proposal_id}",status="404"} 1.0'
        in text
    )
    assert 'qd_guard_verdicts_total{decision="allow"} 2.0' in text  # first look + recheck
    assert 'qd_guard_verdicts_total{decision="deny"} 1.0' in text
    assert 'qd_approval_decisions_total{decision="approved"} 1.0' in text
    assert 'qd_actions_total{kind="scale",status="applied"} 1.0' in text
    assert "qd_api_request_duration_seconds_bucket" in text


async def test_metrics_time_the_reasoner(api: Api) -> None:
    r = await api.client.post("/v1/chat", json={"text": "how ranker"}, headers=bearer("otto"))
    assert r.status_code == 200
    calls = api.run.audit.query(kind="reasoner_call")
    assert calls  # the observer's diagnosis went through the (audited) embedded reasoner
    text = (await api.client.get("/metrics")).text
    count = f'qd_reasoner_latency_seconds_count{{backend="embedded"}} {float(len(calls))}'
    assert count in text


async def test_services_and_readiness(api: Api) -> None:
    r = await api.client.get("/v1/services", headers=V)
    body = r.json()
    by_name = {s["service"]: s for s in body["services"]}
    assert set(by_name) == {"ml/fraud-detector", "ml/ranker"}
    fraud = by_name["ml/fraud-detector"]
    assert fraud["health"] == "violated"
    assert fraud["replicas"] == 2
    assert fraud["signals"]["p95_latency_ms"]["value"] > 150
    assert body["at"] == api.sim.now
    r = await api.client.get("/readyz")
    assert r.json() == {"status": "ready", "checks": {"cluster": True, "metrics": True}}
