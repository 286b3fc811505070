"""Small scenarios for what-if tests: one service under a load spike, or two side by side."""

from __future__ import annotations

import copy
from typing import Any

from quarterdeck.core.models import ActionProposal, RollbackAction, ScaleAction, Target
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import scenario_from_dict

API = Target(namespace="ml", service="api")
RANKER = Target(namespace="ml", service="ranker")

SERVICE: dict[str, Any] = {
    "name": "api",
    "namespace": "ml",
    "replicas": 2,
    "min_replicas": 1,
    "max_replicas": 20,
    "pod": {"cpu": 2, "memory_gib": 4, "gpu": 0, "startup": "30s"},
    "capacity_rps": 40,  # 2 replicas serve 80 rps; the base load is 40 rps
    "base_latency_ms": 30,
    "slo": {"p95_latency_ms": 150, "error_ratio": 0.01},
    "versions": [{"name": "v1"}, {"name": "v2"}],
    "current_version": "v1",
    "load": {"base_rps": 40},
}


def spike_sim(*, factor: float, replicas: int = 2, at_s: float = 240.0, second: bool = False):
    """A simulator `at_s` into a scenario whose load rises ×`factor` at 2m for 20 minutes."""
    services = [copy.deepcopy(SERVICE) | {"replicas": replicas}]
    if second:
        services.append(copy.deepcopy(SERVICE) | {"name": "ranker"})
    scenario = scenario_from_dict(
        {
            "version": 1,
            "name": "whatif",
            "seed": 3,
            "duration": "1h",
            "cluster": {"node_pools": [{"name": "cpu", "count": 4, "cpu": 16, "memory_gib": 64}]},
            "services": services,
            "events": [
                {"at": "2m", "type": "load_spike", "service": "api", "factor": factor,
                 "ramp": "30s", "duration": "20m"},
            ],
        },
        "whatif.yaml",
    )  # fmt: skip
    sim = Simulator(scenario)
    sim.advance(at_s)
    return sim


def scale(replicas: int, target: Target = API) -> ActionProposal:
    return ActionProposal(
        id=f"scale-{replicas}", target=target, action=ScaleAction(replicas=replicas)
    )


def rollback_to(version: str) -> ActionProposal:
    return ActionProposal(
        id=f"rollback-{version}", target=API, action=RollbackAction(to_version=version)
    )
