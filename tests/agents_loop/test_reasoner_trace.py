"""Every reasoner step is audited under the trace of the incident or request it served, on the
real simulator with the embedded reasoner driving the tool graph (flash-sale scenario)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.agents.embedded import build_embedded
from quarterdeck.agents.loop import LoopMode
from quarterdeck.audit import AuditKey

pytestmark = pytest.mark.anyio
SCENARIO = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios" / "flash-sale.yaml"


async def test_a_chat_request_files_its_reasoner_steps_under_its_trace(tmp_path: Path) -> None:
    run = build_embedded(
        SCENARIO, tmp_path / "state", mode=LoopMode.OBSERVE, audit_key=AuditKey(b"k" * 32)
    )
    try:
        run.sim.advance(60)
        done = await run.runtime.ask("scale fraud-detector to 4", principal="alice")
        assert done.completed, done.text
        [request] = run.audit.query(kind="request")
        trace = request.trace_id
        assert trace is not None
        trail = run.audit.query(trace_id=trace)
        calls = [e for e in trail if e.kind == "reasoner_call"]
        assert {c.payload["role"] for c in calls} == {"coordinator", "observer"}
        assert {"request", "proposal", "verdict", "execution"} <= {e.kind for e in trail}
        # and nothing the reasoner did for this request landed outside its trace
        assert len(run.audit.query(kind="reasoner_call")) == len(calls)
    finally:
        await run.runtime.aclose()


async def test_a_loop_incident_files_its_reasoner_steps_under_its_trace(tmp_path: Path) -> None:
    run = build_embedded(
        SCENARIO, tmp_path / "state", mode=LoopMode.AUTO, audit_key=AuditKey(b"k" * 32)
    )
    try:
        for _ in range(4):
            run.sim.advance(30)
            step = await run.runtime.loop_once()
            if step.of_kind("executed"):
                break
        [opened] = run.audit.query(kind="observation", service="ml/fraud-detector")
        incident = opened.trace_id
        assert incident is not None
        assert incident.startswith("trace-inc-ml-fraud-detector")
        trail = run.audit.query(trace_id=incident)
        planner = [e for e in trail if e.kind == "reasoner_call"]
        assert planner
        assert {c.payload["role"] for c in planner} == {"planner"}
        assert {"observation", "proposal", "verdict", "execution"} <= {e.kind for e in trail}

        # The observer's turn covers every service before any incident exists: it is filed
        # under its loop pass, which the incident's observation names.
        diagnosed_in = opened.payload["diagnosed_in"]
        observer = run.audit.query(trace_id=diagnosed_in, kind="reasoner_call")
        assert {c.payload["role"] for c in observer} == {"observer"}
        assert all(e.trace_id is not None for e in run.audit.query(kind="reasoner_call"))
    finally:
        await run.runtime.aclose()
