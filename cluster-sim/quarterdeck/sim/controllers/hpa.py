"""The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) with its defaults, as a bench controller.

This is a re-implementation from the documented behaviour, not a port. Sources, cited beside each
default below:

- [HPA docs] https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
  ("Algorithm details", "Default Behavior", "Stabilization window", "Scaling policies").
- [replica_calculator.go] kubernetes/pkg/controller/podautoscaler/replica_calculator.go
  (`GetResourceReplicas`, `groupPods`): how ready, unready and metric-less pods are counted.
- [horizontal.go] kubernetes/pkg/controller/podautoscaler/horizontal.go
  (`stabilizeRecommendationWithBehaviors`, `convertDesiredReplicasWithBehaviorRate`,
  `calculateScaleUpLimitWithScalingRules`, `calculateScaleDownLimitWithBehaviors`).

The algorithm is split the way the upstream controller splits it, into pure functions:
`desired_replicas` (the replica calculator: one metric → a raw recommendation) and `HpaScaler`
(the normaliser: stabilisation window, then rate policies, then min/max). `HpaController` feeds
them from the simulator. The metric is CPU utilisation of each pod relative to its request; the
simulator's per-pod utilisation (the fraction of a replica's capacity in use) stands in for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from quarterdeck.core.models import ActionProposal, ScaleAction, Target
from quarterdeck.sim.controllers.base import ControllerStats

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator
    from quarterdeck.sim.views import ServiceView

# ---------------------------------------------------------------------------------------------
# Defaults, each with its upstream source.
# ---------------------------------------------------------------------------------------------

SYNC_PERIOD_S = 15.0
"""`--horizontal-pod-autoscaler-sync-period`, default 15 s [HPA docs, "How does a
HorizontalPodAutoscaler work?"]. The bench's controller_interval is 15 s to match."""

TOLERANCE = 0.1
"""`--horizontal-pod-autoscaler-tolerance`, default 0.1: "The control plane skips any scaling
action if the ratio is sufficiently close to 1.0 (within a globally-configurable tolerance, 0.1
by default)" [HPA docs, "Algorithm details"]."""

TARGET_CPU_UTILIZATION = 0.70
"""HPA has no default target (the user sets `averageUtilization`). We pick 70 %, a common
production choice that leaves 30 % headroom for the time new pods take to become ready. The
docs' own examples use 50 % (walkthrough), 60 % (resource metrics) and 80 % (`kubectl
autoscale`)."""

DOWNSCALE_STABILIZATION_S = 300.0
"""`--horizontal-pod-autoscaler-downscale-stabilization`, default 5 minutes; also the default
`behavior.scaleDown.stabilizationWindowSeconds: 300` [HPA docs, "Default Behavior"]."""

CPU_INITIALIZATION_PERIOD_S = 300.0
"""`--horizontal-pod-autoscaler-cpu-initialization-period`, default 5 minutes [HPA docs,
"Algorithm details"]. Within it, a pod's CPU sample counts only once the pod is Ready and a
full metric window has passed since it turned Ready [replica_calculator.go `groupPods`]."""

INITIAL_READINESS_DELAY_S = 30.0
"""`--horizontal-pod-autoscaler-initial-readiness-delay`, default 30 s [HPA docs]. It only tells
"never became ready" from "became unready later"; `PodSample.ready_since` says that directly."""

METRIC_WINDOW_S = 30.0
"""The resource-metrics window a CPU sample covers. metrics-server reports a window of about
the kubelet's scrape resolution; we use 30 s. Used only for the "one window since Ready" rule."""


@dataclass(frozen=True)
class ScalingPolicy:
    """One `behavior.scale{Up,Down}.policies[]` entry: change at most `value` pods or percent
    of the replicas at the period's start, within any `period_s` seconds."""

    type: Literal["Pods", "Percent"]
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    """`behavior.scaleUp` or `behavior.scaleDown`."""

    stabilization_window_s: float
    policies: tuple[ScalingPolicy, ...]
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"


DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_s=0.0,
    policies=(ScalingPolicy("Percent", 100, 15.0), ScalingPolicy("Pods", 4, 15.0)),
    select_policy="Max",
)
"""[HPA docs, "Default Behavior"]: "For scaling up there is no stabilization window ... There are
2 policies where 4 pods or a 100% of the currently running replicas will be added every 15
seconds till the HPA reaches its steady state." `selectPolicy: Max` picks the larger change."""

DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_s=DOWNSCALE_STABILIZATION_S,
    policies=(ScalingPolicy("Percent", 100, 15.0),),
    select_policy="Max",
)
"""[HPA docs, "Default Behavior"]: "There is only a single policy for scaling down which allows a
100% of the currently running replicas to be removed ... the scaling target can be scaled down
to the minimum allowed replicas", after the 300 s stabilisation window."""


@dataclass(frozen=True)
class HpaSettings:
    """One HPA object's spec (minus min/max, which come from the scenario's service)."""

    target_utilization: float = TARGET_CPU_UTILIZATION
    tolerance: float = TOLERANCE
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    cpu_initialization_period_s: float = CPU_INITIALIZATION_PERIOD_S
    metric_window_s: float = METRIC_WINDOW_S


# ---------------------------------------------------------------------------------------------
# The replica calculator: pods + their CPU samples → a raw recommendation.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodSample:
    """What the HPA sees of one pod of the target: its phase, readiness and CPU sample.

    `utilization` is usage ÷ request (1.0 = 100 %), or None when the metrics API has no sample
    for the pod. `started_at` is when the pod's containers started (None while Pending);
    `ready_since` when it last turned Ready (None if it never has). Times are clock seconds.
    """

    phase: Literal["Pending", "Running", "Failed", "Terminating"]
    ready: bool
    utilization: float | None
    started_at: float | None = None
    ready_since: float | None = None


def _counts_as_ready(pod: PodSample, now: float, s: HpaSettings) -> bool:
    """Whether a Running pod with a sample is "ready" for CPU scaling [replica_calculator.go
    `groupPods`]: within the CPU initialisation period it must be Ready for at least one metric
    window; after it, it is set aside only if it is unready and never became ready."""
    if pod.started_at is None:
        return False
    if now < pod.started_at + s.cpu_initialization_period_s:
        return (
            pod.ready and pod.ready_since is not None and now >= pod.ready_since + s.metric_window_s
        )
    # After the initialisation period an unready pod is set aside only if it never became ready
    # (upstream: its last transition was within the initial readiness delay after start).
    return pod.ready or pod.ready_since is not None


@dataclass(frozen=True)
class Recommendation:
    """The calculator's answer, with the numbers that explain it."""

    replicas: int
    usage_ratio: float  # mean utilisation of counted pods ÷ target, before any adjustment
    ready: int  # pods whose sample counted
    ignored: int  # pods set aside (pending, unready, not a full window since Ready)
    missing: int  # pods without a sample


