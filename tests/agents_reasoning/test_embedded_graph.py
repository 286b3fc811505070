"""The embedded reasoner drives the same graph with the same tools."""

from __future__ import annotations

from collections import Counter

from quarterdeck.agents.brain.observation import Placement
from quarterdeck.agents.graph import AgentTask, run_agent
from quarterdeck.agents.reasoning.agent_brains import reasoner_brains
from quarterdeck.agents.reasoning.embedded import EmbeddedReasoner, placement
from quarterdeck.agents.sim_observe import pod_placement
from quarterdeck.core.models import ScaleAction, Target

from .conftest import World

RANKER = Target(namespace="ml", service="ranker")


def test_observer_turn_reads_tools_and_diagnoses(world: World) -> None:
    out = run_agent("observer", EmbeddedReasoner(), world.registry, AgentTask(text="diagnose"))
    assert out.stopped == "final"
    assert out.calls[0].name == "service_health"
    assert out.payload is not None
    (d,) = out.payload["diagnoses"]
    assert d["target"]["service"] == "ranker"
    assert d["cause"] == "none"


def test_observer_learns_start_up_and_placement_from_the_pods(world: World) -> None:
    """The tools path knows what the bench's reader knows: how long a pod takes to serve, how
    many ready pods one node loss takes, which pods have no node, when the newest turned ready."""
    out = run_agent("observer", EmbeddedReasoner(), world.registry, AgentTask(text="diagnose"))
    assert "list_pods" in {c.name for c in out.calls}
    world.sim.apply(RANKER, ScaleAction(replicas=9))  # 9 pods on 4 nodes: one holds three
    world.sim.advance(10)
    ranker = {"namespace": "ml", "service": "ranker"}
    starting = placement(world.registry.call("list_pods", ranker).data["pods"])
    # The six new pods are not ready yet: only the three running ones count, one per node.
    assert starting == Placement(startup_s=30.0, busiest_node_pods=1, pending=0, last_ready_at=0.0)
    world.sim.advance(30)
    ready = [p for p in world.sim.pods("ml", "ranker") if p.phase == "Ready"]
    assert len(ready) == 9
    newest = max(p.ready_at for p in ready if p.ready_at is not None)
    assert newest > 180
    settled = placement(world.registry.call("list_pods", ranker).data["pods"])
    assert settled == Placement(30.0, max(Counter(p.node for p in ready).values()), 0, newest)
    assert settled.busiest_node_pods == 3
    assert pod_placement(world.sim)[("ml", "ranker")] == Placement(None, 3, 0, newest)


def test_injected_event_text_changes_no_decision(world: World) -> None:
    brains = reasoner_brains(EmbeddedReasoner(), world.registry, world.cluster)
    (health,) = brains.diagnose(None)
    assert health.health.value == "ok"
    assert brains.plan(health).proposals == []
    assert world.sim.service("ml", "ranker").spec_replicas == 3


def test_coordinator_understands_through_the_graph(world: World) -> None:
    brains = reasoner_brains(EmbeddedReasoner(), world.registry, world.cluster)
    intent = brains.understand("send 10 % of ranker traffic to v2")
    assert intent.kind == "act"
    assert intent.action is not None
    assert intent.action.model_dump() == {"kind": "route", "weights": {"v2": 10, "v1": 90}}
    assert brains.understand("make me a sandwich").kind == "unknown"


def test_a_cut_pod_listing_leaves_placement_unknown(world: World) -> None:
    """A listing cut by its limit would undercount some services' pods (and so their spare
    need): the observer then treats placement as unknown rather than trusting part of it."""
    from quarterdeck.agents.reasoning.embedded import _pods_by_target
    from quarterdeck.agents.reasoning.protocol import Message

    def listed(limit: int) -> Message:
        result = world.registry.call("list_pods", {"limit": limit})
        env = {"data": result.data}
        return Message(role="tool", tool_call_id="pods", name="list_pods", data=env)

    assert len(_pods_by_target([listed(100)])[RANKER]) == 3
    assert _pods_by_target([listed(2)]) == {}


# Two services the observer looks at closely: scorer runs a bad canary, ranker runs busy.
TWO_SUSPECTS = """
version: 1
name: two-suspects
seed: 4
duration: 30m
cluster:
  node_pools:
    - {name: cpu, count: 4, cpu: 16, memory_gib: 64}
services:
  - name: scorer
    namespace: ml
    replicas: 4
    min_replicas: 2
    max_replicas: 10
    pod: {cpu: 2, memory_gib: 4, gpu: 0, startup: 30s}
    capacity_rps: 40
    base_latency_ms: 30
    slo: {p95_latency_ms: 150, error_ratio: 0.01}
    versions: [{name: v1}, {name: v2, error_ratio: 0.2}]
    current_version: v1
    load: {base_rps: 80, noise: 0.02}
  - name: ranker
    namespace: ml
    replicas: 3
    min_replicas: 2
    max_replicas: 10
    pod: {cpu: 2, memory_gib: 4, gpu: 0, startup: 30s}
    capacity_rps: 40
    base_latency_ms: 30
    slo: {p95_latency_ms: 150, error_ratio: 0.01}
    versions: [{name: v1}]
    current_version: v1
    load: {base_rps: 92, noise: 0.02}
events:
  - {at: 1m, type: deploy, service: scorer, version: v2, canary_weight: 25}
"""


def test_several_services_looked_at_closely_share_one_read_per_signal(tmp_path: object) -> None:
    """With more than one service to look at closely, the per-version signals come from one
    all-services read each (not one per service), and the bad canary is still found."""
    world = World(tmp_path, TWO_SUSPECTS, at=240.0)
    out = run_agent("observer", EmbeddedReasoner(), world.registry, AgentTask(text="diagnose"))
    reads = [c for c in out.calls if c.name == "get_signal"]
    # The first step's scan for services serving two versions, then the three detail reads.
    scan_and_details = [
        "version_request_rate",
        "version_error_ratio",
        "version_p95_latency_ms",
        "version_request_rate",
    ]
    assert sorted(c.arguments["signal"] for c in reads) == sorted(scan_and_details)
    assert all("service" not in c.arguments for c in reads)
    assert {c.arguments["service"] for c in out.calls if c.name == "rollout_history"} == {
        "scorer",
        "ranker",
    }
    assert out.payload is not None
    causes = {d["target"]["service"]: d for d in out.payload["diagnoses"]}
    assert causes["scorer"]["cause"] == "bad_version"
    assert causes["scorer"]["details"]["suspect"] == "v2"
    assert causes["ranker"]["cause"] != "bad_version"
