"""Scheduling, startup delays, node failures and crashes."""

from __future__ import annotations

from quarterdeck.core.models import ScaleAction, Target
from tests.sim.conftest import sim

API = Target(namespace="ml", service="api")
SMALL_POOL = {"node_pools": [{"name": "cpu", "count": 2, "cpu": 4, "memory_gib": 16}]}


def test_pod_stays_pending_when_the_pool_is_full():
    s = sim(cluster=SMALL_POOL)  # 2 nodes × 2 pods of 2 cpu
    s.apply(API, ScaleAction(replicas=6))
    view = s.service("ml", "api")
    assert (view.pods, view.pending, view.starting) == (6, 2, 2)
    pending = [p for p in s.pods() if p.phase == "Pending"]
    assert len(pending) == 2
    assert all(p.node is None for p in pending)
    failed = [e for e in s.events() if e.reason == "FailedScheduling"]
    assert {e.name for e in failed} == {p.name for p in pending}
    assert "Insufficient cpu" in failed[0].message
    s.advance(600)
    assert s.service("ml", "api").ready_replicas == 4
    assert s.service("ml", "api").pending == 2


def test_gpu_pods_need_gpu_nodes_and_cpu_pods_prefer_cpu_nodes():
    pools = {
        "node_pools": [
            {"name": "gpu", "count": 1, "cpu": 32, "memory_gib": 128, "gpu": 2},
            {"name": "cpu", "count": 1, "cpu": 16, "memory_gib": 64},
        ]
    }
    s = sim(cluster=pools, svc={"pod": {"cpu": 2, "memory_gib": 4, "gpu": 1, "startup": "1m"}})
    assert {p.node for p in s.pods()} == {"gpu-0"}
    s.apply(API, ScaleAction(replicas=3))
    assert sum(p.phase == "Pending" for p in s.pods()) == 1  # only 2 GPUs in the cluster
    c = sim(cluster=pools)
    assert {p.node for p in c.pods()} == {"cpu-0"}


def test_new_pod_serves_only_after_startup():
    s = sim()
    s.advance(60)
    s.apply(API, ScaleAction(replicas=3))
    new = [p for p in s.pods() if p.created_at == 60.0]
    assert len(new) == 1
    assert new[0].phase == "Starting"
    s.advance(29)
    assert s.service("ml", "api").ready_replicas == 2
    s.advance(1)
    assert s.service("ml", "api").ready_replicas == 3
    [pod] = [p for p in s.pods() if p.name == new[0].name]
    assert pod.phase == "Ready"
    assert pod.ready_at == 90.0


def test_failed_nodes_pods_are_rescheduled_and_the_node_comes_back():
    s = sim(
        cluster=SMALL_POOL,
        svc={"replicas": 3},
        events=[{"at": "5m", "type": "node_failure", "pool": "cpu", "count": 1, "duration": "10m"}],
    )
    assert sorted(p.node for p in s.pods()) == ["cpu-0", "cpu-0", "cpu-1"]
    s.advance(300)
    nodes = {n.name: n for n in s.nodes()}
    assert not nodes["cpu-0"].ready
    assert nodes["cpu-0"].pods == ()
    view = s.service("ml", "api")
    assert (view.pods, view.ready_replicas, view.pending) == (3, 1, 1)  # 1 fits on cpu-1
    assert any(e.reason == "NodeNotReady" and e.name == "cpu-0" for e in s.events())
    s.advance(30)
    assert s.service("ml", "api").ready_replicas == 2
    s.advance(600)  # the node is back at 15m; the pending pod lands there and starts
    assert any(e.reason == "NodeReady" for e in s.events())
    assert s.service("ml", "api").pending == 0
    s.advance(60)
    assert s.service("ml", "api").ready_replicas == 3


def test_node_failure_without_duration_stays_down():
    s = sim(
        cluster=SMALL_POOL,
        events=[{"at": "1m", "type": "node_failure", "pool": "cpu", "count": 2}],
    )
    s.advance(3000)
    assert all(not n.ready for n in s.nodes())
    view = s.service("ml", "api")
    assert (view.pending, view.ready_replicas) == (2, 0)
    assert s.window("ml", "api", 60).error_ratio == 1.0


def test_pod_crash_recreates_pods_with_startup():
    s = sim(
        svc={"replicas": 3},
        events=[{"at": "2m", "type": "pod_crash", "service": "api", "count": 2}],
    )
    before = {p.name for p in s.pods()}
    s.advance(120)
    view = s.service("ml", "api")
    assert (view.pods, view.ready_replicas, view.starting) == (3, 1, 2)
    assert len(before & {p.name for p in s.pods()}) == 1
    assert sum(e.reason == "BackOff" for e in s.events()) == 2
    s.advance(30)
    assert s.service("ml", "api").ready_replicas == 3


def test_pods_spread_over_nodes_like_least_allocated_scoring():
    pools = {"node_pools": [{"name": "cpu", "count": 4, "cpu": 16, "memory_gib": 64}]}
    s = sim(cluster=pools, svc={"replicas": 4})
    assert sorted(p.node for p in s.pods()) == ["cpu-0", "cpu-1", "cpu-2", "cpu-3"]
    s.apply(API, ScaleAction(replicas=6))
    assert sorted(p.node for p in s.pods()) == [
        "cpu-0", "cpu-0", "cpu-1", "cpu-1", "cpu-2", "cpu-3",
    ]  # fmt: skip
