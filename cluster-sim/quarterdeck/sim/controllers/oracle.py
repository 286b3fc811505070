"""`oracle`: the limit, not a product. It reads the scenario's future and acts ahead of time.

What it knows that no real controller can:
- the noise-free offered load of every service at every future tick (base × diurnal × spikes,
  `Simulator.load_forecast`), and the noise level it will be multiplied by;
- every scenario event before it happens: spikes, deploys (and each version's latency, error and
  capacity factors), node failures (which nodes: the engine fails the first ready nodes of the
  pool), pod crashes, slowdowns;
- the simulator's queueing model (`quarterdeck.sim.latency`), so it can compute how many ready
  replicas keep p95 under the SLO for a given load.

What it still has to respect, like every controller: min/max replicas, pod startup (a pod asked
for at t serves from t + startup at the earliest), node capacity (it cannot place pods that do
not fit), the controller interval (it acts only when the runner calls `decide`), and the action
set (scale, rollback, route, restart).

Its decisions, every interval, per service:
1. A version that regresses on the current one (more errors, ≥ 10 % slower, ≥ 10 % less
   capacity) is rolled back at the first sync after its deploy — before its first pod is Ready,
   so it never serves. A canary of a version at least as good is promoted at once.
2. Replicas = the most any tick needs from now until one startup plus one interval ahead (the
   soonest a later sync could still add ready capacity), where a tick needs enough ready pods for
   its noise-inflated load to keep p95 ≤ `p95_margin` × SLO; plus the pods a crash or a node
   failure in that window will kill, held until their replacements have had time to start.
   Scaling down happens only when that look-ahead maximum allows it, so it is always safe.

It is an upper bound for comparison (how close is a controller to the best possible?), and its
assumptions are optimistic on purpose: perfect foresight, no guard, no approvals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from quarterdeck.core.models import ActionProposal, RollbackAction, ScaleAction, Target
from quarterdeck.sim.controllers.base import ControllerStats
from quarterdeck.sim.latency import bucket_cdf, histogram_quantile, wait_parameters
from quarterdeck.sim.scenario import Deploy, NodeFailure, PodCrash, Scenario, Service, Slowdown

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator
    from quarterdeck.sim.views import ServiceView

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class OracleSettings:
    p95_margin: float = 0.85
    """Plan for p95 ≤ this × SLO: the 60 s window mixes ticks, and the noise is per tick."""
    noise_sigmas: float = 3.0
    """Provision for load × (1 + this × noise): the per-tick noise is N(0, noise)."""
    slack_s: float = 30.0
    """Extra look-ahead beyond startup + interval, for scheduling and tick rounding."""
    fallback_utilisation: float = 0.7
    """When no replica count meets the SLO (a slowdown makes even an idle pod too slow), size for
    this utilisation instead of asking for max_replicas that cannot help."""


def p95_ms(load: F64, replicas: F64, cap_rps: float, service_s: float) -> F64:
    """The simulator's p95 (ms) for `load` rps served by `replicas` ready pods of one version."""
    cap = replicas * cap_rps
    servers = cap * service_s
    served = np.minimum(load, cap)
    p_wait, rate = wait_parameters(served, cap, servers)
    # One lane, one row per replica count: bucket_cdf takes (L,) service times, (k, L) the rest.
    cdf = bucket_cdf(np.array([service_s]), p_wait[:, None], rate[:, None])[:, 0, :]
    cum = np.concatenate([cdf, np.ones((cdf.shape[0], 1))], axis=-1)
    out: F64 = histogram_quantile(0.95, cum) * 1000.0
    return out


def max_load_per_replicas(
    n_max: int, cap_rps: float, service_s: float, p95_target_ms: float
) -> F64:
    """For N = 1..n_max ready replicas, the most load (rps) whose p95 stays ≤ the target.

    0 where even a trickle misses the target. Non-decreasing in N. Bisection on utilisation.
    """
    n = np.arange(1, n_max + 1, dtype=np.float64)
    lo = np.zeros_like(n)
    hi = np.full_like(n, 0.99)
    for _ in range(30):
        mid = (lo + hi) / 2
        ok = p95_ms(mid * n * cap_rps, n, cap_rps, service_s) <= p95_target_ms
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    feasible = p95_ms(np.full_like(n, 1e-6), n, cap_rps, service_s) <= p95_target_ms
    out: F64 = np.where(feasible, lo * n * cap_rps, 0.0)
    return np.maximum.accumulate(out)


