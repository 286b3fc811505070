"""Prometheus-style series: names, labels, matchers, monotonic counters, agreement with window()."""

from __future__ import annotations

import numpy as np
import pytest

from quarterdeck.sim.engine import DEFAULT_EPOCH, Simulator
from quarterdeck.sim.latency import N_BUCKETS, histogram_quantile, le_label
from tests.sim.conftest import scenario, sim

CONTRACT_NAMES = {
    "qd_requests_total",
    "qd_request_duration_seconds_bucket",
    "qd_request_duration_seconds_sum",
    "qd_request_duration_seconds_count",
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_ready",
    "qd_offered_load_rps",
    "qd_utilisation",
    "qd_route_weight",
}
EVENTS = [
    {
        "at": "2m",
        "type": "load_spike",
        "service": "api",
        "factor": 3,
        "ramp": "1m",
        "duration": "5m",
    },
    {"at": "10m", "type": "deploy", "service": "api", "version": "v2", "canary_weight": 50},
]


@pytest.fixture(scope="module")
def ran() -> Simulator:
    s = sim(svc={"load": {"base_rps": 40, "noise": 0.05}}, events=EVENTS)
    s.advance(1800)
    return s


def test_contract_names_and_labels(ran):
    assert set(ran.series.names()) >= CONTRACT_NAMES
    assert {"namespace", "service", "version", "code", "le", "deployment"} <= set(
        ran.series.label_names()
    )
    assert ran.series.label_values("code") == ["200", "500", "503"]
    assert ran.series.label_values("version") == ["v1", "v2"]
    les = ran.series.label_values("le")
    assert "+Inf" in les
    assert len(les) == N_BUCKETS
    [spec] = ran.series.select("kube_deployment_spec_replicas")
    assert spec.labels == {"namespace": "ml", "deployment": "api"}
    assert np.all(np.diff(spec.t) == 5.0)  # sampled every 5 sim seconds
    assert spec.t[0] == 0.0
    assert spec.t[-1] == 1800.0


def test_counters_are_monotonic(ran):
    for name in (
        "qd_requests_total",
        "qd_request_duration_seconds_bucket",
        "qd_request_duration_seconds_count",
        "qd_request_duration_seconds_sum",
    ):
        for s in ran.series.select(name):
            assert np.all(np.diff(s.v) >= -1e-9), (name, s.labels)


def test_buckets_are_cumulative_and_inf_equals_count(ran):
    m = [("version", "=", "v1")]
    buckets = sorted(
        ran.series.select("qd_request_duration_seconds_bucket", m),
        key=lambda s: float(s.labels["le"].replace("+Inf", "inf")),
    )
    values = np.array([b.v[-1] for b in buckets])
    assert np.all(np.diff(values) >= -1e-9)
    [count] = ran.series.select("qd_request_duration_seconds_count", m)
    assert values[-1] == pytest.approx(count.v[-1])
    served = sum(
        s.v[-1] for s in ran.series.select("qd_requests_total", [*m, ("code", "=~", "200|500")])
    )
    assert count.v[-1] == pytest.approx(served)


def _at(series, t):
    i = int(np.flatnonzero(series.t == t)[0])
    return series.v[i]


@pytest.mark.parametrize("t", [300.0, 900.0, 1800.0])
def test_series_agree_with_window(t):
    s = sim(svc={"load": {"base_rps": 40, "noise": 0.05}}, events=EVENTS)
    s.advance(t)
    w = s.window("ml", "api", 60)
    total = sum(
        _at(x, t) - _at(x, t - 60)
        for x in s.series.select("qd_requests_total", [("service", "=", "api")])
    )
    assert total / 60 == pytest.approx(w.request_rate, rel=1e-9)
    failed = sum(
        _at(x, t) - _at(x, t - 60)
        for x in s.series.select("qd_requests_total", [("code", "!=", "200")])
    )
    assert failed / total == pytest.approx(w.error_ratio, rel=1e-9, abs=1e-12)
    # histogram_quantile over the summed bucket increases = the in-process p95
    by_le: dict[str, float] = {}
    for x in s.series.select("qd_request_duration_seconds_bucket"):
        by_le[x.labels["le"]] = by_le.get(x.labels["le"], 0.0) + _at(x, t) - _at(x, t - 60)
    cum = np.array([by_le[le_label(i)] for i in range(N_BUCKETS)])
    assert histogram_quantile(0.95, cum) * 1000 == pytest.approx(w.p95_ms, rel=1e-9)


