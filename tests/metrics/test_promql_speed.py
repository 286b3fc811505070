"""The evaluator's speed budget, behind `-m slow`: the all-services health queries of one observe
step over 100 services (every bucket series of every service) in a few milliseconds each.

Budgets are several times what a quiet machine measures (about 13 ms for the nine batched
queries, under 1 ms for a per-service one), so only a real regression fails them.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
import yaml

from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import scenario_from_dict
from quarterdeck.sim.wire.promql import instant_query

FIFTY = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios" / "fifty-services.yaml"

BATCHED = [
    "time() - max by (namespace, service) (timestamp(qd_requests_total))",
    'sum by (namespace, service) (rate(qd_requests_total{code=~"5.."}[{w}]))'
    " / sum by (namespace, service) (rate(qd_requests_total[{w}]))",
    "1000 * histogram_quantile(0.95, sum by (namespace, service, le)"
    " (rate(qd_request_duration_seconds_bucket[{w}])))",
    "sum by (namespace, service) (rate(qd_requests_total[{w}]))",
    "max by (namespace, service) (qd_utilisation)",
]
PER_SERVICE = (
    "1000 * histogram_quantile(0.95, sum by (version, le) (rate("
    'qd_request_duration_seconds_bucket{{namespace="{ns}",service="{svc}"}}[1m])))'
)


@pytest.fixture(scope="module")
def hundred_services() -> Simulator:
    data = yaml.safe_load(FIFTY.read_text(encoding="utf-8"))
    twins = []
    for svc in data["services"]:
        twin = dict(svc, name=f"{svc['name']}-b")
        twins.append(twin)
    data["services"] = data["services"] + twins
    data["events"] = []
    data["duration"] = "30m"
    for pool in data["cluster"]["node_pools"]:
        pool["count"] = pool["count"] * 2
    sim = Simulator(scenario_from_dict(data, FIFTY))
    sim.advance(900)
    return sim


def _p50_ms(sim: Simulator, queries: list[str], rounds: int = 7) -> float:
    times = []
    for _ in range(rounds):
        sim.advance(15)
        t0 = time.perf_counter()
        for q in queries:
            instant_query(sim.series, q, sim.now, epoch=sim.epoch)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[1:])  # the first round fills the evaluator's memory


@pytest.mark.slow
def test_batched_health_queries_over_100_services_within_budget(hundred_services):
    sim = hundred_services
    assert len(sim.services()) == 100
    queries = [q.replace("{w}", w) for w in ("1m", "5m") for q in BATCHED]
    assert _p50_ms(sim, queries) <= 60.0


@pytest.mark.slow
def test_per_service_query_within_budget(hundred_services):
    sim = hundred_services
    services = sim.services()[:20]
    queries = [PER_SERVICE.format(ns=s.namespace, svc=s.name) for s in services]
    assert _p50_ms(sim, queries) / len(queries) <= 3.0