def desired_replicas(
    current_replicas: int, pods: Sequence[PodSample], now: float, s: HpaSettings
) -> Recommendation | None:
    """`GetResourceReplicas` for a CPU utilisation target: the replica count the metric asks for.

    Returns None when no pod has a usable sample (upstream: "did not receive metrics for any
    ready pods"; the HPA then leaves the scale alone).
    """
    ready_utils: list[float] = []
    ignored = missing = 0
    for pod in pods:
        if pod.phase in ("Failed", "Terminating"):
            continue  # discarded: "All Pods with a deletion timestamp set ... failed Pods"
        if pod.phase == "Pending":
            ignored += 1
            continue
        if pod.utilization is None:
            missing += 1
            continue
        if not _counts_as_ready(pod, now, s):
            ignored += 1
            continue
        ready_utils.append(pod.utilization)
    if not ready_utils:
        return None

    n_ready = len(ready_utils)
    target_pct = round(s.target_utilization * 100)
    usage_m = sum(_milli(u) for u in ready_utils)
    ratio = _utilization_ratio(usage_m, n_ready, target_pct)
    rebalance_ignored = ignored > 0 and ratio > 1.0
    if not rebalance_ignored and missing == 0:
        if abs(1.0 - ratio) <= s.tolerance:
            return Recommendation(current_replicas, ratio, n_ready, ignored, missing)
        return Recommendation(math.ceil(ratio * n_ready), ratio, n_ready, ignored, missing)

    # Docs: "If there were any missing metrics, the control plane recomputes the average more
    # conservatively, assuming those pods were consuming 100% of the desired value in case of a
    # scale down, and 0% in case of a scale up" and "if any not-yet-ready pods were present, and
    # the workload would have scaled up ... assumes that the not-yet-ready pods are consuming 0%".
    # For CPU, replica_calculator.go fills a missing pod with its full *request* (100 %
    # utilisation) on a scale-down; we follow the code.
    count = n_ready + missing + (ignored if rebalance_ignored else 0)
    if missing and ratio < 1.0:
        usage_m += missing * _milli(1.0)
    new_ratio = _utilization_ratio(usage_m, count, target_pct)
    # "If the new ratio reverses the scale direction, or is within the tolerance, the controller
    # doesn't take any scaling action."
    if (
        abs(1.0 - new_ratio) <= s.tolerance
        or (ratio < 1.0 < new_ratio)
        or (ratio > 1.0 > new_ratio)
    ):
        return Recommendation(current_replicas, ratio, n_ready, ignored, missing)
    replicas = math.ceil(new_ratio * count)
    if (new_ratio < 1.0 and replicas > current_replicas) or (
        new_ratio > 1.0 and replicas < current_replicas
    ):
        return Recommendation(current_replicas, ratio, n_ready, ignored, missing)
    return Recommendation(replicas, ratio, n_ready, ignored, missing)


def _milli(utilization: float) -> int:
    """A CPU sample in millicores of a 1000m request (the metrics API reports integers)."""
    return round(utilization * 1000)


def _utilization_ratio(usage_m: int, pods: int, target_pct: int) -> float:
    """[metrics/utilization.go `GetResourceUtilizationRatio`]: utilisation is an integer percent
    (usage × 100 ÷ requests, truncated), divided by the target percent. Integer arithmetic is
    why "200m over 100m" is exactly 2.0 rather than 2.0000000000000004."""
    utilization_pct = usage_m * 100 // (pods * 1000)
    return utilization_pct / target_pct


# ---------------------------------------------------------------------------------------------
# The normaliser: stabilisation window, rate policies, min/max — with its memory.
# ---------------------------------------------------------------------------------------------


