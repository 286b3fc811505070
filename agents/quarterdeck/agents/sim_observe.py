"""Builds the brain's `ServiceObservation`s straight from an in-process `Simulator`.

This is the `agent` controller's fast path for `quarterdeck bench`: reading the simulator's own
windows is ~100× cheaper than evaluating the signal catalog's PromQL over its series, and the
figures are the same ones (the tools' sim adapters are contract-tested against `sim.window`). It
reads only what a real cluster also exposes — windows of rate / errors / p95 (per version too),
utilisation, replicas and pods, revisions, route weights, events — plus the scenario's nominal
per-replica capacity (what a capacity test would give). It never reads the future, the version
factors or slowdown settings.

`SimObserver` keeps a little memory per service (recent offered load for the trend, recent loss
events, the revision list until it changes); reading never changes the simulator.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from quarterdeck.agents.brain.diagnosis import LOSS_REASONS
from quarterdeck.agents.brain.observation import (
    EventInfo,
    Placement,
    RevisionInfo,
    ServiceObservation,
    VersionStats,
    Window,
)
from quarterdeck.core.models import Target

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator
    from quarterdeck.sim.views import ServiceView

TREND_S = 90.0  # the load trend is fitted over this much history...
ONSET_S = 31.0  # ...and over the last three readings, whichever rises faster
RISE = 0.08  # a trend must move the load by 8 % over its span to count
ONSET_RISE = 0.10  # the onset (three readings) by 10 %: fewer points, more noise
RECENT_WINDOW_S = 15.0  # "offered load now": one decision interval, smooths per-tick noise


@dataclass
class _Memory:
    load: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=16))
    losses: deque[EventInfo] = field(default_factory=lambda: deque(maxlen=32))
    revisions_key: tuple[int, str | None] | None = None
    revisions: tuple[RevisionInfo, ...] = ()
    ready: int | None = None  # ready replicas at the previous observation
    capacity: float | None = None  # the last per-replica capacity measured in a steady state


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t, v) points; None with fewer than three."""
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    if den <= 0:
        return None
    return sum((t - mt) * (v - mv) for t, v in points) / den


def _significant(rate: float | None, level: float, span: float, rise: float = RISE) -> float | None:
    """A slope only when it moved the load by more than `RISE` over `span`: the noise of a few
    15 s averages, projected minutes ahead for a slow-starting pod, is not a trend."""
    if rate is None or abs(rate) * span < rise * max(level, 1e-9):
        return None
    return rate


def pod_placement(sim: Simulator) -> dict[tuple[str, str], Placement]:
    """(namespace, service) → the most of its ready pods on one node (what a node loss takes
    from what serves; a rollout's surge pods do not serve yet) and when the newest turned ready,
    in one pass over the pods."""
    per_node: Counter[tuple[str, str, str]] = Counter()
    newest: dict[tuple[str, str], float] = {}
    for p in sim.pods():
        if p.node is None or p.phase != "Ready":
            continue
        per_node[(p.namespace, p.service, p.node)] += 1
        if p.ready_at is not None:
            key = (p.namespace, p.service)
            newest[key] = max(newest.get(key, p.ready_at), p.ready_at)
    busiest: dict[tuple[str, str], int] = {}
    for (ns, name, _), n in per_node.items():
        busiest[(ns, name)] = max(busiest.get((ns, name), 0), n)
    return {
        key: Placement(busiest_node_pods=n, last_ready_at=newest.get(key))
        for key, n in busiest.items()
    }


