"""Small scenarios built in code, so each test states exactly the cluster it needs."""

from __future__ import annotations

import copy
from typing import Any

from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import Scenario, scenario_from_dict

BASE: dict[str, Any] = {
    "version": 1,
    "name": "unit",
    "seed": 1,
    "duration": "1h",
    "cluster": {"node_pools": [{"name": "cpu", "count": 4, "cpu": 16, "memory_gib": 64}]},
    "services": [
        {
            "name": "api",
            "namespace": "ml",
            "replicas": 2,
            "min_replicas": 1,
            "max_replicas": 20,
            "pod": {"cpu": 2, "memory_gib": 4, "gpu": 0, "startup": "30s"},
            "capacity_rps": 40,
            "base_latency_ms": 30,
            "slo": {"p95_latency_ms": 150, "error_ratio": 0.01},
            "versions": [
                {"name": "v1"},
                {"name": "v2", "latency_factor": 2.0, "error_ratio": 0.2},
            ],
            "current_version": "v1",
            "load": {"base_rps": 40},
        }
    ],
    "events": [],
}


def scenario_dict(**top: Any) -> dict[str, Any]:
    """A deep copy of BASE with top-level keys replaced; `svc` updates the first service."""
    d = copy.deepcopy(BASE)
    svc = top.pop("svc", None)
    d.update(top)
    if svc:
        d["services"][0].update(svc)
    return d


def scenario(**top: Any) -> Scenario:
    return scenario_from_dict(scenario_dict(**top), "unit.yaml")


def sim(**top: Any) -> Simulator:
    return Simulator(scenario(**top))
