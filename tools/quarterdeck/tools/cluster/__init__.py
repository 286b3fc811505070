"""Cluster state and actions behind one small interface, `ClusterClient`, with two adapters:
`kube` (the official `kubernetes` client: a real cluster, or the simulator's HTTP facade) and `sim`
(an in-process `Simulator`, the fast path). `make_cluster_client(config)` picks one by kind.
"""

from quarterdeck.tools.cluster.base import (
    ApplyResult,
    ClusterClient,
    ClusterError,
    ClusterEvent,
    ClusterUnavailable,
    ConflictError,
    Deployment,
    InvalidRequest,
    NotFoundError,
    Pod,
    Revision,
)
from quarterdeck.tools.cluster.config import ClusterConfig
from quarterdeck.tools.cluster.factory import make_cluster_client

__all__ = [
    "ApplyResult",
    "ClusterClient",
    "ClusterConfig",
    "ClusterError",
    "ClusterEvent",
    "ClusterUnavailable",
    "ConflictError",
    "Deployment",
    "InvalidRequest",
    "NotFoundError",
    "Pod",
    "Revision",
    "make_cluster_client",
]
