"""Replace and canary deploys, rollback, routing, restarts, scale-down, and refused actions."""

from __future__ import annotations

import pytest

from quarterdeck.core.models import (
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)
from quarterdeck.sim.errors import InvalidAction, NotFound
from tests.sim.conftest import sim

API = Target(namespace="ml", service="api")
V3 = {"name": "v3", "latency_factor": 0.5}


def _deploy(version: str, at: str = "1m", **kv):
    return {"at": at, "type": "deploy", "service": "api", "version": version, **kv}


def test_replace_deploy_rolls_one_surge_pod_at_a_time():
    s = sim(svc={"replicas": 3}, events=[_deploy("v2")])
    s.advance(60)
    seen_total = set()
    while s.service("ml", "api").rolling_out or s.now == 60:
        pods = s.pods()
        seen_total.add(len(pods))
        assert len(pods) <= 4  # maxSurge 1
        assert sum(p.phase != "Ready" for p in pods) <= 1  # one new pod starting at a time
        assert sum(p.phase == "Ready" for p in pods) >= 3  # maxUnavailable 0
        s.step()
    assert seen_total == {4}
    assert s.now == 60 + 3 * 30  # three pods, each taking its 30 s startup in turn
    assert {p.version for p in s.pods()} == {"v2"}
    revs = s.revisions("ml", "api")
    assert [(r.number, r.version, r.current) for r in revs] == [(1, "v1", False), (2, "v2", True)]
    assert any(e.reason == "RolloutComplete" for e in s.events())


def test_rollback_restores_the_version_as_a_new_revision():
    s = sim(events=[_deploy("v2")])
    s.advance(600)
    assert s.window("ml", "api", 60).error_ratio == pytest.approx(0.2)
    out = s.apply(API, RollbackAction(to_version="v1"))
    assert out.revision == 3
    s.advance(120)
    view = s.service("ml", "api")
    assert (view.version, view.revision, view.rolling_out) == ("v1", 3, False)
    assert {p.version for p in s.pods()} == {"v1"}
    assert [(r.number, r.version) for r in s.revisions("ml", "api")] == [(2, "v2"), (3, "v1")]
    assert s.window("ml", "api", 60).error_ratio == 0.0
    # `rollout undo` without a target goes to the previous revision: v2 again, as revision 4
    s.apply(API, RollbackAction())
    assert s.service("ml", "api").version == "v2"
    assert s.service("ml", "api").revision == 4


def test_rollback_by_revision_number():
    s = sim(events=[_deploy("v2")])
    s.advance(300)
    s.apply(API, RollbackAction(to_revision=1))
    assert s.service("ml", "api").version == "v1"


def test_canary_gets_its_weight_once_ready():
    s = sim(svc={"replicas": 4}, events=[_deploy("v2", canary_weight=25)])
    s.advance(61)
    view = s.service("ml", "api")
    assert (view.canary_version, view.canary_replicas) == ("v2", 1)  # ceil(4 × 25 / 100)
    assert view.route_weights == {"v1": 100, "v2": 0}  # not ready yet: no traffic
    assert s.sample("ml", "api").offered_rps > 0
    assert s.window("ml", "api", 1, version="v2").request_rate == 0.0
    s.advance(120)
    assert s.service("ml", "api").route_weights == {"v1": 75, "v2": 25}
    s.advance(60)
    total = s.window("ml", "api", 60).request_rate
    canary = s.window("ml", "api", 60, version="v2")
    assert canary.request_rate / total == pytest.approx(0.25, rel=1e-9)
    assert canary.error_ratio == pytest.approx(0.2)  # the version's own errors
    assert s.window("ml", "api", 60, version="v1").error_ratio == 0.0
    assert sum(p.role == "canary" for p in s.pods()) == 1
    assert [r.canary for r in s.revisions("ml", "api")] == [False, True]


def test_route_action_moves_canary_traffic_and_rollback_aborts_it():
    s = sim(svc={"replicas": 4}, events=[_deploy("v2", canary_weight=10)])
    s.advance(300)
    s.apply(API, RouteAction(weights={"v1": 50, "v2": 50}))
    s.advance(60)
    share = (
        s.window("ml", "api", 60, version="v2").request_rate
        / s.window("ml", "api", 60).request_rate
    )
    assert share == pytest.approx(0.5)
    s.apply(API, RollbackAction())  # aborts the canary, v1 keeps everything
    view = s.service("ml", "api")
    assert view.canary_version is None
    assert view.route_weights == {"v1": 100}
    assert {p.version for p in s.pods()} == {"v1"}