@dataclass
class HpaScaler:
    """One HPA's memory between syncs: past recommendations and past scale events.

    `normalize` is deterministic in its inputs and this memory; it is the only thing that
    changes the memory, and it returns the replica count the HPA would write to `scale`.
    """

    settings: HpaSettings = field(default_factory=HpaSettings)
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)
    reason: str = ""

    def normalize(
        self, now: float, current: int, desired: int, min_replicas: int, max_replicas: int
    ) -> int:
        """`normalizeDesiredReplicasWithBehaviors`: stabilise, then limit the rate and bounds."""
        stabilized = self._stabilize(now, current, desired)
        final = self._limit_rate(now, current, stabilized, min_replicas, max_replicas)
        if final != current:
            events = self.scale_up_events if final > current else self.scale_down_events
            events.append((now, abs(final - current)))
        return final

    def _stabilize(self, now: float, current: int, desired: int) -> int:
        """[horizontal.go `stabilizeRecommendationWithBehaviors`]: the scale-up bound is the
        lowest recommendation within the scale-up window, the scale-down bound the highest within
        the scale-down window ("uses the highest value from the specified interval"); the
        current count is clamped between them. The raw recommendation is then recorded."""
        up_cutoff = now - self.settings.scale_up.stabilization_window_s
        down_cutoff = now - self.settings.scale_down.stabilization_window_s
        up_rec = desired
        down_rec = desired
        for t, rec in self.recommendations:
            if t > up_cutoff:
                up_rec = min(up_rec, rec)
            if t > down_cutoff:
                down_rec = max(down_rec, rec)
        result = min(max(current, up_rec), down_rec)
        oldest = min(up_cutoff, down_cutoff)
        self.recommendations = [(t, r) for t, r in self.recommendations if t > oldest]
        self.recommendations.append((now, desired))
        return result

    def _changed_within(self, events: list[tuple[float, int]], now: float, period: float) -> int:
        return sum(change for t, change in events if t > now - period)

    def _limit_rate(
        self, now: float, current: int, desired: int, min_replicas: int, max_replicas: int
    ) -> int:
        """[horizontal.go `convertDesiredReplicasWithBehaviorRate`]."""
        if desired > current:
            limit = self._scale_up_limit(now, current)
            limit = max(limit, current)  # "shouldn't scale up further until events expire"
            if max_replicas > limit:
                self.reason = "ScaleUpLimit"
                ceiling = limit
            else:
                self.reason = "TooManyReplicas"
                ceiling = max_replicas
            return min(desired, ceiling)
        if desired < current:
            limit = self._scale_down_limit(now, current)
            limit = min(limit, current)
            if min_replicas < limit:
                self.reason = "ScaleDownLimit"
                floor = limit
            else:
                self.reason = "TooFewReplicas"
                floor = min_replicas
            return max(desired, floor)
        self.reason = "DesiredWithinRange"
        return desired

    def _period_start(self, now: float, current: int, period: float) -> int:
        added = self._changed_within(self.scale_up_events, now, period)
        removed = self._changed_within(self.scale_down_events, now, period)
        return current - added + removed

    def _scale_up_limit(self, now: float, current: int) -> int:
        """[horizontal.go `calculateScaleUpLimitWithScalingRules`]: per policy, the replicas at
        the start of its period plus `value` pods or `value` % (rounded up); Max picks the
        largest, Min the smallest."""
        rules = self.settings.scale_up
        if rules.select_policy == "Disabled":
            return current
        proposals = []
        for p in rules.policies:
            start = self._period_start(now, current, p.period_s)
            if p.type == "Pods":
                proposals.append(start + p.value)
            else:
                proposals.append(math.ceil(start * (1 + p.value / 100)))
        return max(proposals) if rules.select_policy == "Max" else min(proposals)

    def _scale_down_limit(self, now: float, current: int) -> int:
        """[horizontal.go `calculateScaleDownLimitWithBehaviors`]: per policy, the replicas at
        the start of its period minus `value` pods or `value` % (rounded down); Max change picks
        the smallest floor."""
        rules = self.settings.scale_down
        if rules.select_policy == "Disabled":
            return current
        proposals = []
        for p in rules.policies:
            start = self._period_start(now, current, p.period_s)
            if p.type == "Pods":
                proposals.append(start - p.value)
            else:
                proposals.append(int(start * (1 - p.value / 100)))
        return min(proposals) if rules.select_policy == "Max" else max(proposals)


# ---------------------------------------------------------------------------------------------
# The controller: one HPA per service, fed from the simulator's read API.
# ---------------------------------------------------------------------------------------------


