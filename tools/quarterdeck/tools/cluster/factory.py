"""Picks the `ClusterClient` adapter for a config. An unknown kind is an error, never a fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quarterdeck.tools.cluster.base import ClusterClient
from quarterdeck.tools.cluster.config import ClusterConfig

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator

KINDS = ("sim", "kube")


def make_cluster_client(config: ClusterConfig, *, sim: Simulator | None = None) -> ClusterClient:
    """The adapter `config.kind` names. `sim` is the in-process simulator to wrap (kind "sim");
    without it, the config's scenario file is loaded. Raises ValueError on an unknown kind or a
    config that lacks what its kind needs."""
    if config.kind == "sim":
        from quarterdeck.tools.cluster.sim import SimClusterClient

        if sim is None:
            if config.scenario is None:
                raise ValueError("cluster kind 'sim' needs a Simulator or a scenario file")
            from quarterdeck.sim.engine import Simulator
            from quarterdeck.sim.scenario import load_scenario

            sim = Simulator(load_scenario(config.scenario))
        return SimClusterClient(sim, namespaces=config.namespaces)
    if config.kind == "kube":
        from quarterdeck.tools.cluster.kube import KubeClusterClient

        return KubeClusterClient.from_config(config)
    raise ValueError(f"unknown cluster kind {config.kind!r}; expected one of {', '.join(KINDS)}")
