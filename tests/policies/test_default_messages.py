"""The shipped policies' messageExpressions give their own message when their rules fire, never
the fallback with "messageExpression failed" (which is how a missing CEL overload used to show)."""

from __future__ import annotations

from typing import Any

import pytest

from quarterdeck.policies import Revision

from .conftest import context, proposal, service

PROD_CHECKOUT = service(
    "checkout",
    "shop",
    namespace_labels={"env": "prod"},
    current_version="v1",
    current_revision=1,
    revisions=(Revision(number=1, version="v1", healthy=True), Revision(number=2, version="v2")),
    route_weights={"v1": 60, "v2": 40},
)


@pytest.mark.parametrize(
    ("rule", "action", "kw", "svc", "says"),
    [
        pytest.param(
            "scale-to-zero",
            {"kind": "scale", "replicas": 0},
            {},
            service(replicas=1, min_replicas=0),  # a step the blast radius allows
            "scaling ml/api to zero replicas",
            id="scale-to-zero",
        ),
        pytest.param(
            "prod-unproven-majority",
            {"kind": "route", "weights": {"v1": 45, "v2": 55}},
            {"name": "checkout", "namespace": "shop"},
            PROD_CHECKOUT,
            "on prod, 55 % of traffic to v2, a version never observed healthy",
            id="prod-unproven-majority",
        ),
        pytest.param(
            "agent-replica-touch",
            {"kind": "restart", "pods": 12},
            {"requested_by": "agent"},
            service(replicas=20),
            "agent restart of 12 pods at once",
            id="agent-replica-touch",
        ),
    ],
)
def test_the_message_is_the_rules_own(  # noqa: PLR0917 - one parameter per column of the table
    default_guard, rule: str, action: dict[str, Any], kw: dict[str, Any], svc, says: str
) -> None:
    verdict = default_guard.evaluate(proposal(action, **kw), context(1000.0, svc))
    match = next((m for m in verdict.matches if m.rule_id == rule), None)
    assert match is not None, verdict.matches
    assert says in match.message
    assert "messageExpression failed" not in match.message
