"""SLO violation minutes, request counts, replica/GPU hours and time to mitigate."""

from __future__ import annotations

import pytest

from quarterdeck.core.models import ScaleAction, Target
from tests.sim.conftest import sim

API = Target(namespace="ml", service="api")


def test_an_under_provisioned_service_violates_all_the_time():
    s = sim(svc={"load": {"base_rps": 100}})  # 80 rps of capacity
    s.run_to_end()
    m = s.metrics.summary()
    assert m.slo_violation_minutes == pytest.approx(60.0)
    assert m.total_requests == pytest.approx(100 * 3600)
    assert m.failed_requests == pytest.approx(20 * 3600)


def test_a_well_provisioned_service_never_violates():
    s = sim(svc={"load": {"base_rps": 20}})
    s.run_to_end()
    m = s.metrics.summary()
    assert m.slo_violation_minutes == 0.0
    assert m.failed_requests == 0.0
    assert m.time_to_mitigate_s == ()


def test_latency_alone_counts_as_a_violation():
    s = sim(svc={"load": {"base_rps": 78}})  # ρ ≈ 0.98: no errors, p95 far above 150 ms
    s.run_to_end()
    w = s.window("ml", "api", 60)
    assert w.error_ratio == 0.0
    assert w.p95_ms is not None
    assert w.p95_ms > 150
    assert s.metrics.summary().slo_violation_minutes == pytest.approx(60.0)


def test_replica_hours_count_pending_pods_and_gpu_hours_weight_gpus():
    pools = {"node_pools": [{"name": "gpu", "count": 1, "cpu": 32, "memory_gib": 128, "gpu": 2}]}
    s = sim(cluster=pools, svc={"pod": {"cpu": 2, "memory_gib": 4, "gpu": 1, "startup": "1m"}})
    s.apply(API, ScaleAction(replicas=3))  # the third pod stays Pending: 2 GPUs only
    s.run_to_end()
    m = s.metrics.summary()
    assert m.replica_hours == pytest.approx(3.0)
    assert m.gpu_hours == pytest.approx(3.0)


def test_time_to_mitigate_a_spike_that_ends_by_itself():
    spike = {
        "at": "10m",
        "type": "load_spike",
        "service": "api",
        "factor": 3.0,
        "ramp": "0s",
        "duration": "10m",
    }
    s = sim(svc={"load": {"base_rps": 30}}, events=[spike])
    s.run_to_end()
    [m] = s.metrics.summary().time_to_mitigate_s
    assert (m.event, m.type, m.service, m.at) == (0, "load_spike", "ml/api", 600.0)
    # overloaded from 10m to 20m; the 60 s window clears 60 s after the spike ends
    assert m.seconds == pytest.approx(600 + 60, abs=2)


def test_time_to_mitigate_is_none_when_never_mitigated_and_absent_when_not_breaking():
    events = [
        {"at": "5m", "type": "pod_crash", "service": "api", "count": 1},  # harmless at low load
        {"at": "20m", "type": "deploy", "service": "api", "version": "v2"},  # 20 % errors forever
    ]
    s = sim(svc={"load": {"base_rps": 10}}, events=events)
    s.run_to_end()
    [m] = s.metrics.summary().time_to_mitigate_s
    assert (m.event, m.type, m.seconds) == (1, "deploy", None)
