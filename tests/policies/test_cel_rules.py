"""CEL policies: validations, clamps, match conditions, messages, combination, failing closed."""

from __future__ import annotations

import pytest

from quarterdeck.core.models import Decision

from .conftest import context, proposal, service

SCALE = {"kind": "scale", "replicas": 6}


def ids(verdict) -> list[str]:
    return [m.rule_id for m in verdict.matches]


THREE_EFFECTS = """
kind: GuardPolicy
metadata: {name: effects}
spec:
  match: {kinds: [scale]}
  validations:
    - {id: note, expression: "proposal.params.replicas < 5", effect: allow, message: noted}
    - {id: ask, expression: "proposal.params.replicas < 10", effect: require_approval}
    - {id: refuse, expression: "proposal.params.replicas < 15", effect: deny}
"""


@pytest.mark.parametrize(
    ("replicas", "decision", "fired"),
    [
        (3, Decision.ALLOW, []),
        (6, Decision.ALLOW, ["note"]),
        (12, Decision.REQUIRE_APPROVAL, ["note", "ask"]),
        (16, Decision.DENY, ["note", "ask", "refuse"]),
    ],
)
def test_deny_beats_approval_beats_allow(guard_for, replicas, decision, fired):
    v = guard_for(THREE_EFFECTS).evaluate(
        proposal({"kind": "scale", "replicas": replicas}), context()
    )
    assert v.decision is decision
    assert ids(v) == fired  # every rule that fired is listed, whatever decided
    assert {m.effect for m in v.matches} <= {"allow", "require_approval", "deny"}
    if fired:
        assert v.message.startswith(decision.value)


CLAMPS = """
kind: GuardPolicy
metadata: {name: clamps}
spec:
  match: {kinds: [scale]}
  clamps:
    - {id: at-most-ten, param: replicas, max: "10"}
    - id: within-service
      param: replicas
      min: "service.min_replicas"
      max: "service.max_replicas"
  validations:
    - id: sees-clamped
      expression: "proposal.params.replicas <= 8"
      effect: require_approval
      messageExpression: >-
        'asked ' + string(proposal.requested.replicas)
        + ', now ' + string(proposal.params.replicas)
"""


def test_clamps_apply_in_order_are_reported_and_later_rules_see_the_result(guard_for):
    ctx = context(1000, service(max_replicas=9))
    v = guard_for(CLAMPS).evaluate(proposal({"kind": "scale", "replicas": 50}), ctx)
    assert v.action.replicas == 9
    assert v.clamped
    assert ids(v) == ["at-most-ten", "within-service", "sees-clamped"]
    first, second, check = v.matches
    assert (first.effect, first.inputs["replicas"], first.inputs["max"]) == ("clamp", 50, 10)
    assert (second.inputs["replicas"], second.inputs["service.max_replicas"]) == (10, 9)
    assert "10 → 9" in second.message
    assert check.message == "asked 50, now 9"
    assert v.decision is Decision.REQUIRE_APPROVAL


def test_clamp_with_unknown_bound_applies_the_other(guard_for):
    ctx = context(1000, service(min_replicas=None, max_replicas=5))
    v = guard_for(CLAMPS).evaluate(proposal({"kind": "scale", "replicas": 0}), ctx)
    assert v.action.replicas == 0
    assert not v.clamped


def test_clamp_skips_actions_without_the_parameter(guard_for):
    text = """
kind: GuardPolicy
metadata: {name: pods}
spec:
  clamps: [{id: few-pods, param: pods, max: "2"}]
"""
    guard = guard_for(text)
    assert guard.evaluate(proposal({"kind": "restart", "pods": 5}), context()).action.pods == 2
    v = guard.evaluate(proposal({"kind": "restart"}), context())  # rolling: pods unset
    assert v.allowed
    assert not v.matches


def test_runtime_error_fails_closed_with_the_reason(guard_for):
    text = """
kind: GuardPolicy
metadata: {name: fragile}
spec:
  validations:
    - {id: needs-label, expression: "service.labels['team'] == 'ml'", effect: allow}
"""
    v = guard_for(text).evaluate(proposal(SCALE), context())
    assert v.decision is Decision.DENY
    (m,) = v.matches
    assert m.rule_id == "needs-label"
    assert m.effect == "deny"
    assert "fail closed" in m.message
    assert "team" in m.message
    assert m.inputs["expression"] == "service.labels['team'] == 'ml'"


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("service.max_replicas > 3", "no such overload"),  # null in arithmetic: state unknown
        ("proposal.params.replicas / 0 > 1", "division by zero"),
        ("proposal.params.replicas", "expected a bool"),
    ],
)
def test_runtime_errors_of_every_kind_deny(guard_for, expression, reason):
    text = f"""
kind: GuardPolicy
metadata: {{name: fragile}}
spec:
  validations: [{{id: rule, expression: "{expression}"}}]
"""
    ctx = context(1000, service(max_replicas=None))
    v = guard_for(text).evaluate(proposal(SCALE), ctx)
    assert v.decision is Decision.DENY
    assert reason in v.message.lower()


def test_clamp_bound_of_the_wrong_type_fails_closed(guard_for):
    text = """
kind: GuardPolicy
metadata: {name: c}
spec:
  clamps: [{id: weird, param: replicas, max: "'ten'"}]
"""
    v = guard_for(text).evaluate(proposal(SCALE), context())
    assert v.decision is Decision.DENY
    assert "int or null" in v.message


