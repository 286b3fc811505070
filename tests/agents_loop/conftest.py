"""Fixtures: a Runtime on fakes with scripted brains (a threshold observer, a scale-up planner)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.agents.a2a.wire import Health, Intent, PlanResult, ServiceHealth
from quarterdeck.agents.executor import ExecutorSettings
from quarterdeck.agents.loop import LoopMode
from quarterdeck.agents.runtime import Runtime, RuntimeDeps, RuntimeSettings, scripted_brains
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import ActionProposal, Evidence, ScaleAction, Target
from quarterdeck.tools.registry import ToolRegistry
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard

MakeRuntime = Callable[..., Runtime]


class ScriptedBrains:
    """Observer: breach when p95 > 150 ms, no data when stale. Planner: scale up by 2, then 4."""

    def __init__(self, cluster: FakeCluster, board: SignalBoard, clock: ManualClock) -> None:
        self.cluster, self.board, self.clock = cluster, board, clock
        self.plans = 0
        self.silent: set[str] = set()  # services this observer says nothing about

    def diagnose(self, services: Sequence[Target] | None) -> list[ServiceHealth]:
        targets = services or [d.target for d in self.cluster.deployments()]
        out = []
        for t in targets:
            if t.service in self.silent:
                continue
            s = self.board.read(t)
            p95 = s.get("p95_latency_ms")
            evidence = (
                Evidence(
                    signal="p95_latency_ms", value=p95, observed_at=self.clock.now(), threshold=150
                ),
            )
            if s.stale or p95 is None:
                out.append(ServiceHealth(target=t, health=Health.NO_DATA, summary="signals stale"))
            elif p95 > 150:
                out.append(
                    ServiceHealth(
                        target=t,
                        health=Health.BREACH,
                        summary=f"p95 {p95:g} ms over 150 ms",
                        breaches=("p95_latency_ms",),
                        evidence=evidence,
                    )
                )
            else:
                out.append(
                    ServiceHealth(target=t, health=Health.OK, summary="ok", evidence=evidence)
                )
        return out

    def understand(self, text: str) -> Intent:
        """'fix SERVICE', 'how is SERVICE', 'scale SERVICE to N'; anything else is unknown."""
        words = text.lower().split()
        if len(words) >= 2 and words[0] in {"fix", "how", "scale"}:
            target = Target(namespace="ml", service=words[-1] if words[0] == "how" else words[1])
            if words[0] == "fix":
                return Intent(kind="fix", target=target, explanation=f"fix {target}")
            if words[0] == "how":
                return Intent(kind="diagnose", target=target, explanation=f"diagnose {target}")
            return Intent(
                kind="act",
                target=target,
                action=ScaleAction(replicas=int(words[-1])),
                explanation=f"scale {target} to {words[-1]}",
            )
        return Intent(kind="unknown")

    def plan(self, health: ServiceHealth) -> PlanResult:
        self.plans += 1
        now = self.cluster.deployment(health.target).replicas
        return PlanResult(
            proposals=[
                ActionProposal(
                    id=f"plan-{self.plans}-{k}",
                    target=health.target,
                    action=ScaleAction(replicas=now + k),
                    reason=f"scale {health.target} to {now + k}",
                    evidence=health.evidence,
                    predicted={"p95_latency_ms": 100.0},
                )
                for k in (2, 4)
            ]
        )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(0.0)


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def guard() -> FakeGuard:
    return FakeGuard()


@pytest.fixture
def board() -> SignalBoard:
    b = SignalBoard()
    b.set("fraud-detector", 90.0)
    return b


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.db", AuditKey(b"k" * 32, source="test"))


@pytest.fixture
def brains(cluster: FakeCluster, board: SignalBoard, clock: ManualClock) -> ScriptedBrains:
    return ScriptedBrains(cluster, board, clock)


@pytest.fixture
async def make_runtime(  # noqa: PLR0917 - pytest passes fixtures positionally
    tmp_path: Path,
    clock: ManualClock,
    cluster: FakeCluster,
    guard: FakeGuard,
    board: SignalBoard,
    audit: AuditLog,
    brains: ScriptedBrains,
) -> AsyncIterator[MakeRuntime]:
    built: list[Runtime] = []

    def make(mode: LoopMode = LoopMode.OBSERVE, **settings: Any) -> Runtime:
        deps = RuntimeDeps(
            reasoner=None,
            registry=ToolRegistry(),
            cluster=cluster,
            metrics=None,  # type: ignore[arg-type]  # the scripted signal reader replaces it
            guard=guard,
            audit=audit,
            clock=clock,
        )
        rt = Runtime.build(
            deps,
            RuntimeSettings(
                state_dir=tmp_path / "state",
                loop_mode=mode,
                executor=ExecutorSettings(settle_s=60),
                **settings,
            ),
            brains=scripted_brains(brains.diagnose, brains.plan, brains.understand),
            signals=board.read,
        )
        built.append(rt)
        return rt

    yield make
    for rt in built:
        await rt.aclose()
