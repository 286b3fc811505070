"""Each built-in guard, configured from a GuardSettings document, on its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quarterdeck.core.models import Decision, Evidence
from quarterdeck.policies import AppliedAction, ClusterState, Revision

from .conftest import context, proposal, service

SCALE_6 = {"kind": "scale", "replicas": 6}


def settings(spec: str) -> str:
    body = "\n".join("  " + line for line in spec.strip().splitlines())
    return f"kind: GuardSettings\nmetadata: {{name: s}}\nspec:\n{body}\n"


def ids(verdict) -> list[str]:
    return [m.rule_id for m in verdict.matches]


# --- cooldown and rate limit: history across calls ------------------------------------------


def test_cooldown_counts_what_was_recorded_across_calls(guard_for):
    guard = guard_for(settings("cooldown: {period: 60s}"))
    first = proposal(SCALE_6)
    v1 = guard.evaluate(first, context(1000))
    assert v1.decision is Decision.ALLOW
    guard.record(first, v1, applied_at=1000)

    v2 = guard.evaluate(proposal(SCALE_6), context(1059))
    assert v2.decision is Decision.DENY
    assert ids(v2) == ["cooldown"]
    assert v2.matches[0].inputs["last_proposal_id"] == first.id

    assert guard.evaluate(proposal(SCALE_6), context(1060)).decision is Decision.ALLOW
    # Per kind: a rollback is not held back by the scale's cooldown.
    rollback = proposal({"kind": "rollback", "to_version": "v1"})
    assert guard.evaluate(rollback, context(1010)).decision is Decision.ALLOW


def test_cooldown_across_kinds_when_not_per_kind(guard_for):
    guard = guard_for(settings("cooldown: {period: 60s, perKind: false}"))
    p = proposal(SCALE_6)
    guard.record(p, guard.evaluate(p, context(1000)), applied_at=1000)
    rollback = proposal({"kind": "rollback", "to_version": "v1"})
    assert guard.evaluate(rollback, context(1010)).decision is Decision.DENY


def test_cooldown_reads_history_from_the_context_too(guard_for):
    guard = guard_for(settings("cooldown: {period: 60s, effect: require_approval}"))
    hist = (AppliedAction(namespace="ml", service="api", kind="scale", at=990, proposal_id="x"),)
    v = guard.evaluate(proposal(SCALE_6), context(1000, history=hist))
    assert v.decision is Decision.REQUIRE_APPROVAL
    # Another service's history does not count.
    other = (AppliedAction(namespace="ml", service="other", kind="scale", at=990),)
    assert guard.evaluate(proposal(SCALE_6), context(1000, history=other)).allowed


def test_fork_does_not_touch_the_original(guard_for):
    guard = guard_for(settings("cooldown: {period: 60s}"))
    what_if = guard.fork()
    p = proposal(SCALE_6)
    what_if.record(p, what_if.evaluate(p, context(1000)), applied_at=1000)
    assert what_if.evaluate(proposal(SCALE_6), context(1010)).decision is Decision.DENY
    assert guard.evaluate(proposal(SCALE_6), context(1010)).decision is Decision.ALLOW
    assert guard.history == ()
    assert len(what_if.history) == 1


def test_rate_limit_counts_every_kind_within_the_window(guard_for):
    guard = guard_for(settings("rateLimit: {maxActions: 3, window: 10m}"))
    for i, (kind, action) in enumerate(
        [
            ("scale", SCALE_6),
            ("route", {"kind": "route", "weights": {"v2": 100}}),
            ("restart", {"kind": "restart"}),
        ]
    ):
        p = proposal(action)
        v = guard.evaluate(p, context(100 * i))
        assert v.allowed, v.message
        guard.record(p, v, applied_at=100 * i)
        assert guard.history[-1].kind == kind
    v = guard.evaluate(proposal(SCALE_6), context(500))
    assert v.decision is Decision.DENY
    assert v.matches[0].inputs["count"] == 3
    # At t=601 the first (t=0) has left the 600 s window.
    assert guard.evaluate(proposal(SCALE_6), context(601)).allowed


def test_a_denied_verdict_cannot_be_recorded(guard_for):
    guard = guard_for(settings("protectedNamespaces: {namespaces: [ml]}"))
    p = proposal(SCALE_6)
    v = guard.evaluate(p, context())
    assert v.decision is Decision.DENY
    with pytest.raises(ValueError, match="denied"):
        guard.record(p, v, applied_at=1000)


# --- change freeze ----------------------------------------------------------------------------

EVENINGS = settings("""
freeze:
  windows:
    - name: evenings
      timezone: Europe/Paris
      days: [mon, tue, wed, thu, fri]
      start: "17:00"
      end: "09:00"
