"""The real loop rolls a healthy canary forward; the executor promotes only a canary its own
reads find healthy, whatever a proposal says."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.agents.embedded import build_embedded
from quarterdeck.agents.executor import ExecutionStatus
from quarterdeck.agents.guard_context import PROMOTE_AFTER_S
from quarterdeck.agents.loop import LoopMode
from quarterdeck.audit import AuditKey
from quarterdeck.core.models import ActionProposal, RollbackAction, Target

pytestmark = pytest.mark.anyio
SCENARIOS = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios"
EMBEDDER = Target(namespace="search", service="search-embedder")

# scorer starts a 25 % canary of v2 at 1 minute (one pod, serving well within its capacity);
# `error` makes v2 fail that share of its requests.
CANARY = """
version: 1
name: canary
seed: 9
duration: 30m
cluster:
  node_pools:
    - {{name: cpu, count: 4, cpu: 16, memory_gib: 64}}
services:
  - name: scorer
    namespace: ml
    replicas: 4
    min_replicas: 2
    max_replicas: 10
    pod: {{cpu: 2, memory_gib: 4, gpu: 0, startup: 30s}}
    capacity_rps: 100
    base_latency_ms: 50
    slo: {{p95_latency_ms: 150, error_ratio: 0.01}}
    versions: [{{name: v1}}, {{name: v2, error_ratio: {error}}}]
    current_version: v1
    load: {{base_rps: 60, noise: 0.02}}
events:
  - {{at: 1m, type: deploy, service: scorer, version: v2, canary_weight: 25}}
"""


async def test_the_loop_promotes_a_healthy_canary(tmp_path: Path) -> None:
    run = build_embedded(
        SCENARIOS / "canary-promotion.yaml",
        tmp_path / "state",
        mode=LoopMode.AUTO,
        audit_key=AuditKey(b"k" * 32),
    )
    try:
        applied = []
        while run.sim.now < 1200:
            run.sim.advance(15)
            step = await run.runtime.loop_once()
            applied += [e for e in step.of_kind("executed") if e.status == "applied"]
        (promotion,) = applied
        assert promotion.proposal is not None
        assert promotion.proposal.action == RollbackAction(to_version="v2")
        view = run.sim.service(EMBEDDER.namespace, EMBEDDER.service)
        assert (view.version, view.canary_version) == ("v2", None)
    finally:
        await run.runtime.aclose()


@pytest.mark.parametrize(("error", "promoted"), [(0.0, True), (0.2, False)])
async def test_the_executor_promotes_only_a_canary_it_finds_healthy(
    tmp_path: Path, error: float, promoted: bool
) -> None:
    scenario = tmp_path / "canary.yaml"
    scenario.write_text(CANARY.format(error=error))
    run = build_embedded(
        scenario, tmp_path / "state", mode=LoopMode.OBSERVE, audit_key=AuditKey(b"k" * 32)
    )
    try:
        run.sim.advance(60 + 30 + PROMOTE_AFTER_S)  # the canary has served long enough
        assert run.runtime.executor is not None
        report = run.runtime.executor.execute(
            ActionProposal(
                id=f"promote-{error}",
                target=Target(namespace="ml", service="scorer"),
                action=RollbackAction(to_version="v2"),
                reason="the canary looks fine to me",  # a claim the executor does not take
                requested_by="llm:planner",
            )
        )
        view = run.sim.service("ml", "scorer")
        if promoted:
            assert report.status is ExecutionStatus.APPLIED, report.message
            assert view.version == "v2"
        else:
            assert report.status is ExecutionStatus.DENIED
            assert "never observed healthy" in report.message
            assert (view.version, view.canary_version) == ("v1", "v2")
    finally:
        await run.runtime.aclose()