def pod_samples(sim: Simulator, window_s: float) -> dict[tuple[str, str], list[PodSample]]:
    """What metrics-server + the pod lister would tell each service's HPA, read from the sim.

    Only primary pods count: with Flagger the HPA targets the primary Deployment (the canary has
    its own). A ready pod's CPU utilisation is its version's *served* rate over the last
    `window_s` ÷ the ready capacity of that version — the busy fraction of the pod in the
    simulator's queueing model. Requests dropped for lack of capacity cost no CPU, so a
    saturated pod reads about 100 % (requests = limits, Guaranteed QoS, as model servers are
    usually run): like the real HPA, it scales a saturated service by ≈ 1/target per sync, not
    in one jump to the offered load.
    """
    by_service: dict[tuple[str, str], list[PodSample]] = {}
    ready_by_version: dict[tuple[str, str, str], int] = {}
    pods = [p for p in sim.pods() if p.role == "primary"]
    for p in pods:
        if p.phase == "Ready":
            k = (p.namespace, p.service, p.version)
            ready_by_version[k] = ready_by_version.get(k, 0) + 1
    specs = {s.key: s for s in sim.scenario.services}
    views = {(v.namespace, v.name): v for v in sim.services()}
    util: dict[tuple[str, str, str], float] = {}
    for (ns, name, version), n_ready in ready_by_version.items():
        spec = specs[(ns, name)]
        cap = n_ready * spec.capacity_rps * spec.version(version).capacity_factor
        cap /= views[(ns, name)].slowdown
        served = sim.window(ns, name, window_s, version=version).served_rate
        util[(ns, name, version)] = served / cap if cap > 0 else 0.0
    for p in pods:
        phase: Literal["Pending", "Running"] = "Pending" if p.phase == "Pending" else "Running"
        ready = p.phase == "Ready"
        by_service.setdefault((p.namespace, p.service), []).append(
            PodSample(
                phase=phase,
                ready=ready,
                utilization=util.get((p.namespace, p.service, p.version)) if ready else 0.0,
                started_at=p.scheduled_at,
                ready_since=p.ready_at,
            )
        )
    return by_service


class HpaController:
    """`hpa`: one HorizontalPodAutoscaler per service with `HpaSettings` (the defaults above),
    bounded by the service's min/max replicas, syncing every time the runner calls `decide`."""

    name = "hpa"

    def __init__(self, settings: HpaSettings | None = None, *, name: str = "hpa") -> None:
        self.name = name  # `baseline` reuses this controller under its own name
        self.settings = settings or HpaSettings()
        self._scalers: dict[tuple[str, str], HpaScaler] = {}
        self._seq = 0

    def start(self, sim: Simulator) -> None:
        self._scalers = {s.key: HpaScaler(settings=self.settings) for s in sim.scenario.services}
        self._seq = 0

    def stats(self) -> ControllerStats:
        return ControllerStats()

    def decide(self, sim: Simulator) -> Sequence[ActionProposal]:
        now = sim.now
        samples = pod_samples(sim, self.settings.metric_window_s)
        out: list[ActionProposal] = []
        for view in sim.services():
            key = (view.namespace, view.name)
            scaler = self._scalers.setdefault(key, HpaScaler(settings=self.settings))
            p = self._sync(now, view, samples.get(key, []), scaler)
            if p is not None:
                out.append(p)
        return out

    def _sync(
        self, now: float, view: ServiceView, pods: list[PodSample], scaler: HpaScaler
    ) -> ActionProposal | None:
        """`reconcileAutoscaler` for one HPA: out-of-bounds first, else metric + normalise."""
        current = view.spec_replicas
        lo, hi = view.min_replicas, view.max_replicas
        if current == 0 and lo != 0:
            return None  # "Implicit maintenance-mode deactivation": HPA leaves a 0 scale alone
        if current > hi:
            desired, why = hi, "current replicas above max_replicas"
        elif current < lo:
            desired, why = lo, "current replicas below min_replicas"
        else:
            rec = desired_replicas(current, pods, now, self.settings)
            if rec is None:
                return None  # no usable metrics: the HPA does not scale
            desired = scaler.normalize(now, current, rec.replicas, lo, hi)
            why = (
                f"cpu {rec.usage_ratio * self.settings.target_utilization:.0%} of request "
                f"(target {self.settings.target_utilization:.0%}, {rec.ready} ready, "
                f"{rec.ignored} set aside); recommendation {rec.replicas}, {scaler.reason}"
            )
        if desired == current:
            return None
        self._seq += 1
        return ActionProposal(
            id=f"{self.name}-{self._seq:06d}",
            target=Target(namespace=view.namespace, service=view.name),
            action=ScaleAction(replicas=desired),
            reason=f"HPA: {current} → {desired} replicas: {why}",
            requested_by=self.name,
            created_at=now,
        )
