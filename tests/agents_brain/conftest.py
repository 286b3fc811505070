from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from quarterdeck.agents.brain.observation import ServiceObservation
from quarterdeck.agents.sim_observe import SimObserver
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario

BASE = """
version: 1
name: small
seed: 5
duration: 40m
controller_interval: 15s
cluster:
  node_pools:
    - {{name: cpu, count: 4, cpu: 16, memory_gib: 64}}
services:
  - name: fraud-detector
    namespace: ml
    replicas: 4
    min_replicas: 2
    max_replicas: 30
    pod: {{cpu: 2, memory_gib: 4, gpu: 0, startup: 60s}}
    capacity_rps: 40
    base_latency_ms: 30
    slo: {{p95_latency_ms: 150, error_ratio: 0.01}}
    versions:
      - {{name: v1}}
      - {{name: v2, latency_factor: 2.5, error_ratio: 0.15}}
    current_version: v1
    load: {{base_rps: 100, noise: 0.03}}
events:
{events}
"""

# A service that queues before it looks busy: one replica is about one server (67 req/s of
# 15 ms requests), so at 3 replicas and 67 % utilisation p95 sits near its 60 ms SLO while the
# utilisation band alone says 3 is plenty (fifty-services' classifier-11).
QUEUEING = """
version: 1
name: queueing
seed: 11
duration: 40m
controller_interval: 15s
cluster:
  node_pools:
    - {name: cpu, count: 2, cpu: 16, memory_gib: 64}
services:
  - name: classifier
    namespace: risk
    replicas: 5
    min_replicas: 2
    max_replicas: 16
    pod: {cpu: 2, memory_gib: 4, gpu: 0, startup: 60s}
    capacity_rps: 67
    base_latency_ms: 15
    slo: {p95_latency_ms: 60, error_ratio: 0.01}
    versions:
      - {name: v1}
    current_version: v1
    load: {base_rps: 135, noise: 0.05}
events: []
"""

Observe = Callable[[str, float], ServiceObservation]


@pytest.fixture
def observe(tmp_path: Path) -> Observe:
    """The fraud-detector's observation at sim time `at` after `events` (YAML list items),
    read every 15 s like the controller does (so the load trend is known)."""

    def run(events: str, at: float) -> ServiceObservation:
        path = tmp_path / "s.yaml"
        path.write_text(BASE.format(events=events or "  []"))
        sim = Simulator(load_scenario(path))
        observer = SimObserver()
        obs = None
        while sim.now < at:
            sim.advance(15)
            obs = observer.observe_all(sim)[0]
        assert obs is not None
        return obs

    return run
