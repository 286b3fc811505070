"""The discrete-time simulator: a clock, a seeded RNG, a cluster, and the request math per tick.

Time advances in ticks of `scenario.tick`. Discrete changes (scenario events, pods becoming
Ready, nodes coming back, slowdowns ending, actions) happen at tick boundaries and are handled by
event-driven Python bookkeeping; between two changes the engine computes a whole block of ticks at
once with numpy, vectorised over ticks and (service, version) lanes. Results do not depend on how
ticks are grouped into blocks.

The only randomness is the load noise, drawn from `numpy.random.default_rng(seed)`.
"""

from __future__ import annotations

import copy
import heapq
import math
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import (
    Action,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)
from quarterdeck.sim.cluster import Cluster, EventLog, Pod
from quarterdeck.sim.errors import InvalidAction, NotFound
from quarterdeck.sim.latency import histogram_quantile, le_label, quantile_1d
from quarterdeck.sim.load import LoadModel
from quarterdeck.sim.metrics import MetricsAccumulator, _crossings
from quarterdeck.sim.scenario import (
    Deploy,
    EventMessage,
    NodeFailure,
    PodCrash,
    Scenario,
    ScenarioEvent,
    Slowdown,
    ticks,
)
from quarterdeck.sim.series import SeriesStore
from quarterdeck.sim.traffic import (
    COL_B0,
    COL_DROP,
    COL_ERR,
    COL_OFFERED,
    COL_OK,
    COL_SERVED,
    COL_SUM,
    N_COLS,
    LaneState,
    block_increments,
)
from quarterdeck.sim.views import (
    ApplyOutcome,
    EventView,
    NodeView,
    PodView,
    RevisionView,
    ServiceSample,
    ServiceView,
    WindowStats,
)
from quarterdeck.sim.workloads import Workload, Workloads

F64 = NDArray[np.float64]
DEFAULT_EPOCH = 1767225600.0  # 2026-01-01T00:00:00Z: sim t = 0, so runs stay reproducible
HISTORY_S = 900.0  # how far back `window()` can look at per-tick resolution
MAX_BLOCK = 120  # ticks per numpy block (bounds memory, keeps the ring buffers small)
_EPS = 1e-9
# Per node pool gauges, in the order `_pool_gauges` computes them.
POOL_SERIES = (
    "qd_node_pool_cpu_requested_cores",
    "qd_node_pool_cpu_allocatable_cores",
    "qd_node_pool_gpu_requested",
    "qd_node_pool_gpu_allocatable",
    "qd_node_pool_nodes_ready",
)
# Counter columns sampled per lane, in the order `_register_lane` creates their series.
_SAMPLED = np.array([COL_OK, COL_ERR, COL_DROP, COL_SUM, COL_SERVED, *range(COL_B0, N_COLS)])


