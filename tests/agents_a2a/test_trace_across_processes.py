"""The trace id travels with the A2A request: an observer in another process files its reasoner
steps under the trace of the chat request (or loop pass) that asked it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from quarterdeck.agents.a2a.wire import Intent, PlanResult
from quarterdeck.agents.loop import LoopMode
from quarterdeck.agents.runtime import Runtime, RuntimeDeps, RuntimeSettings, scripted_brains
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import Target
from quarterdeck.tools.registry import ToolRegistry
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard
from tests.support import agent_process, free_port

pytestmark = pytest.mark.anyio
FD = Target(namespace="ml", service="fraud-detector")


@pytest.fixture
def observer_url(tmp_path: Path) -> Iterator[str]:
    state = tmp_path / "observer"
    state.mkdir()
    args = ("--state", str(state), "--audit", str(tmp_path / "audit.db"))
    with agent_process("tests.agents_a2a.serve_observer", free_port(), *args) as url:
        yield url


@pytest.fixture
async def runtime(tmp_path: Path, observer_url: str) -> AsyncIterator[tuple[Runtime, AuditLog]]:
    audit = AuditLog(tmp_path / "audit.db", AuditKey(b"k" * 32, source="test"))
    deps = RuntimeDeps(
        reasoner=None,
        registry=ToolRegistry(),
        cluster=FakeCluster(),
        metrics=None,  # type: ignore[arg-type]  # the board's reader replaces it
        guard=FakeGuard(),
        audit=audit,
        clock=ManualClock(0.0),
    )

    def understand(text: str) -> Intent:
        return Intent(kind="diagnose", target=FD, explanation=text)

    rt = Runtime.build(
        deps,
        RuntimeSettings(
            state_dir=tmp_path / "here",
            loop_mode=LoopMode.OBSERVE,
            local_agents=("coordinator", "planner", "executor"),
            remote_agents={"observer": observer_url},
        ),
        brains=scripted_brains(lambda _s: [], lambda _h: PlanResult(proposals=[]), understand),
        signals=SignalBoard().read,
    )
    yield rt, audit
    await rt.aclose()
    audit.close()


async def test_a_remote_observer_files_its_steps_under_the_callers_trace(
    runtime: tuple[Runtime, AuditLog],
) -> None:
    rt, audit = runtime
    reply = await rt.ask("how is fraud-detector", principal="alice")
    assert reply.completed, reply.text
    [request] = audit.query(kind="request")
    assert request.trace_id is not None
    [chat_call] = audit.query(kind="reasoner_call", trace_id=request.trace_id)
    assert chat_call.principal == "agent:observer"  # written by the other process

    await rt.loop_once()
    calls = audit.query(kind="reasoner_call")
    assert len(calls) == 2
    assert calls[1].trace_id == "trace-loop-0"  # the loop pass that asked
    assert audit.verify().ok