""")
NEW_YEAR = settings("""
freeze:
  windows:
    - name: new-year
      timezone: America/New_York
      from: 2026-12-31T18:00:00
      until: 2027-01-01T12:00:00
""")


@pytest.mark.parametrize(
    ("policy", "instant", "frozen"),
    [
        # Tuesday 2026-11-24; Paris is UTC+1 in winter.
        (EVENINGS, "2026-11-24T15:59:00+00:00", False),  # 16:59 in Paris
        (EVENINGS, "2026-11-24T16:00:00+00:00", True),  # 17:00 in Paris
        (EVENINGS, "2026-11-25T07:59:00+00:00", True),  # Wed 08:59: wraps past midnight
        (EVENINGS, "2026-11-25T08:00:00+00:00", False),  # Wed 09:00: open
        (EVENINGS, "2026-11-28T07:00:00+00:00", True),  # Sat 08:00: Friday's window runs on
        (EVENINGS, "2026-11-28T20:00:00+00:00", False),  # Sat 21:00: none starts on Saturday
        # Summer (UTC+2): the window still starts at 17:00 Paris time, 15:00 UTC.
        (EVENINGS, "2026-07-14T15:30:00+00:00", True),
        (EVENINGS, "2026-07-14T14:30:00+00:00", False),
        # One-off in New York local time (UTC-5): 18:00 on Dec 31 to noon on Jan 1.
        (NEW_YEAR, "2026-12-31T22:59:00+00:00", False),  # 17:59 in New York
        (NEW_YEAR, "2026-12-31T23:00:00+00:00", True),  # 18:00 in New York
        (NEW_YEAR, "2027-01-01T16:59:00+00:00", True),  # 11:59 in New York
        (NEW_YEAR, "2027-01-01T17:00:00+00:00", False),  # noon in New York
        (NEW_YEAR, "2027-01-02T02:00:00+09:00", False),  # the same instant in Tokyo
        (NEW_YEAR, "2027-01-01T11:00:00+09:00", True),  # 21:00 on Dec 31 in New York
    ],
)
def test_freeze_windows_read_wall_clock_in_their_timezone(guard_for, policy, instant, frozen):
    wall = datetime.fromisoformat(instant)
    v = guard_for(policy).evaluate(proposal(SCALE_6), context(1000, wall_time=wall))
    assert (v.decision is Decision.DENY) is frozen, v.message
    assert ids(v) == (["change-freeze"] if frozen else [])


def test_freeze_without_wall_time_reads_now_as_unix_utc(guard_for):
    guard = guard_for(EVENINGS)
    t = datetime(2026, 11, 24, 16, 30, tzinfo=UTC).timestamp()  # Tue 17:30 in Paris
    assert guard.evaluate(proposal(SCALE_6), context(t)).decision is Decision.DENY


def test_freeze_can_exempt_rollbacks_by_match(guard_for):
    text = settings("""
freeze:
  effect: require_approval
  match: {kinds: [scale, route, restart]}
  windows: [{name: always, timezone: UTC, start: "00:00", end: "00:00"}]
""")
    guard = guard_for(text)
    ctx = context(1000)
    assert guard.evaluate(proposal(SCALE_6), ctx).decision is Decision.REQUIRE_APPROVAL
    assert guard.evaluate(proposal({"kind": "rollback", "to_version": "v1"}), ctx).allowed


def test_unknown_timezone_is_refused_at_load(write_policies):
    from quarterdeck.policies import PolicyLoadError, load_policies

    bad = settings('freeze: {windows: [{name: w, timezone: Mars/Olympus, start: "1:00"}]}')
    with pytest.raises(PolicyLoadError) as err:
        load_policies(write_policies(f=bad))
    assert "Mars/Olympus" in str(err.value)


# --- blast radius -----------------------------------------------------------------------------

BLAST = settings("""
blastRadius:
  scaleStep: {upAbsolute: 4, upPercent: 100, downPercent: 50}
  canaryStep: {maxPoints: 25}
  restartShare: {maxPercent: 50}
