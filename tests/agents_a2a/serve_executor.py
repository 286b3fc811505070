"""Run the executor agent alone, over HTTP, in its own process (for the cross-process tests).

    python -m tests.agents_a2a.serve_executor --port 8123 --state DIR

The cluster is the tests' fake; every apply is appended to DIR/applied.jsonl so the test process
can count them. The guard requires approval for scaling.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn

from quarterdeck.agents.executor import ExecutorSettings
from quarterdeck.agents.runtime import Runtime, RuntimeDeps, RuntimeSettings, scripted_brains
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import Action, Decision, Target
from quarterdeck.tools.cluster.base import ApplyResult
from quarterdeck.tools.registry import ToolRegistry
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard


class RecordingCluster(FakeCluster):
    def __init__(self, log: Path) -> None:
        super().__init__()
        self._log = log

    def apply(self, target: Target, action: Action) -> ApplyResult:
        result = super().apply(target, action)
        with self._log.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"target": str(target), "action": action.model_dump()}) + "\n")
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    board = SignalBoard()
    board.set("fraud-detector", 400.0)
    deps = RuntimeDeps(
        reasoner=None,
        registry=ToolRegistry(),
        cluster=RecordingCluster(args.state / "applied.jsonl"),
        metrics=None,  # type: ignore[arg-type]  # the board's reader replaces it
        guard=FakeGuard({"scale": Decision.REQUIRE_APPROVAL}),
        audit=AuditLog(args.state / "audit.db", AuditKey(b"k" * 32, source="test")),
        clock=ManualClock(0.0),
    )
    runtime = Runtime.build(
        deps,
        RuntimeSettings(
            state_dir=args.state,
            local_agents=("executor",),
            public_urls={"executor": f"http://127.0.0.1:{args.port}/"},
            executor=ExecutorSettings(settle_s=60),
        ),
        brains=scripted_brains(lambda _s: [], lambda _h: None),  # type: ignore[arg-type,return-value]
        signals=board.read,
    )
    uvicorn.run(runtime.apps["executor"], host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