class SimObserver:
    def __init__(self, windows: tuple[float, ...] = (60.0, 300.0)) -> None:
        self.windows = windows
        self._mem: dict[tuple[str, str], _Memory] = {}
        self._events_seen = 0.0

    def observe_all(self, sim: Simulator) -> list[ServiceObservation]:
        self._read_events(sim)
        pods = pod_placement(sim)
        return [
            self.observe(sim, v, pods.get((v.namespace, v.name), Placement()))
            for v in sim.services()
        ]

    def _read_events(self, sim: Simulator) -> None:
        # Only reasons and kinds are kept for decisions; the message rides along as data.
        for e in sim.events(since=self._events_seen):
            if e.service is None or e.reason not in LOSS_REASONS or e.t < self._events_seen:
                continue
            mem = self._mem.setdefault((e.namespace, e.service), _Memory())
            mem.losses.append(
                EventInfo(t=e.t, reason=e.reason, kind=e.kind, type=e.type, message=e.message)
            )
        self._events_seen = sim.now + 1e-9

    def observe(
        self, sim: Simulator, v: ServiceView, pods: Placement | None = None
    ) -> ServiceObservation:
        ns, name = v.namespace, v.name
        mem = self._mem.setdefault((ns, name), _Memory())
        now = sim.now
        sample = sim.sample(ns, name)
        recent = sim.window(ns, name, RECENT_WINDOW_S)
        offered = recent.request_rate
        mem.load.append((now, offered))
        trend = _significant(
            slope([(t, r) for t, r in mem.load if now - t <= TREND_S]), offered, TREND_S
        )
        # The onset of a ramp shows in the last three readings before the long fit sees it.
        onset = _significant(
            slope([(t, r) for t, r in mem.load if now - t <= ONSET_S]), offered, ONSET_S, ONSET_RISE
        )
        if onset is not None and (trend is None or onset > trend):
            trend = onset
        cap = None
        u = sample.utilisation
        steady = mem.ready == sample.ready_replicas
        if steady and sample.ready_replicas > 0 and u > 0 and math.isfinite(u):
            cap = sample.offered_rps / (u * sample.ready_replicas)
            mem.capacity = cap
        elif mem.capacity is not None:
            # A pod turned ready (or was lost) since the last reading: the utilisation gauge
            # and the ready count may straddle the change, so keep the last steady figure.
            cap = mem.capacity
        elif v.capacity_rps > 0:
            cap = v.capacity_rps  # nothing measured yet: the nominal figure
        mem.ready = sample.ready_replicas
        util = None
        if cap and v.ready_replicas > 0:
            util = offered / (cap * v.ready_replicas)
        elif offered > 0:
            util = math.inf
        windows = tuple(
            Window(s, w.request_rate, w.error_ratio, w.p95_ms)
            for s, w in ((s, sim.window(ns, name, s)) for s in self.windows)
        )
        versions: tuple[VersionStats, ...] = ()
        live = [k for k, w in v.route_weights.items() if w > 0]
        if v.canary_version or v.rolling_out or len(live) > 1:
            names = dict.fromkeys([v.version, *v.route_weights, *v.versions])
            stats = []
            for ver in names:
                try:
                    w = sim.window(ns, name, self.windows[0], version=ver)
                except Exception:  # a version without a lane: nothing to judge
                    continue
                if w.request_rate <= 0 and ver != v.version:
                    continue
                stats.append(
                    VersionStats(
                        version=ver,
                        weight=v.route_weights.get(ver, 0),
                        request_rate=w.request_rate,
                        error_ratio=w.error_ratio if w.request_rate > 0 else None,
                        p95_ms=w.p95_ms,
                    )
                )
            versions = tuple(stats)
        key = (v.revision, v.canary_version)
        if mem.revisions_key != key:
            mem.revisions = tuple(
                RevisionInfo(
                    number=r.number,
                    version=r.version,
                    created_at=r.created_at,
                    current=r.current,
                    canary=r.canary,
                )
                for r in sim.revisions(ns, name)
            )
            mem.revisions_key = key
        return ServiceObservation(
            target=Target(namespace=ns, service=name),
            at=now,
            slo_p95_ms=v.slo_p95_latency_ms,
            slo_error_ratio=v.slo_error_ratio,
            spec_replicas=v.spec_replicas,
            ready=v.ready_replicas,
            starting=v.pending + v.starting,
            pending=v.pending,
            min_replicas=v.min_replicas,
            max_replicas=v.max_replicas,
            utilisation=util,
            offered_rps=offered,
            load_slope=trend,
            nominal_capacity_rps=v.capacity_rps or None,
            startup_s=v.startup_s,
            busiest_node_pods=pods.busiest_node_pods if pods else None,
            last_ready_at=pods.last_ready_at if pods else None,
            gpu_per_pod=v.pod_gpu,
            windows=windows,
            version=v.version,
            revision=v.revision,
            revisions=mem.revisions,
            canary_version=v.canary_version,
            rolling_out=v.rolling_out,
            route_weights=dict(v.route_weights),
            versions=versions,
            events=tuple(e for e in mem.losses if now - e.t <= 900.0),
        )