""")


@pytest.mark.parametrize(
    ("current", "requested", "applied"),
    [
        (4, 8, 8),  # +4 = +100 %: fine
        (4, 30, 8),  # clamped to +max(4, 100 %)
        (10, 30, 20),  # +100 % beats +4
        (1, 9, 5),  # +4 beats +100 %
        (0, 3, 3),  # from zero: +4
        (10, 2, 5),  # at most -50 %
        (3, 1, 2),  # -50 % of 3 rounds down to 1 pod
        (1, 0, 0),  # at least one pod may go
    ],
)
def test_scale_step_clamps(guard_for, current, requested, applied):
    guard = guard_for(BLAST)
    ctx = context(1000, service(replicas=current))
    v = guard.evaluate(proposal({"kind": "scale", "replicas": requested}), ctx)
    assert v.decision is Decision.ALLOW
    assert v.action.replicas == applied
    assert v.clamped is (applied != requested)
    if v.clamped:
        assert ids(v) == ["scale-step"]
        assert v.matches[0].inputs["current"] == current
        assert v.matches[0].inputs["requested"] == requested


def test_scale_step_can_require_approval_instead(guard_for):
    guard = guard_for(
        settings(
            "blastRadius: {scaleStep: {upAbsolute: 2, upPercent: 0, effect: require_approval}}"
        )
    )
    v = guard.evaluate(proposal({"kind": "scale", "replicas": 9}), context())
    assert v.decision is Decision.REQUIRE_APPROVAL
    assert v.action.replicas == 9  # not clamped


@pytest.mark.parametrize(
    ("current", "requested", "decision"),
    [
        ({"v2": 80, "v3": 20}, {"v2": 60, "v3": 40}, Decision.ALLOW),
        ({"v2": 80, "v3": 20}, {"v2": 50, "v3": 50}, Decision.REQUIRE_APPROVAL),
        ({"v2": 50, "v3": 50}, {"v2": 100}, Decision.ALLOW),  # back onto the healthy stable
        ({"v1": 50, "v3": 50}, {"v3": 100}, Decision.REQUIRE_APPROVAL),  # onto the unproven one
        ({}, {"v2": 70, "v3": 30}, Decision.REQUIRE_APPROVAL),  # {} = 100 % on current (v2)
    ],
)
def test_canary_weight_step(guard_for, current, requested, decision):
    guard = guard_for(BLAST)
    svc = service(
        route_weights=current,
        revisions=(
            Revision(number=1, version="v1", healthy=True),
            Revision(number=2, version="v2", healthy=True),
            Revision(number=3, version="v3"),
        ),
    )
    v = guard.evaluate(proposal({"kind": "route", "weights": requested}), context(1000, svc))
    assert v.decision is decision, v.message


@pytest.mark.parametrize(
    ("pods", "decision"),
    [(2, Decision.ALLOW), (3, Decision.REQUIRE_APPROVAL), (None, Decision.ALLOW)],
)
def test_restart_share(guard_for, pods, decision):
    v = guard_for(BLAST).evaluate(proposal({"kind": "restart", "pods": pods}), context())
    assert v.decision is decision


# --- budgets ----------------------------------------------------------------------------------

BUDGETS = settings("""
budgets:
  replicas: {max: 10}
  gpus: {max: 6, effect: clamp}
