"""An executor process for the SIGKILL tests: it runs one proposal against a cluster over HTTP and
stops dead at the named moment, waiting there for the test to kill it.

    python -m tests.agents_a2a.crash_executor --url URL --epoch E --state DIR --at before_apply

It prints `at <moment>` (flushed) when it reaches the moment and then sleeps; the claim it made is
on disk by then. The guard allows everything; the proposal is `p-1`, scale to 6 replicas.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from quarterdeck.agents.executor import ExecutorDeps, ExecutorHooks, ExecutorService
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.tools.cluster import ClusterConfig, make_cluster_client
from tests.agents_a2a.fakes import FakeGuard, SignalBoard, proposal


def build(url: str, epoch: float, state: Path, hooks: ExecutorHooks) -> ExecutorService:
    """The executor both the doomed process and the test's recovering one build."""
    board = SignalBoard()
    board.set("fraud-detector", 400.0)
    config = ClusterConfig(kind="kube", url=url, retries=0, epoch=epoch)
    deps = ExecutorDeps(
        guard=FakeGuard(),
        cluster=make_cluster_client(config),
        signals=board.read,
        audit=AuditLog(state / "audit.db", AuditKey(b"k" * 32, source="test")),
        clock=ManualClock(1000.0),
        hooks=hooks,
    )
    return ExecutorService(deps, state / "executor")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--epoch", type=float, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--at", choices=("before_apply", "after_apply"), required=True)
    args = parser.parse_args()

    def stop_here(_pid: str) -> None:
        print(f"at {args.at}", flush=True)
        time.sleep(600)  # the test kills this process here

    executor = build(args.url, args.epoch, args.state, ExecutorHooks(**{args.at: stop_here}))
    executor.execute(proposal(), mode="auto")
    print("finished", flush=True)  # only reached if nobody killed it


if __name__ == "__main__":
    main()