def is_regression(svc: Service, version: str, against: str) -> bool:
    """Whether `version` is worse than `against` in errors, latency or capacity."""
    v, cur = svc.version(version), svc.version(against)
    return (
        v.error_ratio > cur.error_ratio
        or v.latency_factor > cur.latency_factor * 1.1
        or v.capacity_factor < cur.capacity_factor * 0.9
    )


@dataclass
class _Plan:
    """One service's future, per tick from t = 0."""

    required: I64  # ready replicas each tick needs
    crashes: list[tuple[float, int]]  # (at, pods killed)


class OracleController:
    """`oracle`: see the module docstring."""

    name = "oracle"

    def __init__(self, settings: OracleSettings | None = None) -> None:
        self.settings = settings or OracleSettings()
        self._plans: dict[tuple[str, str], _Plan] = {}
        self._failures: list[NodeFailure] = []
        self._last_good: dict[tuple[str, str], str] = {}
        self._seq = 0

    def stats(self) -> ControllerStats:
        return ControllerStats()

    # -- reading the future -------------------------------------------------------------------

    def start(self, sim: Simulator) -> None:
        scn = sim.scenario
        self._seq = 0
        self._last_good = {svc.key: svc.current_version for svc in scn.services}
        self._failures = [e for e in scn.events if isinstance(e, NodeFailure)]
        self._plans = {svc.key: self._plan(sim, scn, svc) for svc in scn.services}

    def _plan(self, sim: Simulator, scn: Scenario, svc: Service) -> _Plan:
        s = self.settings
        _, load = sim.load_forecast(svc.namespace, svc.name, 0.0, scn.duration + scn.tick)
        n = len(load)
        t = np.arange(n) * scn.tick
        load = load * (1.0 + s.noise_sigmas * svc.load.noise)
        # The version serving each tick, assuming regressions are rolled back before they serve
        # and improvements are promoted: a good deploy changes the factors from its `at` (the
        # worse of old and new while the rollout runs, to be safe).
        cur = svc.version(svc.current_version)
        cap = np.full(n, svc.capacity_rps * cur.capacity_factor)
        lat = np.full(n, svc.base_latency_ms * cur.latency_factor / 1000.0)
        current = svc.current_version
        slow = np.ones(n)
        crashes: list[tuple[float, int]] = []
        for e in sorted(scn.events, key=lambda e: e.at):
            if isinstance(e, NodeFailure) or scn.find_service(e.service).key != svc.key:
                continue
            if isinstance(e, Deploy) and not is_regression(svc, e.version, current):
                new = svc.version(e.version)
                rollout_end = e.at + (svc.replicas + 1) * svc.pod.startup + 60.0
                during = (t >= e.at) & (t < rollout_end)
                after = t >= rollout_end
                new_cap = svc.capacity_rps * new.capacity_factor
                new_lat = svc.base_latency_ms * new.latency_factor / 1000.0
                cap[during] = np.minimum(cap[during], new_cap)
                lat[during] = np.maximum(lat[during], new_lat)
                cap[after] = new_cap
                lat[after] = new_lat
                current = e.version
            elif isinstance(e, Slowdown):
                slow[(t >= e.at) & (t < e.at + e.duration)] *= e.factor
            elif isinstance(e, PodCrash):
                crashes.append((e.at, e.count))
        return _Plan(self._required(svc, load, cap / slow, lat * slow), crashes)

    def _required(self, svc: Service, load: F64, cap: F64, service_s: F64) -> I64:
        """Ready replicas each tick needs (may exceed max_replicas; the caller clamps)."""
        s = self.settings
        n_max = max(svc.max_replicas, 1)
        target = s.p95_margin * svc.slo.p95_latency_ms
        out = np.zeros(len(load), dtype=np.int64)
        combos = np.unique(np.stack([cap, service_s], axis=1), axis=0)
        for c, st in combos:
            mask = (cap == c) & (service_s == st)
            lmax = max_load_per_replicas(n_max, float(c), float(st), target)
            if lmax[-1] > 0:
                need = np.searchsorted(lmax, load[mask], side="left") + 1
            else:
                need = np.ceil(load[mask] / (s.fallback_utilisation * c)).astype(np.int64)
            out[mask] = np.maximum(need, 1)
        return out

    # -- acting ahead of time -----------------------------------------------------------------

    def decide(self, sim: Simulator) -> Sequence[ActionProposal]:
        now = sim.now
        interval = sim.scenario.controller_interval
        doomed = self._doomed_pods(sim, now, interval)
        out: list[ActionProposal] = []
        for view in sim.services():
            key = (view.namespace, view.name)
            spec = sim.scenario.find_service(f"{view.namespace}/{view.name}")
            fix = self._version_fix(spec, view)
            if fix is not None:
                out.append(self._proposal(view, fix[0], now, fix[1]))
            desired, why = self._replicas(sim, view, self._plans[key], doomed.get(key, 0))
            if desired != view.spec_replicas:
                out.append(self._proposal(view, ScaleAction(replicas=desired), now, why))
        return out

    def _version_fix(self, spec: Service, view: ServiceView) -> tuple[RollbackAction, str] | None:
        if view.canary_version is not None:
            if is_regression(spec, view.canary_version, view.version):
                why = f"oracle: canary {view.canary_version} regresses on {view.version}; abort"
                return RollbackAction(to_version=view.version), why
            why = f"oracle: canary {view.canary_version} is at least as good; promote it"
            return RollbackAction(to_version=view.canary_version), why
        good = self._last_good.get((view.namespace, view.name), view.version)
        if view.version != good and is_regression(spec, view.version, good):
            return RollbackAction(to_version=good), f"oracle: {view.version} regresses; undo"
        self._last_good[(view.namespace, view.name)] = view.version
        return None

    def _doomed_pods(
        self, sim: Simulator, now: float, interval: float
    ) -> dict[tuple[str, str], int]:
        """Pods, per service, on nodes that fail within the look-ahead: the engine fails the
        first `count` ready nodes of the pool (in node order) when the event fires."""
        out: dict[tuple[str, str], int] = {}
        nodes = sim.nodes()
        pods = {p.name: (p.namespace, p.service, p.phase) for p in sim.pods()}
        down: set[str] = set()
        for e in self._failures:
            if e.at < now - 1e-9:
                continue
            ready = [n for n in nodes if n.pool == e.pool and n.ready and n.name not in down]
            hit = ready[: e.count]
            down.update(n.name for n in hit)
            for node in hit:
                for name in node.pods:
                    ns, svc, _ = pods[name]
                    key = (ns, svc)
                    spec = sim.scenario.find_service(f"{ns}/{svc}")
                    lead = spec.pod.startup + interval + self.settings.slack_s
                    if e.at - now <= lead:
                        out[key] = out.get(key, 0) + 1
        return out

    def _replicas(
        self, sim: Simulator, view: ServiceView, plan: _Plan, doomed: int
    ) -> tuple[int, str]:
        now = sim.now
        tick = sim.scenario.tick
        interval = sim.scenario.controller_interval
        lead = view.startup_s + interval + self.settings.slack_s
        i0 = min(len(plan.required) - 1, math.floor(now / tick + 1e-9))
        i1 = min(len(plan.required), math.ceil((now + lead) / tick) + 1)
        need = int(plan.required[i0:i1].max())
        extra = 0
        for at, count in plan.crashes:
            # Cover the crash from one lead before it until its replacements are Ready.
            if at - lead <= now <= at + view.startup_s + self.settings.slack_s:
                extra += count
        extra += doomed
        desired = min(max(need + extra, view.min_replicas), view.max_replicas)
        why = f"oracle: {need} ready replicas cover the load until t+{lead:.0f}s" + (
            f", +{extra} for pods about to be lost" if extra else ""
        )
        return desired, why

    def _proposal(
        self, view: ServiceView, action: ScaleAction | RollbackAction, now: float, why: str
    ) -> ActionProposal:
        self._seq += 1
        return ActionProposal(
            id=f"oracle-{self._seq:06d}",
            target=Target(namespace=view.namespace, service=view.name),
            action=action,
            reason=why,
            requested_by=self.name,
            created_at=now,
        )
