"""The embedded setup: a simulated cluster from a scenario file, the default policies, an audit
log, and the four agents in one process — what `quarterdeck loop` (and later the demo) runs.

This is wiring only: it builds the dependencies and hands them to `Runtime.build`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quarterdeck.agents.executor import ExecutorSettings
from quarterdeck.agents.loop import LoopMode
from quarterdeck.agents.runtime import Brains, Runtime, RuntimeDeps, RuntimeSettings
from quarterdeck.agents.runtime import default_brains as runtime_default_brains
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.policies.guard import Guard
from quarterdeck.policies.loader import default_policy_dir, load_policies
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario
from quarterdeck.tools.cluster.sim import SimClusterClient
from quarterdeck.tools.metrics.sim import SimMetricsSource
from quarterdeck.tools.reads import ReadContext, ReadTools, register_read_tools
from quarterdeck.tools.registry import ToolRegistry
from quarterdeck.tools.signals import load_catalog, slo_from_services

BrainFactory = Callable[[RuntimeDeps, ReadTools], Brains]


def default_brains(deps: RuntimeDeps, _reads: ReadTools) -> Brains:
    """`runtime.default_brains`: the injected (or embedded) reasoner through the tool graph."""
    return runtime_default_brains(deps)


@dataclass
class Embedded:
    sim: Simulator
    runtime: Runtime
    audit: AuditLog
    audit_path: Path


def build_embedded(
    scenario_path: Path,
    state_dir: Path,
    *,
    mode: LoopMode,
    audit_key: AuditKey,
    reasoner: Any = None,
    brains: BrainFactory = default_brains,
    executor: ExecutorSettings | None = None,
    seed: int | None = None,
    audit_path: Path | None = None,
    epoch: float | None = None,
) -> Embedded:
    """Everything `quarterdeck loop` needs, on the scenario's simulator. Raises ScenarioError,
    PolicyLoadError or CatalogError (each naming the file and the problem) on bad input.
    `epoch`: Unix seconds of sim t=0 (default: the simulator's fixed one); a server maps it to
    its start so audit times read as real times."""
    scenario = load_scenario(scenario_path)
    sim = (
        Simulator(scenario, seed=seed) if epoch is None else Simulator(scenario, seed, epoch=epoch)
    )
    cluster = SimClusterClient(sim)
    metrics = SimMetricsSource(sim)
    catalog = load_catalog().with_thresholds(slo_from_services(sim.services()))
    registry = ToolRegistry()
    reads = register_read_tools(
        registry, ReadContext(metrics=metrics, catalog=catalog, cluster=cluster)
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    audit_path = audit_path or state_dir / "audit.db"
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    audit = AuditLog(audit_path, audit_key, clock=sim.clock, epoch=sim.epoch)
    deps = RuntimeDeps(
        reasoner=reasoner,
        registry=registry,
        cluster=cluster,
        metrics=metrics,
        guard=Guard(load_policies(default_policy_dir())),
        audit=audit,
        clock=sim.clock,
        catalog=catalog,
        wall_time=lambda t: datetime.fromtimestamp(sim.epoch + t, tz=UTC),
        simulator=sim,
    )
    settings = RuntimeSettings(
        state_dir=state_dir,
        loop_mode=mode,
        executor=executor or ExecutorSettings(settle_s=120),
    )
    runtime = Runtime.build(deps, settings, brains=brains(deps, reads))
    return Embedded(sim=sim, runtime=runtime, audit=audit, audit_path=audit_path)
