"""`baseline`: what a careful team runs today — the Kubernetes HPA plus Flagger canary analysis.

Flagger's defaults and their sources (fluxcd/flagger):

- [canary.go] pkg/apis/flagger/v1beta1/canary.go: `AnalysisInterval = 60 * time.Second`
  ("GetAnalysisInterval returns the canary analysis interval (default 60s)"), `MetricInterval =
  "1m"`; `GetAnalysisThreshold` defaults to 1 when the field is unset.
- [deployment-strategies] docs/gitbook/usage/deployment-strategies.md: "The canary analysis runs
  periodically until it reaches the maximum traffic weight or the failed checks threshold";
  rollback time = "interval * threshold"; promotion time = "interval * (maxWeight / stepWeight)".
- [tutorials] docs/gitbook/tutorials/istio-progressive-delivery.md and
  gatewayapi-progressive-delivery.md: `interval: 1m`, `threshold: 5`, `maxWeight: 50`,
  `stepWeight: 10` — the configuration the docs tell a team to start from. `threshold` is a
  required field with no useful default (1 would roll back on the first noisy minute), so we
  take the documented 5, as the issue asks.
- [metrics] docs/gitbook/usage/metrics.md, "Builtin metrics": `request-success-rate` with
  `thresholdRange.min: 99` (percent non-5xx) and `request-duration` with `thresholdRange.max:
  500` (P99, milliseconds), both over `interval: 1m`.
- [scheduler.go] pkg/controller/scheduler.go `advanceCanary`: each interval it first rolls back
  if `FailedChecks >= threshold`; otherwise runs the checks — a failure increments the counter
  and halts advancement ("halt advancement ... increment the failed checks counter"); a pass
  advances the weight by `stepWeight` up to `maxWeight`, and at `maxWeight` promotes (copies the
  canary spec to the primary, then routes all traffic to the primary and scales the canary to
  zero). Missing data ("no values found ... probably not receiving traffic") fails the check.

How Flagger maps onto the simulator:

- A scenario `deploy` with `canary_weight` W is a canary that already has W % of the traffic
  (Flagger would have started at `stepWeight`). The analysis picks up from W: pass → W +
  `stepWeight` (a `route` action), …, at `maxWeight` → promote. Promotion is a `rollback`
  action *to the canary's version* — the simulator's way to roll every replica to a named
  revision, which is what Flagger's "copy canary spec to primary" does — and rollback is a
  `route` action sending 100 % to the stable version, Flagger's "route all traffic to primary;
  scale to zero the canary".
- A `deploy` without `canary_weight` replaces every replica in place. With Flagger installed
  that change would have gone through analysis too; the closest faithful reading is Flagger's
  Blue/Green mode for plain Kubernetes (docs: "Progressive traffic is not supported when using
  the kubernetes provider ... Setting canaryAnalysis.iterations: 10"): the new revision is
  checked every interval for 10 iterations, and after `threshold` failed checks the Deployment
  is rolled back to the previous revision (a `rollback` action to the old version).
- Checks use the service's own SLO when it has one (`FlaggerSettings.use_service_slo`): a
  careful team points `request-success-rate` at 100·(1 − slo.error_ratio) and
  `request-duration` at the p95 SLO through a MetricTemplate, because the builtin 500 ms P99 is
  looser than most model-serving SLOs. `use_service_slo=False` gives the builtin thresholds.
- Flagger's canary Deployment has its own HPA, so it grows with its traffic; the simulator models
  that by giving a canary ceil(replicas × weight / 100) pods when a route action raises its
  weight (never fewer than it had).
- Scaling is the `hpa` controller, unchanged. While the canary runs, Flagger's HPA targets the
  primary and its copy the canary; the simulator has one replica count per service, so one HPA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from quarterdeck.core.models import (
    Action,
    ActionProposal,
    RollbackAction,
    RouteAction,
    Target,
)
from quarterdeck.sim.controllers.base import ControllerStats
from quarterdeck.sim.controllers.hpa import HpaController, HpaSettings

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator
    from quarterdeck.sim.views import ServiceView

ANALYSIS_INTERVAL_S = 60.0
"""[canary.go] `AnalysisInterval = 60 * time.Second` (default 60 s)."""

THRESHOLD = 5
"""Failed checks before rollback: `threshold: 5` in the Istio / Gateway API tutorials."""

MAX_WEIGHT = 50
"""`maxWeight: 50` in every progressive-delivery tutorial."""

STEP_WEIGHT = 10
"""`stepWeight: 10` in the Istio / Gateway API tutorials."""

BLUE_GREEN_ITERATIONS = 10
"""[scheduler.go] the Kubernetes provider's default: "Setting canaryAnalysis.iterations: 10"."""

