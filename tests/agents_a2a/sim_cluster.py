"""A real simulator behind the real `sim` ClusterClient adapter, with every call into the
simulator counted — for the exactly-once tests, which must see how often the world was touched."""

from __future__ import annotations

from dataclasses import dataclass, field

from quarterdeck.core.models import Action, Target
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import parse_scenario
from quarterdeck.sim.views import ApplyOutcome

SCENARIO = """
version: 1
name: exactly-once
seed: 5
duration: 1h
cluster:
  node_pools:
    - {name: cpu, count: 4, cpu: 16, memory_gib: 64}
services:
  - name: fraud-detector
    namespace: ml
    replicas: 2
    min_replicas: 1
    max_replicas: 10
    pod: {cpu: 1, memory_gib: 2, startup: 10s}
    capacity_rps: 50
    base_latency_ms: 20
    slo: {p95_latency_ms: 150, error_ratio: 0.01}
    versions:
      - {name: v1}
      - {name: v2}
    current_version: v1
    load: {base_rps: 60}
events:
  - {at: 1s, type: deploy, service: fraud-detector, version: v2}
"""


@dataclass
class CountingSim:
    """The simulator, and every action it was asked to apply (through any adapter)."""

    sim: Simulator
    applied: list[tuple[Target, Action]] = field(default_factory=list)

    def install(self) -> None:
        inner = self.sim.apply

        def apply(target: Target, action: Action) -> ApplyOutcome:
            outcome = inner(target, action)  # raises (and is not counted) if refused
            self.applied.append((target, action))
            return outcome

        self.sim.apply = apply  # type: ignore[method-assign]  # counted on this instance only


def counting_sim() -> CountingSim:
    sim = Simulator(parse_scenario(SCENARIO))
    sim.advance(30)  # past the deploy of v2 (v1 is in the history to roll back to) and start-up
    counted = CountingSim(sim)
    counted.install()
    return counted
