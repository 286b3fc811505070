"""`make_cluster_client` picks the adapter by kind and refuses what it cannot build."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from quarterdeck.sim.wire.server import RunningServer
from quarterdeck.tools.cluster import ClusterClient, ClusterConfig, make_cluster_client
from quarterdeck.tools.cluster.kube import KubeClusterClient
from quarterdeck.tools.cluster.sim import SimClusterClient


def test_sim_kind_loads_the_scenario(scenario_path: Path) -> None:
    client = make_cluster_client(ClusterConfig(kind="sim", scenario=scenario_path))
    assert isinstance(client, SimClusterClient)
    assert isinstance(client, ClusterClient)
    assert [d.name for d in client.deployments()] == ["ranker", "scorer"]


def test_sim_kind_needs_a_simulator_or_a_scenario() -> None:
    with pytest.raises(ValueError, match="needs a Simulator or a scenario"):
        make_cluster_client(ClusterConfig(kind="sim"))


def test_kube_kind_with_a_url() -> None:
    client = make_cluster_client(ClusterConfig(kind="kube", url="http://127.0.0.1:1"))
    assert isinstance(client, KubeClusterClient)
    assert client.kind == "kube"


def test_kube_kind_with_a_missing_kubeconfig(tmp_path: Path) -> None:
    config = ClusterConfig(kind="kube", kubeconfig=tmp_path / "missing")
    with pytest.raises(ValueError, match="kubeconfig"):
        make_cluster_client(config)


def test_unknown_kind_is_refused_never_a_fallback() -> None:
    with pytest.raises(ValidationError, match="kind"):
        ClusterConfig(kind="nomad")
    forged = ClusterConfig.model_construct(kind="nomad")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown cluster kind 'nomad'"):
        make_cluster_client(forged)


def test_namespace_filter_hides_other_namespaces(scenario_path: Path) -> None:
    client = make_cluster_client(
        ClusterConfig(kind="sim", scenario=scenario_path, namespaces=("prod",))
    )
    assert client.deployments() == []
    assert client.pods() == []


def test_kube_kind_through_a_kubeconfig_context(server: RunningServer, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        f"""
apiVersion: v1
kind: Config
clusters:
  - name: simulated
    cluster: {{server: "{server.url}"}}
  - name: elsewhere
    cluster: {{server: "http://127.0.0.1:1"}}
users:
  - name: nobody
    user: {{token: not-a-secret}}
contexts:
  - name: sim
    context: {{cluster: simulated, user: nobody}}
  - name: other
    context: {{cluster: elsewhere, user: nobody}}
current-context: other
""",
        encoding="utf-8",
    )
    config = ClusterConfig(kind="kube", kubeconfig=kubeconfig, context="sim", retries=0)
    client = make_cluster_client(config)
    assert [d.name for d in client.deployments("ml")] == ["ranker", "scorer"]
