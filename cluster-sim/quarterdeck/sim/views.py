"""What the simulator's read API returns: frozen dataclasses, safe to hand to any caller.

Times are sim seconds since scenario start (`unix = sim.epoch + t`). Latencies are milliseconds,
rates requests/s, ratios 0..1. `None` means "no data" (e.g. no request was served in the window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PodPhase = Literal["Pending", "Starting", "Ready"]
PodRole = Literal["primary", "canary"]


@dataclass(frozen=True)
class NodeView:
    name: str
    pool: str
    ready: bool
    cpu: float
    memory_gib: float
    gpu: int
    cpu_used: float
    memory_used_gib: float
    gpu_used: int
    pods: tuple[str, ...]


@dataclass(frozen=True)
class PodView:
    name: str
    namespace: str
    service: str
    version: str
    revision: int | None
    role: PodRole
    phase: PodPhase
    node: str | None
    created_at: float
    scheduled_at: float | None
    ready_at: float | None
    cpu: float
    memory_gib: float
    gpu: int


@dataclass(frozen=True)
class RevisionView:
    """One ReplicaSet of a Deployment, as `kubectl rollout history` lists them."""

    number: int
    version: str
    created_at: float
    replicas: int
    ready_replicas: int
    current: bool  # the Deployment's template is this revision
    canary: bool  # the revision runs as a canary beside the primary
    replica_set: str


@dataclass(frozen=True)
class ServiceView:
    namespace: str
    name: str
    version: str  # the primary's current version
    revision: int  # the primary's current revision number
    spec_replicas: int
    ready_replicas: int  # ready pods of every version and role
    pods: int  # pods that exist (Pending, Starting or Ready), canary included
    pending: int
    starting: int
    rolling_out: bool  # primary pods of an older template remain
    canary_version: str | None
    canary_replicas: int
    route_weights: dict[str, int] = field(default_factory=dict)  # version → % (sums to 100)
    min_replicas: int = 0
    max_replicas: int = 0
    slo_p95_latency_ms: float = 0.0
    slo_error_ratio: float = 0.0
    capacity_rps: float = 0.0  # per ready replica of the current version, before slowdowns
    base_latency_ms: float = 0.0
    slowdown: float = 1.0  # product of active slowdown factors
    pod_cpu: float = 0.0
    pod_memory_gib: float = 0.0
    pod_gpu: int = 0
    startup_s: float = 0.0
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventView:
    """A Kubernetes-style Event. `source` is "scenario" for event_message, else "sim"."""

    t: float
    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    namespace: str
    kind: str  # Deployment, Pod, Node, ReplicaSet
    name: str
    service: str | None
    source: Literal["scenario", "sim"]


@dataclass(frozen=True)
class ServiceSample:
    """The last tick of one service."""

    t: float  # end of the tick
    offered_rps: float
    served_rps: float
    error_rps: float  # served but failed (code 500)
    dropped_rps: float  # refused for lack of capacity (code 503)
    error_ratio: float  # (500 + 503) / offered; 0 without traffic
    p95_ms: float | None
    p99_ms: float | None
    utilisation: float  # offered / ready capacity; inf with traffic and no capacity
    ready_replicas: int
    spec_replicas: int


@dataclass(frozen=True)
class WindowStats:
    """Rates and quantiles over the last `seconds` (shorter at the start of a run)."""

    t: float
    seconds: float
    request_rate: float  # offered requests/s
    served_rate: float
    error_ratio: float  # (500 + 503) / offered; 0 without traffic
    p95_ms: float | None
    p99_ms: float | None
    version: str | None = None


@dataclass(frozen=True)
class ApplyOutcome:
    """What `Simulator.apply` did, in kubectl's words."""

    t: float
    target: str
    kind: str
    message: str
    revision: int | None = None