MIN_SUCCESS_RATE_PCT = 99.0
"""[metrics] builtin `request-success-rate` `thresholdRange.min: 99`."""

MAX_REQUEST_DURATION_MS = 500.0
"""[metrics] builtin `request-duration` `thresholdRange.max: 500` (P99, ms)."""

METRIC_WINDOW_S = 60.0
"""[canary.go] `MetricInterval = "1m"`: each check looks at the last minute."""


@dataclass(frozen=True)
class FlaggerSettings:
    """One Canary's `analysis` block."""

    interval_s: float = ANALYSIS_INTERVAL_S
    threshold: int = THRESHOLD
    max_weight: int = MAX_WEIGHT
    step_weight: int = STEP_WEIGHT
    iterations: int = BLUE_GREEN_ITERATIONS
    use_service_slo: bool = True
    min_success_rate_pct: float = MIN_SUCCESS_RATE_PCT
    max_request_duration_ms: float = MAX_REQUEST_DURATION_MS
    metric_window_s: float = METRIC_WINDOW_S


@dataclass(frozen=True)
class ThresholdRange:
    """Flagger's `thresholdRange {min, max}`: the one place a metric value is judged."""

    min: float | None = None
    max: float | None = None

    def holds(self, value: float | None) -> bool:
        if value is None:  # "no values found" fails the check, it does not pass it
            return False
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)


@dataclass(frozen=True)
class MetricCheck:
    name: str
    range: ThresholdRange


def metric_checks(
    s: FlaggerSettings, slo_p95_ms: float | None, slo_error_ratio: float | None
) -> tuple[MetricCheck, MetricCheck]:
    """The two builtin checks, pointed at the service's SLO when configured to."""
    success = s.min_success_rate_pct
    duration = s.max_request_duration_ms
    if s.use_service_slo and slo_error_ratio is not None:
        success = 100.0 * (1.0 - slo_error_ratio)
    if s.use_service_slo and slo_p95_ms is not None:
        duration = slo_p95_ms
    return (
        MetricCheck("request-success-rate", ThresholdRange(min=success)),
        MetricCheck("request-duration", ThresholdRange(max=duration)),
    )


@dataclass(frozen=True)
class CheckResult:
    """One analysis run: did every metric hold, and the message Flagger would log if not."""

    ok: bool
    message: str = ""


def run_checks(checks: tuple[MetricCheck, ...], values: dict[str, float | None]) -> CheckResult:
    """`runAnalysis`: every check must hold; the first that does not explains the halt."""
    for c in checks:
        v = values.get(c.name)
        if not c.range.holds(v):
            if v is None:
                return CheckResult(False, f"no values found for metric {c.name}")
            bound = (
                f"< {c.range.min:g}"
                if c.range.min is not None and v < c.range.min
                else (f"> {c.range.max:g}")
            )
            return CheckResult(False, f"{c.name} {v:.4g} {bound}")
    return CheckResult(True)


Phase = Literal["progressing", "promoting", "succeeded", "failed"]
Step = Literal["wait", "halt", "advance", "promote", "finalise", "rollback", "done"]


@dataclass(frozen=True)
class Analysis:
    """Flagger's `CanaryStatus` for one rollout of one service.

    `mode` "canary" shifts traffic; "blue_green" checks a replaced Deployment for `iterations`
    intervals. `weight` is the canary's current traffic percentage (canary mode only).
    """

    stable: str
    candidate: str
    mode: Literal["canary", "blue_green"]
    started_at: float
    weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    phase: Phase = "progressing"
    next_run_at: float = 0.0
    last_message: str = ""
    serving_since: float | None = None  # when the candidate first took traffic