""")


def test_replica_budget_clamps(guard_for):
    v = guard_for(BUDGETS).evaluate(proposal({"kind": "scale", "replicas": 15}), context())
    assert (v.decision, v.action.replicas, ids(v)) == (Decision.ALLOW, 10, ["replica-budget"])


@pytest.mark.parametrize(
    ("in_use", "capacity", "requested", "expected"),
    [
        (2, 8, 4, (Decision.ALLOW, 4)),  # 2 + 2×1 = 4 ≤ 6
        (4, 8, 6, (Decision.ALLOW, 4)),  # needs 8 > policy max 6: clamped to 2 + 2 = 4 replicas
        (2, 3, 6, (Decision.ALLOW, 3)),  # capacity 3 is below the policy max: 1 more pod fits
        (6, 8, 3, (Decision.DENY, 3)),  # nothing fits
        (6, 8, 1, (Decision.ALLOW, 1)),  # scaling down is always fine
    ],
)
def test_gpu_budget(guard_for, in_use, capacity, requested, expected):
    ctx = context(
        1000,
        service(replicas=2, gpu_per_pod=1),
        cluster=ClusterState(gpu_capacity=capacity, gpus_in_use=in_use),
    )
    v = guard_for(BUDGETS).evaluate(proposal({"kind": "scale", "replicas": requested}), ctx)
    assert (v.decision, v.action.replicas) == expected, v.message


def test_gpu_budget_fails_closed_without_capacity(guard_for):
    guard = guard_for(settings("budgets: {gpus: {}}"))
    ctx = context(1000, service(gpu_per_pod=2), cluster=ClusterState())
    v = guard.evaluate(proposal(SCALE_6), ctx)
    assert v.decision is Decision.DENY
    assert "capacity unknown" in v.message


# --- protected namespaces, healthy revisions, stale evidence ---------------------------------


def test_protected_namespace_by_name_pattern_and_label(guard_for):
    guard = guard_for(
        settings("protectedNamespaces: {namespaces: ['kube-*'], namespaceLabels: {tier: core}}")
    )
    kube = context(1000, service(namespace="kube-system"))
    assert (
        guard.evaluate(proposal(SCALE_6, namespace="kube-system"), kube).decision is Decision.DENY
    )
    core = context(1000, service(namespace_labels={"tier": "core"}))
    v = guard.evaluate(proposal(SCALE_6), core)
    assert v.decision is Decision.DENY
    assert ids(v) == ["protected-namespace"]
    assert guard.evaluate(proposal(SCALE_6), context()).allowed


@pytest.mark.parametrize(
    ("action", "decision"),
    [
        ({"kind": "rollback", "to_version": "v1"}, Decision.ALLOW),
        ({"kind": "rollback", "to_revision": 1}, Decision.ALLOW),
        ({"kind": "rollback"}, Decision.ALLOW),  # the previous revision, v1, is healthy
        ({"kind": "rollback", "to_revision": 2}, Decision.ALLOW),  # the current one: a no-op
        ({"kind": "rollback", "to_revision": 3}, Decision.DENY),  # newer, unproven
        ({"kind": "rollback", "to_version": "v7"}, Decision.DENY),  # unknown
        ({"kind": "rollback", "to_revision": 1, "to_version": "v2"}, Decision.DENY),  # mismatch
    ],
)
def test_rollback_only_to_a_healthy_revision(guard_for, action, decision):
    guard = guard_for(settings("healthyRevision: {}"))
    canary = Revision(number=3, version="v3")  # newer than the current revision 2, unproven
    svc = service(revisions=(*service().revisions, canary))
    v = guard.evaluate(proposal(action), context(1000, svc))
    assert v.decision is decision, v.message


def test_rollback_without_service_state_is_denied(guard_for):
    guard = guard_for(settings("healthyRevision: {}"))
    v = guard.evaluate(proposal({"kind": "rollback"}, name="nobody"), context())
    assert v.decision is Decision.DENY


@pytest.mark.parametrize(
    ("observed_at", "value", "expected_ids"),
    [
        (990.0, 1.0, []),
        (870.0, 1.0, ["stale-evidence"]),  # 130 s old
        (1130.0, 1.0, ["stale-evidence"]),  # from the future: a clock mix-up
        (995.0, None, ["stale-evidence/no-value"]),
    ],
)
def test_stale_evidence(guard_for, observed_at, value, expected_ids):
    guard = guard_for(settings("staleEvidence: {maxAge: 120s, onMissingValue: require_approval}"))
    ev = (Evidence(signal="p95_latency_ms", value=value, observed_at=observed_at),)
    v = guard.evaluate(proposal(SCALE_6, evidence=ev), context(1000))
    assert ids(v) == expected_ids
    expected = {
        (): Decision.ALLOW,
        ("stale-evidence",): Decision.DENY,
        ("stale-evidence/no-value",): Decision.REQUIRE_APPROVAL,
    }[tuple(expected_ids)]
    assert v.decision is expected


def test_stale_evidence_can_require_evidence(guard_for):
    guard = guard_for(
        settings(
            "staleEvidence: {maxAge: 60s, requireEvidence: true, onMissingValue: require_approval}"
        )
    )
    assert guard.evaluate(proposal(SCALE_6), context()).decision is Decision.REQUIRE_APPROVAL


def test_guards_without_service_state_fail_closed(guard_for):
    guard = guard_for(BLAST)
    v = guard.evaluate(proposal(SCALE_6, name="ghost"), context())
    assert v.decision is Decision.DENY
    assert "no state" in v.message


@pytest.mark.parametrize(
    ("current", "requested", "expected"),
    [
        ({"v2": 80, "v3": 20}, {"v2": 0, "v3": 100}, {"v2": 55, "v3": 45}),
        ({"v2": 80, "v3": 20}, {"v2": 70, "v3": 30}, {"v2": 70, "v3": 30}),  # within the step
        ({"v1": 50, "v2": 30, "v3": 20}, {"v3": 100}, {"v1": 34, "v2": 21, "v3": 45}),
    ],
)
def test_canary_step_can_clamp_every_weight_part_of_the_way(
    guard_for, current, requested, expected
):
    text = settings("blastRadius: {canaryStep: {maxPoints: 25, effect: clamp}}")
    svc = service(route_weights=current)
    v = guard_for(text).evaluate(
        proposal({"kind": "route", "weights": requested}), context(1000, svc)
    )
    assert v.decision is Decision.ALLOW
    assert {k: w for k, w in v.action.weights.items() if w or k in expected} == expected
    moved = [abs(v.action.weights.get(k, 0) - current.get(k, 0)) for k in expected]
    assert max(moved) <= 25
    assert v.clamped is (expected != requested)


def test_a_rule_that_breaks_denies_instead_of_raising(guard_for, monkeypatch):
    from quarterdeck.policies.guards.pacing import CooldownRule

    def broken(self, ev):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(CooldownRule, "evaluate", broken)
    v = guard_for(settings("cooldown: {period: 60s}")).evaluate(proposal(SCALE_6), context())
    assert v.decision is Decision.DENY
    assert ids(v) == ["cooldown"]
    assert "ZeroDivisionError: boom" in v.message
