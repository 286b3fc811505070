"""Action tools propose, never apply; they check arguments against the live cluster and answer
every failure (including an unreachable cluster) with an ERROR envelope."""

from __future__ import annotations

import pytest

from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import (
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    ToolStatus,
)
from quarterdeck.tools.actions import ActionContext, register_action_tools
from quarterdeck.tools.cluster import ClusterConfig, make_cluster_client
from quarterdeck.tools.registry import DuplicateToolError, ToolRegistry

from .conftest import Cluster, closed_port


def _registry(cluster: Cluster) -> ToolRegistry:
    registry = ToolRegistry()
    clock = ManualClock(123.0)
    register_action_tools(registry, ActionContext(cluster.client, clock, requested_by="alice"))
    return registry


def test_registered_as_act_tools_with_schemas(cluster: Cluster) -> None:
    registry = _registry(cluster)
    names = {spec["function"]["name"] for spec in registry.specs(kind="act")}
    assert names == {"scale", "rollback", "set_route_weights", "restart"}
    scale = next(s for s in registry.specs() if s["function"]["name"] == "scale")
    assert scale["function"]["parameters"]["required"] == ["namespace", "service", "replicas"]
    with pytest.raises(DuplicateToolError):
        register_action_tools(registry, ActionContext(cluster.client, ManualClock()))


@pytest.mark.parametrize(
    ("tool", "args", "action"),
    [
        ("scale", {"replicas": 6}, ScaleAction(replicas=6)),
        ("rollback", {"to_version": "v1"}, RollbackAction(to_version="v1")),
        ("restart", {"pods": 1}, RestartAction(pods=1)),
        ("restart", {}, RestartAction()),
    ],
)
def test_valid_requests_become_proposals_and_change_nothing(
    cluster: Cluster, tool: str, args: dict[str, object], action: object
) -> None:
    cluster.advance(61)  # ranker now runs v2 (revision 2), so v1 can be rolled back to
    before = (cluster.client.deployments(), cluster.client.pods())
    result = _registry(cluster).call(
        tool, {"namespace": "ml", "service": "ranker", "reason": "p95 high", **args}
    )
    assert result.status is ToolStatus.APPROVAL_REQUIRED, result.error
    assert result.proposal is not None
    assert result.proposal.action == action
    assert str(result.proposal.target) == "ml/ranker"
    assert result.proposal.requested_by == "alice"
    assert result.proposal.created_at == 123.0
    assert result.proposal.reason == "p95 high"
    assert result.data["proposal_id"] == result.proposal.id
    assert (cluster.client.deployments(), cluster.client.pods()) == before


def test_route_proposal_during_a_canary(cluster: Cluster) -> None:
    cluster.advance(45)
    result = _registry(cluster).call(
        "set_route_weights",
        {"namespace": "ml", "service": "scorer", "weights": {"v1": 0, "v2": 100}},
    )
    assert result.status is ToolStatus.APPROVAL_REQUIRED, result.error
    assert result.proposal is not None
    assert result.proposal.action == RouteAction(weights={"v1": 0, "v2": 100})
    assert result.data["current"] == {"weights": {"v1": 80, "v2": 20}}


def test_proposal_ids_are_unique(cluster: Cluster) -> None:
    registry = _registry(cluster)
    args = {"namespace": "ml", "service": "ranker", "replicas": 5}
    ids = {registry.call("scale", args).data["proposal_id"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("tool", "args", "text"),
    [
        ("scale", {"service": "nope", "replicas": 2}, "nope"),
        ("scale", {"replicas": 3}, "already has 3"),
        ("scale", {"replicas": -1}, "replicas"),
        ("rollback", {"to_version": "v9"}, "v9"),
        ("rollback", {"to_version": "v3"}, "v3"),
        ("rollback", {}, "previous revision"),
        ("set_route_weights", {"weights": {"v1": 50, "v2": 40}}, "sum to 100"),
        ("set_route_weights", {"weights": {"v1": 50, "v2": 50}}, "no version 'v2'"),
        ("set_route_weights", {"weights": {"v1": 100}}, "nothing to change"),
        ("restart", {"pods": 4}, "has 3"),
        ("scale", {"replicas": 2, "extra": 1}, "extra"),
    ],
    ids=[
        "unknown-service",
        "no-op-scale",
        "negative-replicas",
        "unknown-version",
        "never-deployed-version",
        "no-previous-revision",
        "weights-not-100",
        "version-not-deployed",
        "no-op-route",
        "too-many-pods",
        "unknown-argument",
    ],
)
def test_bad_requests_are_error_envelopes(
    cluster: Cluster, tool: str, args: dict[str, object], text: str
) -> None:
    result = _registry(cluster).call(tool, {"namespace": "ml", "service": "ranker", **args})
    assert result.status is ToolStatus.ERROR
    assert result.proposal is None
    assert result.error is not None
    assert text in result.error


def test_an_unreachable_cluster_is_an_error_not_an_empty_answer() -> None:
    client = make_cluster_client(
        ClusterConfig(
            kind="kube", url=f"http://127.0.0.1:{closed_port()}", retries=1, backoff_s=0.01
        )
    )
    registry = ToolRegistry()
    register_action_tools(registry, ActionContext(client, ManualClock()))
    result = registry.call("scale", {"namespace": "ml", "service": "ranker", "replicas": 2})
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert "unavailable after 2 attempts" in result.error


def test_rollback_during_a_canary_is_proposed_as_an_abort(cluster: Cluster) -> None:
    cluster.advance(45)
    result = _registry(cluster).call("rollback", {"namespace": "ml", "service": "scorer"})
    assert result.status is ToolStatus.APPROVAL_REQUIRED, result.error
    assert "abort the canary" in result.data["summary"]
    assert "(v2, revision 2)" in result.data["summary"]