def start_analysis(
    stable: str,
    candidate: str,
    mode: Literal["canary", "blue_green"],
    *,
    now: float,
    weight: int,
    s: FlaggerSettings,
) -> Analysis:
    """A new revision was detected: the first analysis runs one interval later."""
    return Analysis(stable, candidate, mode, now, weight=weight, next_run_at=now + s.interval_s)


def advance(
    a: Analysis, check: CheckResult | None, now: float, s: FlaggerSettings
) -> tuple[Analysis, Step]:
    """One tick of `advanceCanary`, as a value: the new status and what to do about it.

    `check` is this interval's result (None when the caller did not evaluate it because the run
    is not due). Order as in scheduler.go: the threshold is checked before new checks run, so a
    rollback happens on the interval after the threshold-th failure.
    """
    if a.phase in ("succeeded", "failed"):
        return a, "done"
    if now < a.next_run_at:
        return a, "wait"
    nxt = now + s.interval_s
    if a.phase == "promoting":
        # "wait for primary rolling update to finish ... route all traffic to primary ... scale to
        # zero the canary deployment ... mark rollout as finished".
        return replace(a, phase="succeeded", next_run_at=nxt), "finalise"
    if a.failed_checks >= s.threshold:
        msg = f"Rolling back: failed checks threshold reached {a.failed_checks}"
        return replace(a, phase="failed", next_run_at=nxt, last_message=msg), "rollback"
    if check is None:
        return a, "wait"
    if not check.ok:
        failed = a.failed_checks + 1
        msg = f"Halt advancement {check.message}"
        return replace(a, failed_checks=failed, next_run_at=nxt, last_message=msg), "halt"
    if a.mode == "blue_green":
        iterations = a.iterations + 1
        if iterations >= s.iterations:
            return replace(a, iterations=iterations, phase="succeeded", next_run_at=nxt), "done"
        return replace(a, iterations=iterations, next_run_at=nxt), "advance"
    if a.weight < s.max_weight:
        weight = min(a.weight + s.step_weight, 100)
        msg = f"Advance canary weight {weight}"
        return replace(a, weight=weight, next_run_at=nxt, last_message=msg), "advance"
    msg = "Copying canary template spec to primary"
    return replace(a, phase="promoting", next_run_at=nxt, last_message=msg), "promote"


# ---------------------------------------------------------------------------------------------
# The controller: HPA for every service + one Flagger analysis per rollout.
# ---------------------------------------------------------------------------------------------

PROGRESS_DEADLINE_S = 600.0
"""[canary.go] `ProgressDeadlineSeconds = 600`: a canary whose pods are not ready by then is
rolled back ("Rolling back ... progress deadline exceeded")."""


