"""The benchmark metrics of SCENARIOS.md, computed in one place from what the engine feeds in.

Definitions (the engine calls `add_block` once per block of ticks):
- a service violates its SLO during a tick when, over the 60 s ending with that tick, its p95
  latency exceeds the SLO or its error ratio ((500 + 503) / offered) exceeds the SLO. A window
  without served requests has no p95 (no latency violation); one without offered requests has no
  error ratio. `slo_violation_minutes` = Σ violating ticks × tick ÷ 60.
- `failed_requests` = requests answered 500 (the version's error ratio) or 503 (no capacity).
- `replica_hours` counts every pod that exists, Pending pods included: they hold a place in the
  Deployment and, on a real cluster, usually a node being provisioned. `gpu_hours` weights each
  pod by its GPUs.
- `time_to_mitigate_s`: for each fault event (load_spike, deploy, node_failure, pod_crash,
  slowdown; event_message is text, not a fault) whose service(s) violate within 600 s after
  `at`: seconds from `at` until the first moment after the first violation from which they stay
  within SLO for 300 continuous seconds; None if that never happens before the run ends. A
  node_failure's services are those that lost pods.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quarterdeck.sim.scenario import Scenario

F64 = NDArray[np.float64]
BREAK_WINDOW_S = 600.0
MITIGATED_AFTER_S = 300.0


@dataclass(frozen=True)
class ServiceMetrics:
    namespace: str
    name: str
    slo_violation_minutes: float
    failed_requests: float
    total_requests: float
    replica_hours: float
    gpu_hours: float


@dataclass(frozen=True)
class Mitigation:
    """One SLO-breaking event and how long it took to mitigate (None: never)."""

    event: int  # index in the scenario's `events`
    type: str
    service: str  # "namespace/name" (several joined by "," for a node failure)
    at: float
    seconds: float | None


@dataclass(frozen=True)
class Metrics:
    slo_violation_minutes: float
    failed_requests: float
    total_requests: float
    replica_hours: float
    gpu_hours: float
    time_to_mitigate_s: tuple[Mitigation, ...]
    per_service: tuple[ServiceMetrics, ...]


@dataclass
class Timeline:
    """Per-service curves for plots, one row every `every` sim seconds."""

    every: float
    services: list[str]  # "namespace/name"
    slo_p95_ms: F64
    slo_error_ratio: F64
    t: F64 = field(default_factory=lambda: np.empty(0))
    offered_rps: F64 = field(default_factory=lambda: np.empty((0, 0)))
    ready_replicas: F64 = field(default_factory=lambda: np.empty((0, 0)))
    p95_ms: F64 = field(default_factory=lambda: np.empty((0, 0)))
    error_ratio: F64 = field(default_factory=lambda: np.empty((0, 0)))


@dataclass
class _Fault:
    index: int
    type: str
    at: float
    services: tuple[int, ...]


class MetricsAccumulator:
    """Fed by the engine every block; `summary()` and `timeline()` read it at any time."""

    def __init__(self, scenario: Scenario, timeline_every: float = 15.0) -> None:
        s = scenario.services
        n = len(s)
        self.tick = scenario.tick
        self.labels = [f"{x.namespace}/{x.name}" for x in s]
        self.slo_p95 = np.array([x.slo.p95_latency_ms for x in s], dtype=np.float64)
        self.slo_err = np.array([x.slo.error_ratio for x in s], dtype=np.float64)
        self.violating_ticks = np.zeros(n)
        self.failed = np.zeros(n)
        self.total = np.zeros(n)
        self.replica_s = np.zeros(n)
        self.gpu_s = np.zeros(n)
        self._viol: list[NDArray[np.bool_]] = []
        self._faults: list[_Fault] = []
        self.timeline_every = timeline_every
        self._tl_t: list[F64] = []
        self._tl: dict[str, list[F64]] = {k: [] for k in ("off", "ready", "p95", "err")}

    def __deepcopy__(self, memo: dict[int, Any]) -> MetricsAccumulator:
        """A fork shares the per-block arrays already recorded (never written again)."""
        new = copy.copy(self)
        for name in ("violating_ticks", "failed", "total", "replica_s", "gpu_s"):
            setattr(new, name, getattr(self, name).copy())
        new._viol = list(self._viol)
        new._faults = list(self._faults)
        new._tl_t = list(self._tl_t)
        new._tl = {k: list(v) for k, v in self._tl.items()}
        memo[id(self)] = new
        return new

    def violations(self, p95_ms: F64, error_ratio: F64) -> NDArray[np.bool_]:
        """Whether each (tick, service) window breaks the SLO. NaN p95 (no data) never does."""
        with np.errstate(invalid="ignore"):
            out: NDArray[np.bool_] = (p95_ms > self.slo_p95) | (error_ratio > self.slo_err)
        return out

    def add_block(
        self, *, t_end: F64, p95_ms: F64, error_ratio: F64, offered_n: F64, failed_n: F64,
        offered_rps: F64, pods: F64, gpus: F64, ready: F64,
    ) -> None:  # fmt: skip
        """One block of k ticks ending at `t_end` (k,): per-tick (k, S) arrays, per-block (S,)."""
        viol = self.violations(p95_ms, error_ratio)
        self._viol.append(viol)
        k = len(t_end)
        self.violating_ticks += viol.sum(axis=0)
        self.total += offered_n.sum(axis=0)
        self.failed += failed_n.sum(axis=0)
        self.replica_s += pods * (k * self.tick)
        self.gpu_s += gpus * (k * self.tick)
        rows = _crossings(t_end, self.tick, self.timeline_every)
        if rows.size:
            self._tl_t.append(t_end[rows])
            self._tl["off"].append(offered_rps[rows])
            self._tl["ready"].append(np.tile(ready, (rows.size, 1)))
            self._tl["p95"].append(p95_ms[rows])
            self._tl["err"].append(error_ratio[rows])

    def note_fault(self, index: int, type_: str, at: float, services: tuple[int, ...]) -> None:
        if services:
            self._faults.append(_Fault(index, type_, at, services))

    def violation_matrix(self) -> NDArray[np.bool_]:
        """(ticks so far, services): whether each tick violated the SLO."""
        if not self._viol:
            return np.zeros((0, len(self.labels)), dtype=bool)
        if len(self._viol) > 1:
            self._viol = [np.concatenate(self._viol, axis=0)]
        return self._viol[0]

    def _mitigation(self, viol: NDArray[np.bool_], f: _Fault) -> Mitigation | None:
        tick = self.tick
        any_viol: NDArray[np.bool_] = np.asarray(viol[:, list(f.services)].any(axis=1))
        first = math.ceil(f.at / tick - 1e-9)
        last = min(len(any_viol), math.ceil((f.at + BREAK_WINDOW_S) / tick - 1e-9))
        hits = np.flatnonzero(any_viol[first:last])
        if hits.size == 0:
            return None
        v = first + int(hits[0])
        need = math.ceil(MITIGATED_AFTER_S / tick - 1e-9)
        ok = ~any_viol[v:]
        seconds: float | None = None
        # Start of the first run of `need` consecutive OK ticks.
        run = 0
        edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            run = int(stop - start)
            if run >= need:
                seconds = max(0.0, (v + int(start)) * tick - f.at)
                break
        label = ",".join(self.labels[i] for i in f.services)
        return Mitigation(f.index, f.type, label, f.at, seconds)

    def summary(self) -> Metrics:
        viol = self.violation_matrix()
        mitigations = tuple(
            m for m in (self._mitigation(viol, f) for f in self._faults) if m is not None
        )
        per = tuple(
            ServiceMetrics(
                namespace=label.split("/", 1)[0], name=label.split("/", 1)[1],
                slo_violation_minutes=float(self.violating_ticks[i] * self.tick / 60.0),
                failed_requests=float(self.failed[i]), total_requests=float(self.total[i]),
                replica_hours=float(self.replica_s[i] / 3600.0),
                gpu_hours=float(self.gpu_s[i] / 3600.0),
            )
            for i, label in enumerate(self.labels)
        )  # fmt: skip
        return Metrics(
            slo_violation_minutes=float(self.violating_ticks.sum() * self.tick / 60.0),
            failed_requests=float(self.failed.sum()),
            total_requests=float(self.total.sum()),
            replica_hours=float(self.replica_s.sum() / 3600.0),
            gpu_hours=float(self.gpu_s.sum() / 3600.0),
            time_to_mitigate_s=mitigations,
            per_service=per,
        )

    def timeline(self) -> Timeline:
        n = len(self.labels)

        def cat(parts: list[F64]) -> F64:
            return np.concatenate(parts, axis=0) if parts else np.empty((0, n))

        return Timeline(
            every=self.timeline_every, services=list(self.labels), slo_p95_ms=self.slo_p95.copy(),
            slo_error_ratio=self.slo_err.copy(),
            t=np.concatenate(self._tl_t) if self._tl_t else np.empty(0),
            offered_rps=cat(self._tl["off"]), ready_replicas=cat(self._tl["ready"]),
            p95_ms=cat(self._tl["p95"]), error_ratio=cat(self._tl["err"]),
        )  # fmt: skip


def _crossings(t_end: F64, tick: float, every: float) -> NDArray[np.intp]:
    """Rows of a block whose tick end crosses a multiple of `every` (sampling instants)."""
    now = np.floor(t_end / every + 1e-9)
    before = np.floor((t_end - tick) / every + 1e-9)
    out: NDArray[np.intp] = np.flatnonzero(now > before)
    return out
