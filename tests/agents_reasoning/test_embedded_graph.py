"""The embedded reasoner drives the same graph with the same tools."""

from __future__ import annotations

from collections import Counter

from quarterdeck.agents.graph import AgentTask, run_agent
from quarterdeck.agents.reasoning.agent_brains import reasoner_brains
from quarterdeck.agents.reasoning.embedded import EmbeddedReasoner, placement
from quarterdeck.agents.sim_observe import busiest_nodes
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
    many of a service's pods one node loss takes, and which pods have no node."""
    out = run_agent("observer", EmbeddedReasoner(), world.registry, AgentTask(text="diagnose"))
    assert "list_pods" in {c.name for c in out.calls}
    world.sim.apply(RANKER, ScaleAction(replicas=9))  # 9 pods on 4 nodes: one holds three
    world.sim.advance(10)
    pods = world.registry.call("list_pods", {"namespace": "ml", "service": "ranker"}).data["pods"]
    per_node = Counter(p.node for p in world.sim.pods("ml", "ranker"))
    assert placement(pods) == (30.0, max(per_node.values()), 0)
    assert busiest_nodes(world.sim)[("ml", "ranker")] == max(per_node.values()) == 3


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
