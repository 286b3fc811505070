from __future__ import annotations

import pytest

from quarterdeck.agents.brain.intents import UNKNOWN_HELP, match_service, parse_intent
from quarterdeck.core.models import Target

SERVICES = [
    Target(namespace="ml", service=s)
    for s in ("fraud-detector", "ranker", "recommender", "svc-07", "ranker-v2-shadow")
]


@pytest.mark.parametrize(
    ("text", "kind", "service", "fields"),
    [
        ("p95 of fraud-detector is high, fix it", "fix", "fraud-detector", {}),
        ("fraud detector is slow", "fix", "fraud-detector", {}),
        ("Fraud-Detector errors!! mitigate please", "fix", "fraud-detector", {}),
        ("roll back recommender", "rollback", "recommender", {"version": None}),
        ("please rollback the recomender", "rollback", "recommender", {}),
        ("revert ranker to v1", "rollback", "ranker", {"version": "v1"}),
        ("send 10 % of ranker traffic to v3", "route", "ranker", {"percent": 10, "version": "v3"}),
        ("shift 25 percent of traffic on ranker to v2", "route", "ranker", {"percent": 25}),
        ("scale ranker to 6", "scale", "ranker", {"replicas": 6}),
        ("set fraud detector to 4 replicas", "scale", "fraud-detector", {"replicas": 4}),
        ("scale svc-07 to 3", "scale", "svc-07", {"replicas": 3}),
        ("scale ranker up", "scale", "ranker", {"direction": "up", "replicas": None}),
        ("scale ranker up by two", "scale", "ranker", {"direction": "up", "step": 2}),
        # a count with "add"/"more"/"remove" is a step, never the new total (4 → 2 was a bug)
        ("add 2 replicas to ranker", "scale", "ranker", {"direction": "up", "step": 2}),
        ("give ranker two more replicas", "scale", "ranker", {"direction": "up", "step": 2}),
        ("add a replica to ranker", "scale", "ranker", {"direction": "up", "step": 1}),
        ("remove one pod from ranker", "scale", "ranker", {"direction": "down", "step": 1}),
        ("scale ranker down by 3", "scale", "ranker", {"direction": "down", "step": 3}),
        ("scale in ranker by 2", "scale", "ranker", {"direction": "down", "step": 2}),
        ("add 2 replicas in ranker", "scale", "ranker", {"direction": "up", "step": 2}),
        ("svc-07 needs a couple of extra instances", "scale", "svc-07", {"step": 2}),
        ("scale ranker to one", "scale", "ranker", {"replicas": 1, "step": None}),
        ("restart two fraud-detector pods", "restart", "fraud-detector", {"pods": 2}),
        ("restart a pod of ranker", "restart", "ranker", {"pods": 1}),
        ("restart ranker", "restart", "ranker", {"pods": None}),
        ("restart 2 pods of ranker", "restart", "ranker", {"pods": 2}),
        ("how is fraud-detector doing?", "diagnose", "fraud-detector", {}),
        ("what is wrong with the cluster?", "diagnose", None, {}),
        ("status", "diagnose", None, {}),
        ("don't restart ranker", "unknown", "ranker", {}),
        ("make me a sandwich", "unknown", None, {}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_phrasings(text: str, kind: str, service: str | None, fields: dict[str, object]) -> None:
    got = parse_intent(text, SERVICES)
    assert got.kind == kind
    assert (got.target.service if got.target else None) == service
    for name, value in fields.items():
        assert getattr(got, name) == value


def test_longest_service_name_wins_and_names_are_not_numbers() -> None:
    assert match_service("how is ranker-v2-shadow", SERVICES) == SERVICES[4]
    assert parse_intent("scale svc-07 up", SERVICES).replicas is None


def test_unknown_says_what_it_can_do() -> None:
    got = parse_intent("make me a sandwich", SERVICES)
    assert got.explanation == UNKNOWN_HELP
    assert "scale ranker to 6" in got.explanation


@pytest.mark.parametrize(
    ("text", "verb"),
    [("roll back foo", "roll back"), ("restart bar", "restart"), ("scale baz to 3", "scale")],
)
def test_an_unknown_service_is_answered_with_the_known_ones(text: str, verb: str) -> None:
    got = parse_intent(text, SERVICES)
    assert got.kind == "unknown"
    assert got.explanation.startswith(f"{verb} which service? I know of: fraud-detector, ranker")
