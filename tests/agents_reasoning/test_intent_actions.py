"""A parsed intent (the embedded parser's or an LLM's JSON) → the action, built against the
cluster's current state: a scale step counts from the replicas there are now."""

from __future__ import annotations

from quarterdeck.agents.brain.intents import parse_intent
from quarterdeck.agents.reasoning.agent_brains import intent_from_parsed
from quarterdeck.core.models import ScaleAction

from .conftest import World

RANKER = {"namespace": "ml", "service": "ranker"}  # 3 replicas in the test world


def test_a_step_counts_from_the_current_replicas(world: World) -> None:
    up = intent_from_parsed(
        {"kind": "scale", "target": RANKER, "direction": "up", "step": 2}, world.cluster
    )
    assert up.action == ScaleAction(replicas=5)
    down = intent_from_parsed(
        {"kind": "scale", "target": RANKER, "direction": "down"}, world.cluster
    )
    assert down.action == ScaleAction(replicas=2)


def test_words_to_action_end_to_end(world: World) -> None:
    services = [d.target for d in world.cluster.deployments()]
    parsed = parse_intent("add two replicas to ranker", services)
    intent = intent_from_parsed(vars(parsed), world.cluster)
    assert intent.kind == "act"
    assert intent.action == ScaleAction(replicas=5)


def test_a_step_that_is_not_positive_is_refused(world: World) -> None:
    bad = intent_from_parsed(
        {"kind": "scale", "target": RANKER, "direction": "up", "step": -3}, world.cluster
    )
    assert bad.kind == "unknown"
    assert bad.action is None
    assert "a scale step is a positive number of replicas, not -3" in bad.explanation
