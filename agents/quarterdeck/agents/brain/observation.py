"""What one service looks like at one instant: the brain's only input about the world.

Readers build it from whatever they have (the simulator, the read tools, a real cluster); a
field they cannot fill is `None` and the brain then does not rely on it. Event messages are kept
as opaque data: the brain looks at event *reasons* and *kinds*, never acts on message text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from quarterdeck.core.models import Target


@dataclass(frozen=True)
class Window:
    """SLIs over the last `seconds` (offered rate, error ratio, p95 of served requests)."""

    seconds: float
    request_rate: float | None
    error_ratio: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class VersionStats:
    """One version's share of traffic and its own SLIs over the short window."""

    version: str
    weight: int  # percent of the service's traffic
    request_rate: float | None
    error_ratio: float | None
    p95_ms: float | None
    ready: int | None = None


@dataclass(frozen=True)
class RevisionInfo:
    number: int
    version: str
    created_at: float | None = None
    current: bool = False
    canary: bool = False


@dataclass(frozen=True)
class EventInfo:
    """A cluster event. `message` is untrusted free text: carried along, never interpreted."""

    t: float
    reason: str
    kind: str = ""
    type: str = "Normal"
    message: str = ""


@dataclass(frozen=True)
class Placement:
    """What a service's pods say beyond the counts: how long one takes to serve, how many of the
    ready ones one node loss takes, how many have no node, when the newest turned ready."""

    startup_s: float | None = None
    busiest_node_pods: int | None = None
    pending: int = 0
    last_ready_at: float | None = None


@dataclass(frozen=True)
class ServiceObservation:
    target: Target
    at: float  # clock seconds when the readings were taken
    slo_p95_ms: float
    slo_error_ratio: float
    spec_replicas: int
    ready: int
    starting: int = 0  # pods that exist but are not ready yet (pending or starting)
    pending: int = 0  # of those, pods with no node (they may never start)
    min_replicas: int = 1
    max_replicas: int = 0  # 0 = unknown
    utilisation: float | None = None  # offered load / ready capacity (short window)
    offered_rps: float | None = None
    load_slope: float | None = None  # rps per second, recent trend (positive = rising)
    nominal_capacity_rps: float | None = None  # per replica, as specified (None = unknown)
    startup_s: float | None = None
    busiest_node_pods: int | None = None  # most ready pods on one node (None: placement unknown)
    last_ready_at: float | None = None  # clock seconds its newest ready pod turned ready
    gpu_per_pod: int = 0
    windows: tuple[Window, ...] = ()
    version: str = ""
    revision: int = 0
    revisions: tuple[RevisionInfo, ...] = ()
    canary_version: str | None = None
    rolling_out: bool = False
    route_weights: dict[str, int] = field(default_factory=dict)
    versions: tuple[VersionStats, ...] = ()
    events: tuple[EventInfo, ...] = ()

    def window(self, seconds: float) -> Window | None:
        for w in self.windows:
            if abs(w.seconds - seconds) < 1e-6:
                return w
        return None

    @property
    def short(self) -> Window | None:
        return min(self.windows, key=lambda w: w.seconds) if self.windows else None

    @property
    def capacity_per_replica(self) -> float | None:
        """Requests/s one ready replica serves at full utilisation, as observed now (slowdowns
        included); the nominal figure when nothing is served."""
        u = self.utilisation
        if u and self.offered_rps and self.ready > 0 and u > 0 and math.isfinite(u):
            return self.offered_rps / (u * self.ready)
        return self.nominal_capacity_rps

    def version_stats(self, version: str) -> VersionStats | None:
        for v in self.versions:
            if v.version == version:
                return v
        return None

    def revision_info(self, number: int) -> RevisionInfo | None:
        for r in self.revisions:
            if r.number == number:
                return r
        return None
