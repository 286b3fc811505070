"""Run the observer agent alone, over HTTP, in its own process, thinking with an audited
scripted reasoner (for the cross-process trace test).

    python -m tests.agents_a2a.serve_observer --port 8123 --state DIR --audit FILE

The reasoner answers every turn at once without a diagnosis (so every service comes back as
no data); what matters is that its step lands in the shared audit log under the caller's trace.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from quarterdeck.agents.brains import AuditedReasoner
from quarterdeck.agents.reasoning.agent_brains import reasoner_brains
from quarterdeck.agents.reasoning.protocol import FinalAnswer, ReasonerReply, ReasonerRequest
from quarterdeck.agents.runtime import Runtime, RuntimeDeps, RuntimeSettings
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.tools.registry import ToolRegistry
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard


class Shrug:
    name = "shrug"

    def step(self, request: ReasonerRequest) -> ReasonerReply:
        return ReasonerReply(final=FinalAnswer(text="nothing to say", payload={"diagnoses": []}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--audit", type=Path, required=True)
    args = parser.parse_args()
    audit = AuditLog(args.audit, AuditKey(b"k" * 32, source="observer"))
    cluster = FakeCluster()
    registry = ToolRegistry()
    brains = reasoner_brains(AuditedReasoner(Shrug(), audit), registry, cluster)
    deps = RuntimeDeps(
        reasoner=None,
        registry=registry,
        cluster=cluster,
        metrics=None,  # type: ignore[arg-type]  # the board's reader replaces it
        guard=FakeGuard(),
        audit=audit,
        clock=ManualClock(0.0),
    )
    runtime = Runtime.build(
        deps,
        RuntimeSettings(
            state_dir=args.state,
            local_agents=("observer",),
            public_urls={"observer": f"http://127.0.0.1:{args.port}/"},
        ),
        brains=brains,
        signals=SignalBoard().read,
    )
    uvicorn.run(runtime.apps["observer"], host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