class BaselineController:
    """`baseline`: `hpa` plus Flagger canary analysis (see the module docstring for the mapping).

    Rollouts are detected level-based from the service view each sync: a canary version beside
    the primary starts a canary analysis; a primary version that changed without this controller
    asking for it starts a Blue/Green analysis of the replaced Deployment. Flagger messages
    ("Halt advancement …", "Advance … canary weight …") are kept in `messages` for reading.
    """

    name = "baseline"

    def __init__(
        self, hpa: HpaSettings | None = None, flagger: FlaggerSettings | None = None
    ) -> None:
        self.hpa = HpaController(hpa, name=self.name)
        self.flagger = flagger or FlaggerSettings()
        self.messages: list[tuple[float, str, str]] = []  # (t, service, message)
        self._analyses: dict[tuple[str, str], Analysis] = {}
        self._version: dict[tuple[str, str], str] = {}
        self._expected: dict[tuple[str, str], str] = {}  # versions we rolled to ourselves
        self._seq = 0

    def start(self, sim: Simulator) -> None:
        self.hpa.start(sim)
        self.messages = []
        self._analyses = {}
        self._version = {(v.namespace, v.name): v.version for v in sim.services()}
        self._expected = {}
        self._seq = 0

    def stats(self) -> ControllerStats:
        return ControllerStats()

    def decide(self, sim: Simulator) -> Sequence[ActionProposal]:
        out = list(self.hpa.decide(sim))
        now = sim.now
        for view in sim.services():
            key = (view.namespace, view.name)
            self._detect(key, view, now)
            a = self._analyses.get(key)
            if a is None or a.phase in ("succeeded", "failed"):
                continue
            check = self._check(sim, view, a, now)
            a = self._analyses[key]  # `_check` may have recorded when the candidate took traffic
            if check == "deadline":
                a = replace(a, failed_checks=self.flagger.threshold, next_run_at=now)
                check = None
            new, step = advance(a, check, now, self.flagger)
            self._analyses[key] = new
            if new.last_message and new.last_message != a.last_message:
                self.messages.append((now, f"{key[0]}/{key[1]}", new.last_message))
            action = self._action(key, new, step)
            if action is not None:
                out.append(self._proposal(view, action, now, f"Flagger: {new.last_message}"))
        return out

    def _detect(self, key: tuple[str, str], view: ServiceView, now: float) -> None:
        """Starts an analysis when a new revision appears (Flagger: "New revision detected")."""
        current = self._analyses.get(key)
        running = current is not None and current.phase in ("progressing", "promoting")
        if view.canary_version is not None:
            if not running or (current is not None and current.candidate != view.canary_version):
                weight = view.route_weights.get(view.canary_version, 0)
                self._analyses[key] = start_analysis(
                    view.version, view.canary_version, "canary", now=now, weight=weight,
                    s=self.flagger,
                )  # fmt: skip
        else:
            before = self._version.get(key, view.version)
            if view.version != before and self._expected.get(key) != view.version:
                self._analyses[key] = start_analysis(
                    before, view.version, "blue_green", now=now, weight=0, s=self.flagger
                )
        if self._expected.get(key) == view.version:
            del self._expected[key]
        self._version[key] = view.version

    def _check(
        self, sim: Simulator, view: ServiceView, a: Analysis, now: float
    ) -> CheckResult | Literal["deadline"] | None:
        """This interval's metric checks, None while the candidate is not serving yet (Flagger
        halts without counting a failure, up to the progress deadline)."""
        if (
            now < a.next_run_at
            or a.phase != "progressing"
            or a.failed_checks >= self.flagger.threshold
        ):
            return None
        serving = (
            view.route_weights.get(a.candidate, 0) > 0
            if a.mode == "canary"
            else any(
                r.version == a.candidate and r.ready_replicas > 0
                for r in sim.revisions(view.namespace, view.name)
            )
        )
        if not serving:
            return "deadline" if now - a.started_at > PROGRESS_DEADLINE_S else None
        if a.serving_since is None:
            # Flagger's first run routes traffic and checks nothing; metrics are judged from the
            # next interval on, once a full metric window of candidate traffic exists.
            weight = view.route_weights.get(a.candidate, 0) if a.mode == "canary" else 0
            self._analyses[(view.namespace, view.name)] = replace(
                a, serving_since=now, weight=weight, next_run_at=now + self.flagger.interval_s
            )
            return None
        w = sim.window(view.namespace, view.name, self.flagger.metric_window_s, version=a.candidate)
        success = 100.0 * (1.0 - w.error_ratio) if w.request_rate > 0 else None
        duration = w.p95_ms if self.flagger.use_service_slo else w.p99_ms
        checks = metric_checks(self.flagger, view.slo_p95_latency_ms, view.slo_error_ratio)
        return run_checks(checks, {"request-success-rate": success, "request-duration": duration})

    def _action(self, key: tuple[str, str], a: Analysis, step: Step) -> Action | None:
        if step == "advance" and a.mode == "canary":
            return RouteAction(weights={a.stable: 100 - a.weight, a.candidate: a.weight})
        if step == "promote":
            self._expected[key] = a.candidate
            return RollbackAction(to_version=a.candidate)  # roll every replica to the canary
        if step == "rollback":
            if a.mode == "blue_green":
                self._expected[key] = a.stable
            return RollbackAction(to_version=a.stable)  # canary: abort it; replace: undo it
        return None

    def _proposal(self, view: ServiceView, action: Action, now: float, why: str) -> ActionProposal:
        self._seq += 1
        return ActionProposal(
            id=f"{self.name}-flagger-{self._seq:06d}",
            target=Target(namespace=view.namespace, service=view.name),
            action=action,
            reason=why,
            requested_by=self.name,
            created_at=now,
        )