def test_matchers_follow_promql(ran):
    sel = ran.series.select
    assert len(sel("qd_requests_total", [("code", "=", "503")])) == 2
    assert len(sel("qd_requests_total", [("code", "!=", "503")])) == 4
    assert len(sel("qd_requests_total", [("code", "=~", "5..")])) == 4
    assert sel("qd_requests_total", [("service", "=~", "ap")]) == []  # anchored
    assert len(sel("qd_requests_total", [("service", "!~", "ap")])) == 6
    assert len(sel("qd_requests_total", [("missing", "=", "")])) == 6  # absent label is ""
    assert sel("qd_requests_total", [("__name__", "=", "other")]) == []
    with pytest.raises(ValueError, match="unknown matcher operator"):
        sel("qd_requests_total", [("code", "==", "200")])


def test_route_weight_and_replicas_series(ran):
    weights = {s.labels["version"]: s for s in ran.series.select("qd_route_weight")}
    assert _at(weights["v1"], 300.0) == 100.0
    assert _at(weights["v2"], 1800.0) == 50.0
    assert _at(weights["v1"], 1800.0) == 50.0
    [ready] = ran.series.select("kube_deployment_status_replicas_ready")
    assert ready.v[0] == 2.0


def test_epoch_is_fixed_by_default_and_settable():
    assert sim().epoch == DEFAULT_EPOCH == 1767225600.0
    assert Simulator(scenario(), epoch=1_800_000_000).epoch == 1_800_000_000


def test_longest_window_agrees_with_series():
    s = sim(svc={"load": {"base_rps": 40, "noise": 0.05}}, events=EVENTS)
    s.advance(1500)
    w = s.window("ml", "api", 900)
    assert w.seconds == 900
    # v2's series start after 600 s (its canary was deployed then): absent counts as 0 there
    total = sum(
        _at(x, 1500.0) - (_at(x, 600.0) if 600.0 in x.t else 0.0)
        for x in s.series.select("qd_requests_total", [("service", "=", "api")])
    )
    assert total / 900 == pytest.approx(w.request_rate, rel=1e-9)
    with pytest.raises(ValueError, match="window must be within"):
        s.window("ml", "api", 901)


def test_node_pool_series_follow_requests_and_failures():
    pools = {"node_pools": [{"name": "cpu", "count": 2, "cpu": 4, "memory_gib": 16}]}
    fail = {"at": "5m", "type": "node_failure", "pool": "cpu", "count": 1, "duration": "10m"}
    s = sim(cluster=pools, svc={"replicas": 3}, events=[fail])
    s.advance(1200)

    def one(name):
        [x] = s.series.select(name, [("pool", "=", "cpu")])
        return x

    ready, alloc, req = (
        one("qd_node_pool_nodes_ready"),
        one("qd_node_pool_cpu_allocatable_cores"),
        one("qd_node_pool_cpu_requested_cores"),
    )
    assert (_at(ready, 295.0), _at(ready, 305.0), _at(ready, 905.0)) == (2, 1, 2)
    assert (_at(alloc, 295.0), _at(alloc, 305.0)) == (8, 4)
    assert _at(req, 295.0) == 6  # 3 pods × 2 cpu
    assert _at(req, 305.0) == 4  # one pod fits on the surviving node, one is Pending
    assert _at(req, 905.0) == 6
    assert one("qd_node_pool_gpu_allocatable").v.max() == 0
