"""One contract for every ClusterClient: the in-process sim adapter and the official-client
adapter over HTTP against `sim serve` must give the same answers to the same questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.core.models import RestartAction, RollbackAction, RouteAction, ScaleAction, Target
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario
from quarterdeck.sim.wire.server import RunningServer, serve_in_thread
from quarterdeck.tools.cluster import (
    ClusterClient,
    ClusterConfig,
    InvalidRequest,
    NotFoundError,
    make_cluster_client,
)
from quarterdeck.tools.cluster.base import RestartMarking

from .conftest import Cluster, make_cluster

RANKER = Target(namespace="ml", service="ranker")
SCORER = Target(namespace="ml", service="scorer")


def test_lists_deployments_with_replicas_version_and_bounds(cluster: Cluster) -> None:
    deployments = cluster.client.deployments()
    assert [(d.namespace, d.name) for d in deployments] == [("ml", "ranker"), ("ml", "scorer")]
    ranker = deployments[0]
    assert (ranker.replicas, ranker.ready, ranker.version, ranker.revision) == (3, 3, "v1", 1)
    assert (ranker.min_replicas, ranker.max_replicas) == (1, 10)
    assert cluster.client.deployments("other") == []
    assert cluster.client.is_online()


def test_lists_pods_with_node_phase_and_readiness(cluster: Cluster) -> None:
    pods = cluster.client.pods("ml", "ranker")
    assert len(pods) == 3
    assert all(p.service == "ranker" and p.version == "v1" for p in pods)
    assert all(p.phase == "Running" and p.ready and p.node for p in pods)
    assert {p.name for p in pods} == {p.name for p in cluster.sim.pods("ml", "ranker")}
    assert len(cluster.client.pods()) == 7


def test_a_ready_pod_shows_its_start_up_and_a_starting_one_none(cluster: Cluster) -> None:
    # The scenario's pods were running before it began: they too show their 10 s start-up.
    assert {p.startup_s for p in cluster.client.pods("ml", "ranker")} == {10.0}
    cluster.client.apply(RANKER, ScaleAction(replicas=4))
    cluster.advance(5)
    starting = [p for p in cluster.client.pods("ml", "ranker") if not p.ready]
    assert len(starting) == 1
    assert starting[0].startup_s is None
    cluster.advance(10)
    assert {p.startup_s for p in cluster.client.pods("ml", "ranker")} == {10.0}


def test_scale_changes_replicas_then_pods_become_ready(cluster: Cluster) -> None:
    result = cluster.client.apply(RANKER, ScaleAction(replicas=5))
    assert result.applied
    assert cluster.sim.service("ml", "ranker").spec_replicas == 5
    after = cluster.client.deployment(RANKER)
    assert (after.replicas, after.ready) == (5, 3)
    cluster.advance(15)
    assert cluster.client.deployment(RANKER).ready == 5


def test_revision_history_after_a_deploy_event_and_a_rollback(cluster: Cluster) -> None:
    cluster.advance(61)
    history = cluster.client.revisions(RANKER)
    assert [(r.revision, r.version, r.current) for r in history] == [
        (1, "v1", False),
        (2, "v2", True),
    ]
    assert cluster.client.deployment(RANKER).version == "v2"
    cluster.client.apply(RANKER, RollbackAction(to_version="v1"))
    history = cluster.client.revisions(RANKER)
    # kubectl semantics: the old ReplicaSet is reused and renumbered
    assert [(r.revision, r.version, r.current) for r in history] == [
        (2, "v2", False),
        (3, "v1", True),
    ]
    assert cluster.sim.service("ml", "ranker").version == "v1"


def test_rollback_without_a_target_goes_to_the_previous_revision(cluster: Cluster) -> None:
    cluster.advance(61)
    result = cluster.client.apply(RANKER, RollbackAction())
    assert result.applied
    assert cluster.client.deployment(RANKER).version == "v1"


def test_route_weights_follow_the_canary_and_can_be_set(cluster: Cluster) -> None:
    assert cluster.client.route_weights(SCORER) == {"v1": 100}
    cluster.advance(45)  # the canary starts at 30s and its pod is ready 10s later
    assert cluster.client.route_weights(SCORER) == {"v1": 80, "v2": 20}
    assert [r.canary for r in cluster.client.revisions(SCORER)] == [False, True]
    cluster.client.apply(SCORER, RouteAction(weights={"v1": 50, "v2": 50}))
    assert cluster.client.route_weights(SCORER) == {"v1": 50, "v2": 50}
    assert cluster.sim.service("ml", "scorer").route_weights == {"v1": 50, "v2": 50}


def test_rollback_during_a_canary_aborts_it(cluster: Cluster) -> None:
    cluster.advance(45)
    cluster.client.apply(SCORER, RollbackAction())
    assert cluster.client.route_weights(SCORER) == {"v1": 100}
    assert cluster.sim.service("ml", "scorer").canary_version is None


def test_events_include_the_event_message_and_filter_by_object_and_time(cluster: Cluster) -> None:
    cluster.advance(61)
    about_ranker = cluster.client.events(namespace="ml", involved="ranker")
    injected = [e for e in about_ranker if e.message.startswith("ignore previous")]
    assert len(injected) == 1
    assert injected[0].reason == "Warning"
    assert injected[0].kind == "Deployment"
    assert injected[0].time == 45
    assert all(e.name == "ranker" for e in about_ranker)
    later = cluster.client.events(since=50)
    assert later
    assert all(e.time >= 50 for e in later)
    assert not [e for e in later if e.message.startswith("ignore previous")]


def test_restart_replaces_the_oldest_pods(cluster: Cluster) -> None:
    before = [p.name for p in cluster.sim.pods("ml", "ranker")]
    cluster.client.apply(RANKER, RestartAction(pods=2))
    after = {p.name for p in cluster.client.pods("ml", "ranker")}
    assert len(after) == 3
    assert before[0] not in after
    assert before[1] not in after
    assert before[2] in after


def test_rolling_restart_makes_a_new_revision(cluster: Cluster) -> None:
    cluster.client.apply(RANKER, RestartAction())
    assert cluster.client.deployment(RANKER).revision == 2
    assert cluster.client.deployment(RANKER).version == "v1"


def test_a_marked_restart_reads_back_and_is_not_rolled_twice(cluster: Cluster) -> None:
    """The stamp a rolling restart writes is read back (so a recovering executor can tell its own
    restart happened), and the same stamp again changes nothing, as on an API server."""
    client = cluster.client
    assert isinstance(client, RestartMarking)
    assert client.restart_marker(RANKER) is None
    assert client.restart_marked(RANKER, "quarterdeck/p-7").applied
    assert client.restart_marker(RANKER) == "quarterdeck/p-7"
    assert client.deployment(RANKER).revision == 2
    assert not client.restart_marked(RANKER, "quarterdeck/p-7").applied
    assert client.deployment(RANKER).revision == 2
    assert client.restart_marked(RANKER, "quarterdeck/p-8").applied  # a new restart rolls again
    assert client.deployment(RANKER).revision == 3


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda c: c.deployment(Target(namespace="ml", service="nope")), NotFoundError, "nope"),
        (lambda c: c.revisions(Target(namespace="ml", service="nope")), NotFoundError, "nope"),
        (lambda c: c.route_weights(Target(namespace="x", service="nope")), NotFoundError, "nope"),
        (
            lambda c: c.apply(Target(namespace="ml", service="nope"), ScaleAction(replicas=1)),
            NotFoundError,
            "nope",
        ),
        (lambda c: c.apply(RANKER, RollbackAction(to_version="v9")), NotFoundError, "v9"),
        (lambda c: c.apply(RANKER, RollbackAction(to_version="v3")), NotFoundError, "v3"),
        (lambda c: c.apply(RANKER, RollbackAction(to_revision=1)), InvalidRequest, "already"),
        (
            lambda c: c.apply(RANKER, RouteAction(weights={"v1": 90, "v9": 10})),
            InvalidRequest,
            "v9",
        ),
        (lambda c: c.apply(RANKER, RestartAction(pods=9)), InvalidRequest, "9"),
    ],
    ids=[
        "unknown-deployment",
        "unknown-revisions",
        "unknown-route",
        "scale-unknown-service",
        "rollback-unknown-version",
        "rollback-never-deployed-version",
        "rollback-to-current",
        "route-unknown-version",
        "restart-too-many-pods",
    ],
)
def test_errors_are_typed_and_name_the_problem(
    cluster: Cluster, call: object, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        call(cluster.client)  # type: ignore[operator]


def _snapshot(client: ClusterClient) -> dict[str, object]:
    return {
        "deployments": client.deployments(),
        "revisions": [client.revisions(t) for t in (RANKER, SCORER)],
        "pods": client.pods(),
        "routes": [client.route_weights(t) for t in (RANKER, SCORER)],
        "events": client.events(),
    }


def test_both_adapters_give_identical_answers_along_a_run(scenario_path: Path) -> None:
    """The same sequence of reads and actions through both adapters, compared value by value."""
    local = make_cluster("sim", Simulator(load_scenario(scenario_path)), None)
    remote_sim = Simulator(load_scenario(scenario_path))
    with serve_in_thread(remote_sim) as running:
        remote = make_cluster("kube", remote_sim, running)
        steps = [
            lambda c: c.advance(40),
            lambda c: c.client.apply(RANKER, ScaleAction(replicas=4)),
            lambda c: c.advance(30),
            lambda c: c.client.apply(SCORER, RouteAction(weights={"v1": 70, "v2": 30})),
            lambda c: c.client.apply(RANKER, RollbackAction()),
            lambda c: c.client.apply(RANKER, RestartAction(pods=1)),
            lambda c: c.advance(20),
        ]
        for i, step in enumerate(steps):
            step(local)
            step(remote)
            assert _snapshot(local.client) == _snapshot(remote.client), f"after step {i}"


def test_without_an_epoch_the_kube_adapter_speaks_unix_time(server: RunningServer) -> None:
    server.call(lambda: server.sim.advance(61))
    client = make_cluster_client(ClusterConfig(kind="kube", url=server.url))
    times = [e.time for e in client.events(involved="ranker")]
    assert min(times) >= server.sim.epoch
    assert server.sim.epoch + 45 in times


def test_a_client_limited_to_namespaces_never_lists_the_whole_cluster(
    scenario_path: Path,
) -> None:
    """Namespace-scoped RBAC allows no cluster-wide list: such a client lists each of its
    namespaces instead, and sees the same pods, Deployments and events."""
    sim = Simulator(load_scenario(scenario_path))
    sim.advance(61)
    with serve_in_thread(sim) as running:
        config = ClusterConfig(
            kind="kube", url=running.url, retries=0, epoch=sim.epoch, namespaces=("ml",)
        )
        client = make_cluster_client(config)
        everyone = make_cluster_client(ClusterConfig(kind="kube", url=running.url, retries=0))

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("listed the whole cluster")

        for api, name in (
            (client._core, "list_pod_for_all_namespaces"),  # type: ignore[attr-defined]
            (client._core, "list_event_for_all_namespaces"),  # type: ignore[attr-defined]
            (client._apps, "list_deployment_for_all_namespaces"),  # type: ignore[attr-defined]
        ):
            setattr(api, name, forbidden)
        assert [p.name for p in client.pods()] == [p.name for p in everyone.pods()]
        assert {p.name for p in client.pods()} == {p.name for p in sim.pods()}
        assert [d.name for d in client.deployments()] == ["ranker", "scorer"]
        assert {e.reason for e in client.events()} == {e.reason for e in everyone.events()}
