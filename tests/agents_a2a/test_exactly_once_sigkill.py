"""Exactly-once apply when the executor process is SIGKILLed at the worst moments: a separate
process claims and dies, the test's process recovers. The cluster is the simulator's Kubernetes
facade over HTTP (the official-client adapter), and the simulator counts every call it gets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from quarterdeck.agents.approvals import ExecutionState
from quarterdeck.agents.executor import ExecutionStatus, ExecutorHooks
from quarterdeck.audit import AuditLog
from quarterdeck.core.models import ScaleAction, Target
from quarterdeck.sim.wire.server import serve_in_thread
from tests.agents_a2a.crash_executor import build
from tests.agents_a2a.sim_cluster import CountingSim

FD = Target(namespace="ml", service="fraud-detector")
ROOT = Path(__file__).resolve().parents[2]


def kill_at(url: str, epoch: float, state: Path, moment: str) -> None:
    """Start an executor process, wait until it reaches `moment`, SIGKILL it."""
    args = ["--url", url, "--epoch", str(epoch), "--state", str(state), "--at", moment]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.agents_a2a.crash_executor", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"at {moment}", proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


@pytest.mark.parametrize(
    ("moment", "calls_before_recovery", "says"),
    [
        ("before_apply", 0, "the first call never took effect"),
        ("after_apply", 1, "confirmed by observation"),
    ],
)
def test_sigkilled_executor_is_recovered_to_exactly_one_call(
    tmp_path: Path, counted: CountingSim, moment: str, calls_before_recovery: int, says: str
) -> None:
    with serve_in_thread(counted.sim) as server:
        kill_at(server.url, counted.sim.epoch, tmp_path, moment)
        assert len(counted.applied) == calls_before_recovery

        executor = build(server.url, counted.sim.epoch, tmp_path, ExecutorHooks())
        try:
            claim = executor.ledger.execution("p-1")
            assert claim is not None
            assert claim.state is ExecutionState.APPLYING  # the dead process recorded no outcome
            [report] = executor.recover()
            assert report.status is ExecutionStatus.APPLIED
            assert says in report.message
            assert counted.applied == [(FD, ScaleAction(replicas=6))]
            assert executor.deps.cluster.deployment(FD).replicas == 6
            assert executor.recover() == []
        finally:
            executor.close()
            audit = executor.deps.audit
            assert isinstance(audit, AuditLog)
            audit.close()