def test_match_conditions_gate_the_policy_and_fail_closed(guard_for):
    text = """
kind: GuardPolicy
metadata: {name: agents}
spec:
  matchConditions:
    - {name: from-agent, expression: "proposal.requested_by.startsWith('agent:')"}
    - {name: big, expression: "proposal.params.replicas > service.replicas + 1"}
  validations:
    - {id: a, expression: "false", effect: require_approval, message: agent scaled a lot}
    - {id: b, expression: "false", effect: allow, message: noted}
"""
    guard = guard_for(text)
    human = guard.evaluate(proposal(SCALE, requested_by="alice"), context())
    assert human.allowed
    assert not human.matches
    agent = guard.evaluate(proposal(SCALE, requested_by="agent:planner"), context())
    assert (agent.decision, ids(agent)) == (Decision.REQUIRE_APPROVAL, ["a", "b"])
    # The second condition errors without service state: one deny for the policy, not two.
    broken = guard.evaluate(proposal(SCALE, requested_by="agent:x", name="ghost"), context())
    assert broken.decision is Decision.DENY
    assert ids(broken) == ["agents/big"]


def test_match_selects_kinds_namespaces_services_labels_and_requesters(guard_for):
    text = """
kind: GuardPolicy
metadata: {name: m}
spec:
  match:
    kinds: [scale]
    namespaces: ["ml-*"]
    excludeNamespaces: [ml-sandbox]
    services: [api, "ml-prod/ranker"]
    namespaceLabels: {env: prod}
    requestedBy: ["agent:*"]
  validations: [{id: hit, expression: "false", message: matched}]
"""
    guard = guard_for(text)

    def hit(ns: str, name: str, labels: dict, kind: dict = SCALE, who: str = "agent:p") -> bool:
        ctx = context(1000, service(name=name, namespace=ns, namespace_labels=labels))
        v = guard.evaluate(proposal(kind, name=name, namespace=ns, requested_by=who), ctx)
        return ids(v) == ["hit"]

    prod = {"env": "prod"}
    assert hit("ml-prod", "api", prod)
    assert hit("ml-prod", "ranker", prod)
    assert not hit("ml-test", "ranker", prod)  # ranker only in ml-prod
    assert not hit("ml-sandbox", "api", prod)  # excluded
    assert not hit("web", "api", prod)  # namespace pattern
    assert not hit("ml-prod", "api", {"env": "dev"})  # labels
    assert not hit("ml-prod", "api", prod, {"kind": "restart"})  # kind
    assert not hit("ml-prod", "api", prod, who="alice")  # requester


def test_message_expression_falls_back_to_message_when_it_fails(guard_for):
    text = """
kind: GuardPolicy
metadata: {name: msg}
spec:
  validations:
    - id: r
      expression: "false"
      message: plain words
      messageExpression: "'x' + service.labels['missing']"
"""
    (m,) = guard_for(text).evaluate(proposal(SCALE), context()).matches
    assert m.message.startswith("plain words")
    assert "messageExpression failed" in m.message


def test_variables_are_documented_shapes(guard_for):
    # One expression per variable, so a change in their shape breaks here first.
    text = """
kind: GuardPolicy
metadata: {name: shapes}
spec:
  validations:
    - id: proposal
      expression: >-
        proposal.kind == 'scale' && proposal.namespace == 'ml'
        && proposal.evidence[0].age_s == 10.0
    - id: service
      expression: >-
        service.known && service.healthy_versions == ['v1'] && service.versions == ['v1', 'v2']
        && service.route_weights == {'v2': 100}
    - {id: cluster, expression: "cluster.gpus_free == 8"}
    - id: now
      expression: "now.seconds == 1000.0 && now.weekday == 'thu' && now.timezone == 'UTC'"
    - id: history
      expression: "size(history.actions) == 1 && history.last_age_s['route'] == 100.0"
    - id: stdlib
      expression: "math.greatest(proposal.params.replicas, 1) == 6 && max([1, 2]) == 2"
"""
    from quarterdeck.core.models import Evidence
    from quarterdeck.policies import AppliedAction

    hist = (AppliedAction(namespace="ml", service="api", kind="route", at=900),)
    ev = (Evidence(signal="s", value=1.0, observed_at=990),)
    v = guard_for(text).evaluate(proposal(SCALE, evidence=ev), context(1000, history=hist))
    assert v.matches == (), v.message


def test_evaluate_is_deterministic(default_guard):
    p = proposal({"kind": "scale", "replicas": 40})
    ctx = context()
    assert default_guard.evaluate(p, ctx) == default_guard.evaluate(p, ctx)


@pytest.mark.parametrize(
    "expression",
    [
        "service['replicas'] == 4",  # index access: the whole value is handed over
        "size(proposal) > 5 && proposal.params.replicas == 6",
        "proposal.service == 'api'",  # a field named like a variable is not the variable
        "'service' + ' ' + string(service.max_replicas) == 'service 20'",
        "has(service.labels) && !has(service.nonexistent)",
        "proposal.evidence.all(e, e.age_s < 60.0)",
    ],
)
def test_expressions_see_every_field_they_read(guard_for, expression):
    # CEL is handed only the fields the policy set reads; whatever the expression's shape,
    # it must still find them (a missing one would fail closed and deny).
    text = f"""
kind: GuardPolicy
metadata: {{name: reads}}
spec:
  validations: [{{id: reads, expression: "{expression}", message: it was false}}]
"""
    v = guard_for(text).evaluate(proposal(SCALE), context())
    assert v.matches == (), v.message


def test_fields_handed_to_cel_are_only_those_read(write_policies):
    from quarterdeck.policies import load_policies

    text = """
kind: GuardPolicy
metadata: {name: f}
spec:
  validations:
    - {id: a, expression: "proposal.kind == 'scale' && 'history' != 'now'"}
    - {id: b, expression: "service.replicas > 0", messageExpression: "proposal.service"}
"""
    ps = load_policies(write_policies(f=text))
    assert ps.fields == {
        "proposal": frozenset({"kind", "service"}),
        "service": frozenset({"replicas"}),
    }