def test_promoting_a_canary_by_rolling_to_its_version():
    s = sim(
        svc={"replicas": 2, "versions": [{"name": "v1"}, V3]},
        events=[_deploy("v3", canary_weight=20)],
    )
    s.advance(300)
    s.apply(API, RollbackAction(to_version="v3"))
    s.advance(300)
    view = s.service("ml", "api")
    assert (view.version, view.canary_version, view.rolling_out) == ("v3", None, False)
    assert [r.version for r in s.revisions("ml", "api")] == ["v1", "v3"]


def test_scale_down_removes_not_ready_pods_first():
    s = sim()
    original = {p.name for p in s.pods()}
    s.advance(60)
    s.apply(API, ScaleAction(replicas=4))
    s.advance(10)
    s.apply(API, ScaleAction(replicas=3))
    s.apply(API, ScaleAction(replicas=2))
    assert {p.name for p in s.pods()} == original


def test_restart_all_is_rolling_and_restart_n_recreates_n():
    s = sim(svc={"replicas": 3})
    before = {p.name for p in s.pods()}
    s.apply(API, RestartAction(pods=1))
    assert len(before - {p.name for p in s.pods()}) == 1
    s.advance(60)
    s.apply(API, RestartAction())
    assert s.service("ml", "api").revision == 2
    assert s.service("ml", "api").rolling_out
    s.advance(300)
    assert not before & {p.name for p in s.pods()}
    assert s.service("ml", "api").ready_replicas == 3


def test_scale_is_not_bounded_by_min_max():
    s = sim()
    s.apply(API, ScaleAction(replicas=30))  # above max_replicas 20: the guard's job, not ours
    assert s.service("ml", "api").spec_replicas == 30
    s.apply(API, ScaleAction(replicas=0))
    assert s.service("ml", "api").pods == 0


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (RollbackAction(to_revision=7), "unknown revision 7"),
        (RollbackAction(to_version="v9"), "unknown version 'v9'"),
        (RollbackAction(to_version="v2"), "never deployed"),
        (RollbackAction(to_version="v1"), "already at revision 1"),
        (RollbackAction(), "no previous revision"),
        (RouteAction(weights={"v1": 90, "v2": 10}), "v2 has no pods"),
        (RouteAction(weights={"v1": 90, "vx": 10}), "unknown version 'vx'"),
        (RestartAction(pods=5), "cannot restart 5 pods"),
        (ScaleAction.model_construct(replicas=-1), "replicas must be ≥ 0"),
    ],
    ids=lambda x: getattr(x, "kind", x),
)
def test_invalid_actions_are_refused_with_a_reason_and_change_nothing(action, reason):
    s = sim()
    before = (s.service("ml", "api"), s.revisions("ml", "api"), s.pods())
    with pytest.raises(InvalidAction, match=reason):
        s.apply(API, action)
    assert (s.service("ml", "api"), s.revisions("ml", "api"), s.pods()) == before


def test_unknown_targets():
    s = sim()
    with pytest.raises(InvalidAction, match="unknown service ml/nope"):
        s.apply(Target(namespace="ml", service="nope"), ScaleAction(replicas=1))
    with pytest.raises(NotFound):
        s.service("ml", "nope")
    with pytest.raises(NotFound):
        s.window("ml", "api", 60, version="v9")


def test_a_person_deploys_a_version_of_the_scenario_as_a_rolling_update():
    """`Simulator.deploy` is `kubectl set image`: a new revision that rolls like a scenario's
    replace deploy. An unknown version and a deploy over a running canary are refused."""
    s = sim(svc={"replicas": 2})
    s.advance(30)
    out = s.deploy(API, "v2")
    assert (out.kind, out.message) == ("deploy", "rolling out v2")
    view = s.service("ml", "api")
    assert (view.version, view.revision, view.rolling_out) == ("v2", 2, True)
    s.advance(120)
    assert {p.version for p in s.pods()} == {"v2"}
    assert s.deploy(API, "v2").message == "v2 already serves"
    assert s.service("ml", "api").revision == 2
    with pytest.raises(InvalidAction, match=r"no version 'v9' \(versions: v1, v2\)"):
        s.deploy(API, "v9")
    with pytest.raises(InvalidAction, match="unknown service"):
        s.deploy(Target(namespace="ml", service="nope"), "v2")
    canary = sim(svc={"replicas": 4}, events=[_deploy("v2", canary_weight=25)])
    canary.advance(90)
    with pytest.raises(InvalidAction, match="runs a canary of v2"):
        canary.deploy(API, "v1")