class Simulator:
    """One simulated cluster running one scenario. See docs/internal-contracts.md."""

    def __init__(
        self, scenario: Scenario, seed: int | None = None, *, sample_every: float = 5.0,
        epoch: float = DEFAULT_EPOCH, timeline_every: float = 15.0,
    ) -> None:  # fmt: skip
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        if self.seed < 0:
            raise ValueError(f"seed must be ≥ 0, got {self.seed}")
        self.epoch = float(epoch)
        self.tick = scenario.tick
        self.duration = scenario.duration
        self.n_ticks = ticks(scenario)
        self.clock = ManualClock(0.0)
        # One simulator is one world: `advance`, `apply` and `fork` hold this lock, and readers
        # that may run beside them on another thread (agents thinking in worker threads while a
        # server's driver advances the clock) hold it around each read. Re-entrant, so a reader
        # may call `fork` under it. Uncontended in single-threaded use (bench, runner).
        self.lock = threading.RLock()
        self._i = 0  # ticks done
        self.rng = np.random.default_rng(self.seed)
        self.log = EventLog()
        self.cluster = Cluster(scenario, self.log)
        self.workloads = Workloads(scenario.services, self.cluster, self.log)
        self.load = LoadModel(scenario, self.rng)
        self.series = SeriesStore(sample_every)
        self.metrics = MetricsAccumulator(scenario, timeline_every)
        self._by_key = {s.key: i for i, s in enumerate(scenario.services)}
        self._events: list[tuple[int, ScenarioEvent]] = sorted(
            enumerate(scenario.events), key=lambda x: (x[1].at, x[0])
        )
        self._next_event = 0
        self._timers: list[tuple[float, int, str, str, float]] = []  # (t, seq, kind, ref, value)
        self._timer_seq = 0
        self._dirty: set[int] = set()
        # (namespace, name) → the restartedAt stamp of the service's last stamped rolling restart:
        # Deployment template state the workload model has no other place for.
        self._restart_stamps: dict[tuple[str, str], str] = {}
        self._init_lanes()
        self._init_rings()
        self._init_pods()
        self._init_series()
        self._settle()
        self._last_cap = self._svc_capacity()
        self._write_samples(np.array([0.0]), None, np.zeros((1, self._n_svc)), self._last_cap)

    # -- setup --------------------------------------------------------------------------------

    def _init_lanes(self) -> None:
        svcs = self.scenario.services
        self._n_svc = len(svcs)
        lane_svc: list[int] = []
        self._lane_version: list[str] = []
        self._lane_of: dict[tuple[int, str], int] = {}
        starts: list[int] = []
        cap, svc_s, err = [], [], []
        for i, s in enumerate(svcs):
            starts.append(len(lane_svc))
            for v in s.versions:
                self._lane_of[(i, v.name)] = len(lane_svc)
                lane_svc.append(i)
                self._lane_version.append(v.name)
                cap.append(s.capacity_rps * v.capacity_factor)
                svc_s.append(s.base_latency_ms * v.latency_factor / 1000.0)
                err.append(v.error_ratio)
        n = len(lane_svc)
        self._lane_start = np.array(starts, dtype=np.intp)
        self.lanes = LaneState(
            svc=np.array(lane_svc, dtype=np.intp), cap_rps=np.array(cap), service_s=np.array(svc_s),
            error_ratio=np.array(err), ready=np.zeros(n), share=np.zeros(n),
            slowdown=np.ones(self._n_svc),
        )  # fmt: skip
        self._svc_pods = np.zeros(self._n_svc)
        self._svc_gpus = np.zeros(self._n_svc)
        self._svc_ready = np.zeros(self._n_svc)
        self._svc_spec = np.array([float(s.replicas) for s in svcs])
        self._extra_lanes: list[int] = []
        self._views: dict[int, ServiceView] = {}  # read caches, dropped when a service changes
        self._pod_views: dict[int, PodView] = {}

    def _init_rings(self) -> None:
        self._w_keep = max(1, math.ceil(HISTORY_S / self.tick - _EPS))
        self._w60 = max(1, round(60.0 / self.tick))
        # Per-lane history for window(): HISTORY_S deep. Per-service history only for the 60 s SLO
        # check inside a block (window() sums lanes), so a fork copies little.
        self._ring_len = self._w_keep + MAX_BLOCK + 1
        self._svc_ring_len = self._w60 + MAX_BLOCK + 1
        n_lanes = len(self.lanes.svc)
        self._cum_lane = np.zeros((n_lanes, N_COLS))
        self._cum_svc = np.zeros((self._n_svc, N_COLS))
        self._ring_lane = np.zeros((self._ring_len, n_lanes, N_COLS))
        self._ring_svc = np.zeros((self._svc_ring_len, self._n_svc, N_COLS))
        self._last_lane_inc = np.zeros((n_lanes, N_COLS))
        self._last_offered = np.zeros(self._n_svc)
        self._last_cap = np.zeros(self._n_svc)

    def _init_pods(self) -> None:
        """Every service starts with `replicas` Ready pods (those that fit; the rest Pending)."""
        for w in self.workloads.items:
            self.workloads.reconcile(0.0, w)
        self.cluster.schedule(0.0)
        for pod in self.cluster.pods.values():
            if pod.node is not None:
                # Already running: each pod started one start-up before the run, as the pods of a
                # live Deployment did, so a reader that learns start-up times from pod
                # timestamps (the Kubernetes facade's startTime → Ready) sees real ones.
                pod.created_at = pod.scheduled_at = -pod.startup
                pod.ready = True
                pod.ready_at = 0.0
        self.cluster.ready_heap.clear()
        self.log.clear()  # the cluster "was already running": no start-up events
        for p in self.cluster.pending:
            p.reported_unschedulable = False
        self._dirty.update(range(self._n_svc))

    def _init_series(self) -> None:
        self._lane_cols: dict[int, NDArray[np.intp]] = {}
        svc_cols: list[list[int]] = []
        for s in self.scenario.services:
            d = {"namespace": s.namespace, "deployment": s.name}
            q = {"namespace": s.namespace, "service": s.name}
            svc_cols.append(
                [
                    self.series.column("kube_deployment_spec_replicas", d),
                    self.series.column("kube_deployment_status_replicas_ready", d),
                    self.series.column("kube_deployment_status_replicas", d),
                    self.series.column("qd_offered_load_rps", q),
                    self.series.column("qd_utilisation", q),
                ]
            )
        self._svc_cols = np.array(svc_cols, dtype=np.intp).T.reshape(-1)  # grouped by metric
        self._pools = [p.name for p in self.scenario.cluster.node_pools]
        self._pool_cols = np.array(
            [
                self.series.column(name, {"pool": pool})
                for name in POOL_SERIES
                for pool in self._pools
            ],
            dtype=np.intp,
        )
        self._pool_vals = np.zeros(len(self._pool_cols))
        self._pools_dirty = True  # a node failed or came back: recompute the pool gauges
        self._active_lanes = np.zeros(0, dtype=np.intp)
        self._write_cols: NDArray[np.intp] | None = None  # series columns of one sample row

    def _register_lane(self, lane: int) -> None:
        s = self.scenario.services[int(self.lanes.svc[lane])]
        base = {"namespace": s.namespace, "service": s.name, "version": self._lane_version[lane]}
        cols = [
            self.series.column("qd_requests_total", {**base, "code": c})
            for c in ("200", "500", "503")
        ]
        cols.append(self.series.column("qd_request_duration_seconds_sum", base))
        cols.append(self.series.column("qd_request_duration_seconds_count", base))
        cols += [
            self.series.column("qd_request_duration_seconds_bucket", {**base, "le": le_label(b)})
            for b in range(N_COLS - COL_B0)
        ]
        cols.append(self.series.column("qd_route_weight", base))
        self._lane_cols[lane] = np.array(cols, dtype=np.intp)
        self._active_lanes = np.array(sorted(self._lane_cols), dtype=np.intp)
        self._write_cols = None

    def __getstate__(self) -> dict[str, Any]:
        # A lock does not copy or pickle: a copy (a fork, an unpickled simulator) is a world of
        # its own and gets its own lock.
        state = self.__dict__.copy()
        del state["lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.lock = threading.RLock()

    # -- the clock ----------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Sim seconds since the scenario started."""
        return self._i * self.tick

    @property
    def done(self) -> bool:
        return self._i >= self.n_ticks

    def step(self) -> None:
        """One tick."""
        self._advance_ticks(1)

    def advance(self, seconds: float) -> None:
        """Runs `seconds` of sim time (rounded up to whole ticks), stopping at the end."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds})")
        self._advance_ticks(math.ceil(seconds / self.tick - _EPS))

    def run_to_end(self) -> None:
        self._advance_ticks(self.n_ticks - self._i)

    def fork(self) -> Simulator:
        """An independent copy (state, RNG, history, series); advancing it leaves self untouched."""
        with self.lock:
            memo: dict[int, Any] = {id(self.scenario): self.scenario}
            for spec in [*self.scenario.services, *self.scenario.events]:  # immutable: shared
                memo[id(spec)] = spec
            for view in [*self._views.values(), *self._pod_views.values()]:  # frozen: shared
                memo[id(view)] = view
            return copy.deepcopy(self, memo)

    def _advance_ticks(self, n: int) -> None:
        with self.lock:
            end = min(self.n_ticks, self._i + max(0, n))
            while self._i < end:
                self._settle()
                k = min(end - self._i, MAX_BLOCK, self._ticks_to_next_change())
                self._run_block(max(1, k))
                self.clock.set(self.now)
            self._settle()

    def _ticks_to_next_change(self) -> int:
        nxt = math.inf
        if self._next_event < len(self._events):
            nxt = self._events[self._next_event][1].at
        r = self.cluster.next_ready_time()
        if r is not None:
            nxt = min(nxt, r)
        if self._timers:
            nxt = min(nxt, self._timers[0][0])
        if nxt == math.inf:
            return MAX_BLOCK
        return max(1, math.ceil((nxt - self.now) / self.tick - _EPS))

    # -- discrete changes ---------------------------------------------------------------------

    def _settle(self) -> None:
        """Applies everything due at `now` until the cluster stops changing, then the lanes."""
        now = self.now
        changed: set[int] = set()
        for _ in range(100_000):
            self._fire_due(now)
            self.cluster.pop_ready(now)
            dirty = self._dirty | self.cluster.dirty_svcs
            if not dirty:
                break
            changed |= dirty
            self._dirty = set()
            self.cluster.dirty_svcs = set()
            for i in sorted(dirty):
                self.workloads.reconcile(now, self.workloads.items[i])
            self.cluster.schedule(now)
            if not (self._dirty or self.cluster.dirty_svcs):
                break
        if changed:
            self._refresh(changed)
        if changed or self._pools_dirty:
            self._pool_gauges()
            self._pools_dirty = False

    def _pool_gauges(self) -> None:
        """Requested and allocatable cpu/GPU and ready nodes per pool (for the series)."""
        n = len(self._pools)
        vals = np.zeros((len(POOL_SERIES), n))
        index = {p: i for i, p in enumerate(self._pools)}
        for node in self.cluster.nodes:
            j = index[node.pool]
            vals[0, j] += node.used_cpu
            vals[2, j] += node.used_gpu
            if node.ready:
                vals[1, j] += node.cpu
                vals[3, j] += node.gpu
                vals[4, j] += 1
        self._pool_vals = vals.reshape(-1)

    def _fire_due(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now + _EPS:
            _, _, kind, ref, value = heapq.heappop(self._timers)
            if kind == "node_up":
                self.cluster.recover_node(now, self.cluster.node(ref))
                self._pools_dirty = True
                self._dirty.update(range(self._n_svc))  # pending pods may fit now
            elif kind == "slow_end":
                i = int(ref)
                w = self.workloads.items[i]
                w.slowdown /= value
                self._dirty.add(i)
        while self._next_event < len(self._events):
            index, ev = self._events[self._next_event]
            if ev.at > now + _EPS:
                break
            self._next_event += 1
            self._fire(now, index, ev)

    def _timer(self, t: float, kind: str, ref: str, value: float = 0.0) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (t, self._timer_seq, kind, ref, value))

    def _fire(self, now: float, index: int, ev: ScenarioEvent) -> None:
        if isinstance(ev, NodeFailure):
            nodes = [n for n in self.cluster.nodes if n.pool == ev.pool and n.ready][: ev.count]
            hit: set[int] = set()
            self._pools_dirty = True
            for node in nodes:
                hit.update(p.svc for p in self.cluster.fail_node(now, node))
                if ev.duration is not None:
                    self._timer(ev.at + ev.duration, "node_up", node.name)
            self.metrics.note_fault(index, ev.type, ev.at, tuple(sorted(hit)))
            self._dirty |= hit
            return
        svc = self._by_key[self.scenario.find_service(ev.service).key]
        w = self.workloads.items[svc]
        self._dirty.add(svc)
        if isinstance(ev, EventMessage):
            self.log.emit(
                EventView(
                    t=now, type="Normal" if ev.reason == "Normal" else "Warning",
                    reason=ev.reason, message=ev.message, namespace=w.spec.namespace,
                    kind="Deployment", name=w.spec.name, service=w.spec.name, source="scenario",
                )
            )  # fmt: skip
            return
        self.metrics.note_fault(index, ev.type, ev.at, (svc,))
        if isinstance(ev, Deploy):
            self.workloads.deploy(now, w, ev.version, ev.canary_weight)
        elif isinstance(ev, PodCrash):
            self.workloads.crash(now, w, ev.count)
        elif isinstance(ev, Slowdown):
            w.slowdown *= ev.factor
            self._timer(ev.at + ev.duration, "slow_end", str(svc), ev.factor)
        # load_spike needs nothing here: the load model reads the spikes from the scenario.

    def _refresh(self, svcs: set[int]) -> None:
        """Recomputes lane readiness and traffic shares of the services that changed."""
        lanes = self.lanes
        for i in svcs:
            self._views.pop(i, None)
        if self._pod_views:  # drop cached pod views of these services (and of deleted pods)
            live = self.cluster.by_uid
            self._pod_views = {
                uid: v
                for uid, v in self._pod_views.items()
                if uid in live and live[uid].svc not in svcs
            }
        for i in sorted(svcs):
            w = self.workloads.items[i]
            pods = self.cluster.by_svc[i]
            lo = int(self._lane_start[i])
            hi = lo + len(w.spec.versions)
            lanes.ready[lo:hi] = 0.0
            lanes.share[lo:hi] = 0.0
            prim: dict[str, int] = {}
            has_pods: set[str] = set()
            for p in pods:
                has_pods.add(p.version)
                if p.ready:
                    lanes.ready[self._lane_of[(i, p.version)]] += 1
                    if p.role == "primary":
                        prim[p.version] = prim.get(p.version, 0) + 1
            wc = w.canary.weight / 100.0 if w.canary is not None else 0.0
            total = sum(prim.values())
            if total > 0:
                for v, c in prim.items():
                    lanes.share[self._lane_of[(i, v)]] += (1.0 - wc) * c / total
            else:
                lanes.share[self._lane_of[(i, w.version)]] += 1.0 - wc
            if w.canary is not None:
                lanes.share[self._lane_of[(i, w.canary.version)]] += wc
            lanes.slowdown[i] = w.slowdown
            self._svc_pods[i] = len(pods)
            self._svc_gpus[i] = sum(p.gpu for p in pods)
            self._svc_ready[i] = sum(1 for p in pods if p.ready)
            self._svc_spec[i] = w.replicas
            for lane in range(lo, hi):
                active = lanes.share[lane] > 0 or self._lane_version[lane] in has_pods
                if active and lane not in self._lane_cols:
                    self._register_lane(lane)
        first = set(self._lane_start.tolist())
        self._extra_lanes = [
            lane
            for lane in range(len(lanes.svc))
            if lane not in first and (lanes.share[lane] > 0 or lanes.ready[lane] > 0)
        ]

    # -- the numeric block --------------------------------------------------------------------

    def _run_block(self, k: int) -> None:
        i0 = self._i
        tick = self.tick
        offered = self.load.offered(i0, k)  # (k, S)
        inc, cap = block_increments(offered, self.lanes, tick)
        svc_inc = self._per_service(inc)  # (k, S, F)
        snap = _running_total(inc, self._cum_lane)  # (k, L, F) cumulative since t = 0
        self._cum_lane = snap[-1].copy()
        svc_snap = _running_total(svc_inc, self._cum_svc)
        self._cum_svc = svc_snap[-1].copy()
        self._ring_lane[self._ring_rows(i0, k, self._ring_len)] = snap
        self._ring_svc[self._ring_rows(i0, k, self._svc_ring_len)] = svc_snap
        # The 60 s window ending with each tick, for the SLO check.
        first = i0 - self._w60
        if first >= 0:
            win = svc_snap - self._ring_svc[self._ring_rows(first, k, self._svc_ring_len)]
        else:
            base_idx = first + np.arange(k)
            base = self._ring_svc[base_idx % self._svc_ring_len] * (base_idx >= 0)[:, None, None]
            win = svc_snap - base
        p95 = histogram_quantile(0.95, win[..., COL_B0:]) * 1000.0
        w_off = win[..., COL_OFFERED]
        w_fail = win[..., COL_ERR] + win[..., COL_DROP]
        err = np.divide(w_fail, w_off, out=np.full_like(w_off, np.nan), where=w_off > 0)
        t_end: F64 = np.arange(i0 + 1, i0 + k + 1, dtype=np.float64) * tick
        self.metrics.add_block(
            t_end=t_end, p95_ms=p95, error_ratio=err, offered_n=svc_inc[..., COL_OFFERED],
            failed_n=svc_inc[..., COL_ERR] + svc_inc[..., COL_DROP], offered_rps=offered,
            pods=self._svc_pods, gpus=self._svc_gpus, ready=self._svc_ready,
        )  # fmt: skip
        svc_cap = self._svc_capacity(cap)
        self._last_lane_inc = inc[-1].copy()
        self._last_offered = offered[-1].copy()
        self._last_cap = svc_cap
        self._i = i0 + k
        sample_rows = _crossings(t_end, tick, self.series.sample_every)
        if sample_rows.size:
            self._write_samples(
                t_end[sample_rows], snap[sample_rows], offered[sample_rows], svc_cap
            )

    def _per_service(self, per_lane: F64) -> F64:
        """Sums lanes into services: each service's first lane, plus its other lanes that carry
        anything (idle lanes are exact zeros, so skipping them changes no bit)."""
        out: F64 = per_lane[:, self._lane_start]
        for lane in self._extra_lanes:
            out[:, self.lanes.svc[lane]] += per_lane[:, lane]
        return out

    @staticmethod
    def _ring_rows(start: int, k: int, size: int) -> slice | NDArray[np.intp]:
        """Ring positions of ticks start … start+k−1: a slice unless they wrap around."""
        lo = start % size
        if lo + k <= size:
            return slice(lo, lo + k)
        out: NDArray[np.intp] = (start + np.arange(k)) % size
        return out

    def _svc_capacity(self, lane_cap: F64 | None = None) -> F64:
        """Requests/s each service can serve on the lanes that receive traffic."""
        lanes = self.lanes
        per_lane: F64 = (
            lanes.ready * lanes.cap_rps / lanes.slowdown[lanes.svc]
            if lane_cap is None
            else lane_cap
        )
        live = lanes.share > 0
        out: F64 = np.bincount(lanes.svc, per_lane * live, self._n_svc).astype(np.float64)
        return out

    def _write_samples(self, t: F64, snap: F64 | None, offered: F64, cap: F64) -> None:
        m = len(t)
        n = self._n_svc
        act = self._active_lanes
        if self._write_cols is None:
            lane_cols = [self._lane_cols[int(a)] for a in act]
            self._write_cols = np.concatenate([self._svc_cols, self._pool_cols, *lane_cols])
        vals = np.empty((m, len(self._write_cols)))
        vals[:, 0:n] = self._svc_spec
        vals[:, n : 2 * n] = self._svc_ready
        vals[:, 2 * n : 3 * n] = self._svc_pods
        vals[:, 3 * n : 4 * n] = offered
        np.divide(offered, cap, out=vals[:, 4 * n : 5 * n], where=cap > 0)
        vals[:, 4 * n : 5 * n][:, cap <= 0] = np.where(offered[:, cap <= 0] > 0, np.inf, 0.0)
        n_pool = len(self._pool_vals)
        vals[:, 5 * n : 5 * n + n_pool] = self._pool_vals
        if act.size:
            per_lane = len(_SAMPLED) + 1
            lane_vals = vals[:, 5 * n + n_pool :].reshape(m, act.size, per_lane)
            lane_vals[:, :, :-1] = 0.0 if snap is None else snap[:, act][:, :, _SAMPLED]
            lane_vals[:, :, -1] = self.lanes.share[act] * 100.0
        self.series.append(t, self._write_cols, vals)

    # -- reads --------------------------------------------------------------------------------

    def _svc_index(self, namespace: str, name: str) -> int:
        i = self._by_key.get((namespace, name))
        if i is None:
            raise NotFound(f"no service {namespace}/{name}")
        return i

    def _view(self, w: Workload) -> ServiceView:
        pods = self.cluster.by_svc[w.idx]
        s = w.spec
        return ServiceView(
            namespace=s.namespace, name=s.name, version=w.version, revision=w.current.number,
            spec_replicas=w.replicas, ready_replicas=sum(1 for p in pods if p.ready),
            pods=len(pods), pending=sum(1 for p in pods if p.node is None),
            starting=sum(1 for p in pods if p.node is not None and not p.ready),
            rolling_out=w.rolling, canary_version=w.canary.version if w.canary else None,
            canary_replicas=w.canary.replicas if w.canary else 0,
            route_weights=self.workloads.weights(w), min_replicas=s.min_replicas,
            max_replicas=s.max_replicas, slo_p95_latency_ms=s.slo.p95_latency_ms,
            slo_error_ratio=s.slo.error_ratio,
            capacity_rps=s.capacity_rps * s.version(w.version).capacity_factor,
            base_latency_ms=s.base_latency_ms, slowdown=w.slowdown, pod_cpu=s.pod.cpu,
            pod_memory_gib=s.pod.memory_gib, pod_gpu=s.pod.gpu, startup_s=s.pod.startup,
            versions=tuple(v.name for v in s.versions),
        )  # fmt: skip

    def _cached_view(self, i: int) -> ServiceView:
        view = self._views.get(i)
        if view is None:
            view = self._views[i] = self._view(self.workloads.items[i])
        return view

    def services(self) -> list[ServiceView]:
        """Every service. Views are cached until the service changes: do not mutate them."""
        return [self._cached_view(i) for i in range(self._n_svc)]

    def service(self, namespace: str, name: str) -> ServiceView:
        return self._cached_view(self._svc_index(namespace, name))

    def revisions(self, namespace: str, name: str) -> list[RevisionView]:
        w = self.workloads.items[self._svc_index(namespace, name)]
        pods = self.cluster.by_svc[w.idx]
        return [
            RevisionView(
                number=r.number, version=r.version, created_at=r.created_at,
                replicas=sum(1 for p in pods if p.gen == r.gen),
                ready_replicas=sum(1 for p in pods if p.gen == r.gen and p.ready),
                current=r.gen == w.gen,
                canary=w.canary is not None and r.gen == w.canary.gen,
                replica_set=w.rs_name(r.gen),
            )
            for r in sorted(w.revisions, key=lambda r: r.number)
        ]  # fmt: skip

    def _pod_view(self, p: Pod) -> PodView:
        w = self.workloads.items[p.svc]
        rev = w.revision_of(p.gen)
        return PodView(
            name=p.name, namespace=p.namespace, service=p.service, version=p.version,
            revision=rev.number if rev else None, role=p.role, phase=p.phase, node=p.node,
            created_at=p.created_at, scheduled_at=p.scheduled_at,
            ready_at=p.ready_at if p.ready else None, cpu=p.cpu, memory_gib=p.memory_gib,
            gpu=p.gpu,
        )  # fmt: skip

    def pods(self, namespace: str | None = None, service: str | None = None) -> list[PodView]:
        cache = self._pod_views
        out: list[PodView] = []
        for p in self.cluster.pods.values():
            if (namespace is None or p.namespace == namespace) and (
                service is None or p.service == service
            ):
                view = cache.get(p.uid)
                if view is None:
                    view = cache[p.uid] = self._pod_view(p)
                out.append(view)
        return out

    def nodes(self) -> list[NodeView]:
        return [
            NodeView(
                name=n.name, pool=n.pool, ready=n.ready, cpu=n.cpu, memory_gib=n.memory_gib,
                gpu=n.gpu, cpu_used=n.used_cpu, memory_used_gib=n.used_mem, gpu_used=n.used_gpu,
                pods=tuple(n.pods),
            )
            for n in self.cluster.nodes
        ]  # fmt: skip

    def events(self, since: float = 0.0) -> list[EventView]:
        """Events at or after `since`: scenario event_message and generated ones, oldest first."""
        return self.log.since(since)

    def sample(self, namespace: str, name: str) -> ServiceSample:
        """The last tick of a service (zeros before the first tick)."""
        i = self._svc_index(namespace, name)
        lo = int(self._lane_start[i])
        hi = lo + len(self.scenario.services[i].versions)
        row = self._last_lane_inc[lo:hi].sum(axis=0) / self.tick
        q = quantile_1d(0.95, row[COL_B0:]), quantile_1d(0.99, row[COL_B0:])
        off = float(row[COL_OFFERED])
        cap = float(self._last_cap[i])
        return ServiceSample(
            t=self.now, offered_rps=off, served_rps=float(row[COL_SERVED]),
            error_rps=float(row[COL_ERR]), dropped_rps=float(row[COL_DROP]),
            error_ratio=(float(row[COL_ERR] + row[COL_DROP]) / off) if off > 0 else 0.0,
            p95_ms=_ms(q[0]), p99_ms=_ms(q[1]),
            utilisation=off / cap if cap > 0 else (math.inf if off > 0 else 0.0),
            ready_replicas=int(self._svc_ready[i]), spec_replicas=int(self._svc_spec[i]),
        )  # fmt: skip

    def window(
        self, namespace: str, name: str, seconds: float = 60.0, version: str | None = None
    ) -> WindowStats:
        """Request rate, error ratio, p95/p99 over the last `seconds` (≤ 900) of one service."""
        i = self._svc_index(namespace, name)
        if seconds <= 0 or seconds > HISTORY_S + _EPS:
            raise ValueError(f"window must be within (0, {HISTORY_S:g}] seconds, got {seconds}")
        w = max(1, round(seconds / self.tick))
        if version is not None:
            lane = self._lane_of.get((i, version))
            if lane is None:
                raise NotFound(f"{namespace}/{name} has no version {version!r}")
            cols = slice(lane, lane + 1)
        else:
            first = int(self._lane_start[i])
            cols = slice(first, first + len(self.scenario.services[i].versions))
        end = self._i - 1
        if end < 0:
            return WindowStats(self.now, 0.0, 0.0, 0.0, 0.0, None, None, version)
        start = end - w
        d = self._ring_lane[end % self._ring_len, cols].sum(axis=0)
        if start >= 0:
            d -= self._ring_lane[start % self._ring_len, cols].sum(axis=0)
        secs = min(w, self._i) * self.tick
        off = float(d[COL_OFFERED])
        return WindowStats(
            t=self.now, seconds=secs, request_rate=off / secs,
            served_rate=float(d[COL_SERVED]) / secs,
            error_ratio=float(d[COL_ERR] + d[COL_DROP]) / off if off > 0 else 0.0,
            p95_ms=_ms(quantile_1d(0.95, d[COL_B0:])), p99_ms=_ms(quantile_1d(0.99, d[COL_B0:])),
            version=version,
        )  # fmt: skip

    def load_forecast(self, namespace: str, name: str, start: float, end: float) -> tuple[F64, F64]:
        """Noise-free offered load (tick start times, rps) over [start, end): for the oracle."""
        i = self._svc_index(namespace, name)
        lo, hi = math.ceil(start / self.tick - _EPS), math.ceil(end / self.tick - _EPS)
        times: F64 = np.arange(lo, hi, dtype=np.float64) * self.tick
        if times.size == 0:
            return times, np.empty(0)
        return times, self.load.expected(times, only=i)[:, 0]

    # -- act ----------------------------------------------------------------------------------

    def restart_stamp(self, namespace: str, name: str) -> str | None:
        """The `kubectl.kubernetes.io/restartedAt` stamp last written for the service, if any."""
        return self._restart_stamps.get((namespace, name))

    def stamp_restart(self, namespace: str, name: str, stamp: str) -> None:
        """Record the restartedAt stamp a rolling restart carried (the Kubernetes facade shows it
        on the Deployment's template; a client re-applying the same stamp restarts nothing)."""
        with self.lock:
            self._restart_stamps[(namespace, name)] = stamp

    def _workload(self, target: Target) -> tuple[int, Workload]:
        """`target`'s index and workload; InvalidAction when the scenario has no such service."""
        i = self._by_key.get((target.namespace, target.service))
        if i is None:
            raise InvalidAction(f"unknown service {target}")
        return i, self.workloads.items[i]

    def deploy(self, target: Target, version: str) -> ApplyOutcome:
        """Rolls `target` out to `version`, one of the versions its scenario defines, as a person
        or a pipeline would (`kubectl set image`). Not an `Action`: Quarterdeck's agents never
        deploy. A version already serving changes nothing. Raises InvalidAction otherwise."""
        i, w = self._workload(target)
        names = [v.name for v in w.spec.versions]
        if version not in names:
            known = ", ".join(names)
            raise InvalidAction(f"{target} has no version {version!r} (versions: {known})")
        if w.canary is not None:
            raise InvalidAction(
                f"{target} runs a canary of {w.canary.version}: promote it or roll it back first"
            )
        with self.lock:
            now = self.now
            before = w.version
            self.workloads.deploy(now, w, version, None)
            self._dirty.add(i)
            self._settle()
        msg = f"rolling out {version}" if before != version else f"{version} already serves"
        return ApplyOutcome(now, str(target), "deploy", msg, None)

    def apply(self, target: Target, action: Action) -> ApplyOutcome:
        """Applies one action now. Raises InvalidAction (with the reason) and changes nothing if
        it cannot be applied. Bounds (min/max replicas) are NOT enforced here: that is the
        guard's and the controllers' job; nothing is clamped either."""
        i, w = self._workload(target)
        now = self.now
        revision: int | None = None
        if isinstance(action, ScaleAction):
            msg = self.workloads.scale(now, w, action.replicas)
        elif isinstance(action, RollbackAction):
            msg, revision = self.workloads.rollback(now, w, action.to_revision, action.to_version)
        elif isinstance(action, RouteAction):
            msg = self.workloads.route(now, w, dict(action.weights))
        elif isinstance(action, RestartAction):
            msg = self.workloads.restart(now, w, action.pods)
        else:  # pragma: no cover - the Action union is closed
            raise InvalidAction(f"unknown action {action!r}")
        self._dirty.add(i)
        self._settle()
        return ApplyOutcome(now, str(target), action.kind, msg, revision)


def _running_total(inc: F64, start: F64) -> F64:
    """start + cumulative sum of `inc` over its first axis (a row loop: for the short blocks
    used here it is several times faster than np.cumsum over axis 0, with the same result)."""
    out = inc.copy()
    out[0] += start
    for j in range(1, len(out)):
        out[j] += out[j - 1]
    return out


def _ms(seconds: F64 | float) -> float | None:
    v = float(seconds)
    return None if math.isnan(v) else v * 1000.0
