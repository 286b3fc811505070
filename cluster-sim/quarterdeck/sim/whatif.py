"""What-if: the predicted effect of applying proposals now, against doing nothing.

``predict(sim, proposals, horizon)`` forks the simulator twice, applies the proposals to one fork
and nothing to the other, runs both `horizon` seconds forward (no controller acts in either), and
compares them with the simulator's own metrics (``MetricsAccumulator``: one definition of an SLO
violation, a failed request, a replica-hour). The original simulator is never touched.

Figures cover the horizon only (``start < t <= end``):

- ``slo_violation_minutes``, ``failed_requests``, ``total_requests``, ``replica_hours``: the
  difference of the run's cumulative metrics between the end and the start of the horizon;
- ``error_ratio`` = failed ÷ offered requests in the horizon;
- ``p95_ms_mean`` / ``p95_ms_max``: mean and max of the 60 s p95 sampled on the metrics timeline
  (every ``timeline_every`` s; ``None`` when nothing was served).

Per service for every service a proposal targets, and ``total`` for the whole cluster (sums; its
p95 is the worst targeted service's at each sample, so it reads as "the p95 that matters").

``verdict``: an action *helps* when it removes SLO-violation minutes (at least one tick's worth);
*hurts* when it adds them. With the SLO unchanged, fewer failed requests help and more hurt; with
those unchanged too, fewer replica-hours help (same service for less) and more are ``neutral``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from quarterdeck.core.models import ActionProposal
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.errors import InvalidAction
from quarterdeck.sim.metrics import Metrics, ServiceMetrics

F64 = NDArray[np.float64]
DEFAULT_HORIZON_S = 600.0
TOTAL = "total"
# Failed-request differences below this share of the offered requests are noise, not an effect.
_FAILED_TOLERANCE = 1e-4

Verdict = Literal["helps", "hurts", "neutral"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Figures(_Frozen):
    """One branch's figures for one service (or the cluster) over the horizon."""

    slo_violation_minutes: float
    p95_ms_mean: float | None
    p95_ms_max: float | None
    error_ratio: float
    failed_requests: float
    total_requests: float
    replica_hours: float


class Delta(_Frozen):
    """With the proposals minus without: negative means less (less violation, less cost)."""

    slo_violation_minutes: float
    p95_ms_mean: float | None
    p95_ms_max: float | None
    error_ratio: float
    failed_requests: float
    replica_hours: float


class Comparison(_Frozen):
    """One service (or ``total``): doing nothing, applying the proposals, and the difference."""

    service: str
    baseline: Figures
    with_actions: Figures
    delta: Delta


class AppliedProposal(_Frozen):
    proposal_id: str
    target: str
    kind: str
    message: str


class RejectedProposal(_Frozen):
    """A proposal the simulator could not apply (unknown version, no pods, …)."""

    proposal_id: str
    target: str
    kind: str
    reason: str


class WhatIf(_Frozen):
    """The prediction. ``services`` holds one comparison per targeted service, then ``total``."""

    start: float  # sim seconds when the proposals would be applied
    horizon: float  # sim seconds actually simulated (shorter if the scenario ends first)
    services: tuple[Comparison, ...]
    total: Comparison
    applied: tuple[AppliedProposal, ...]
    rejected: tuple[RejectedProposal, ...]
    verdict: Verdict
    reason: str

    @property
    def helps(self) -> bool:
        return self.verdict == "helps"

    @property
    def delta(self) -> Delta:
        """The cluster-wide difference (``total.delta``)."""
        return self.total.delta

    def service(self, name: str) -> Comparison:
        """The comparison for ``namespace/name`` (or ``total``); KeyError if not predicted."""
        for c in (*self.services, self.total):
            if c.service == name:
                return c
        raise KeyError(
            f"no prediction for {name!r}; predicted: {[c.service for c in self.services]}"
        )

    def as_predicted(self) -> dict[str, float]:
        """Flat numbers for ``ActionProposal.predicted`` (the cluster-wide delta, and helps 0/1)."""
        d = self.total.delta
        out = {
            "horizon_s": self.horizon,
            "slo_violation_minutes_delta": d.slo_violation_minutes,
            "error_ratio_delta": d.error_ratio,
            "failed_requests_delta": d.failed_requests,
            "replica_hours_delta": d.replica_hours,
            "helps": 1.0 if self.helps else 0.0,
        }
        if d.p95_ms_mean is not None:
            out["p95_ms_mean_delta"] = d.p95_ms_mean
        if d.p95_ms_max is not None:
            out["p95_ms_max_delta"] = d.p95_ms_max
        return out


def predict(
    sim: Simulator,
    proposals: Sequence[ActionProposal],
    horizon: float = DEFAULT_HORIZON_S,
) -> WhatIf:
    """Predict applying `proposals` now (in order) against doing nothing, `horizon` seconds ahead.

    Raises ValueError if `horizon` is not positive or the scenario has already ended. A proposal
    the simulator refuses is reported in ``rejected`` and the others are still applied.
    """
    if not math.isfinite(horizon) or horizon <= 0:
        raise ValueError(f"horizon must be a positive number of seconds, got {horizon!r}")
    if sim.done:
        raise ValueError("the scenario has ended: there is no future to predict")
    baseline, acted = sim.fork(), sim.fork()
    start = sim.now
    # Read the starting point from a fork: even summary() compacts internal buffers, and the
    # original must stay byte-identical.
    before = baseline.metrics.summary()

    applied: list[AppliedProposal] = []
    rejected: list[RejectedProposal] = []
    for p in proposals:
        try:
            outcome = acted.apply(p.target, p.action)
        except InvalidAction as e:
            rejected.append(RejectedProposal(
                proposal_id=p.id, target=str(p.target), kind=p.kind, reason=e.reason
            ))  # fmt: skip
            continue
        applied.append(AppliedProposal(
            proposal_id=p.id, target=str(p.target), kind=p.kind, message=outcome.message
        ))  # fmt: skip

    for fork in (baseline, acted):
        fork.advance(horizon)
    end = baseline.now
    # Services the simulator does not know were rejected above; there is nothing to compare.
    targets = [
        t for t in dict.fromkeys(str(p.target) for p in proposals) if t in sim.metrics.labels
    ]

    base_figs = _figures(baseline, before, start, targets)
    acted_figs = _figures(acted, before, start, targets)
    comparisons = [_compare(name, base_figs[name], acted_figs[name]) for name in [*targets, TOTAL]]
    total = comparisons[-1]
    verdict, reason = _judge(total, sim.tick, applied)
    return WhatIf(
        start=start,
        horizon=end - start,
        services=tuple(comparisons[:-1]),
        total=total,
        applied=tuple(applied),
        rejected=tuple(rejected),
        verdict=verdict,
        reason=reason,
    )


def _figures(
    fork: Simulator, before: Metrics, start: float, targets: list[str]
) -> dict[str, Figures]:
    """Per targeted service and ``total``: the fork's metrics over (start, fork.now]."""
    after = fork.metrics.summary()
    timeline = fork.metrics.timeline()
    rows = timeline.t > start + 1e-9
    p95 = timeline.p95_ms[rows]  # (samples, services), NaN where nothing was served
    labels = timeline.services
    out: dict[str, Figures] = {}
    for name in targets:
        i = labels.index(name)
        out[name] = _one(after.per_service[i], before.per_service[i], p95[:, i])
    idx = [labels.index(n) for n in targets]
    worst: F64 = np.full(p95.shape[0], np.nan)
    if idx:
        cols = p95[:, idx]
        served = ~np.isnan(cols).all(axis=1)  # nanmax warns on all-NaN rows: skip them
        worst[served] = np.nanmax(cols[served], axis=1)
    out[TOTAL] = _one(after, before, worst)
    return out


def _one(after: ServiceMetrics | Metrics, before: ServiceMetrics | Metrics, p95: F64) -> Figures:
    """Figures from two readings of the cumulative metrics and the p95 samples in between."""
    failed = after.failed_requests - before.failed_requests
    total = after.total_requests - before.total_requests
    served = p95[~np.isnan(p95)]
    return Figures(
        slo_violation_minutes=after.slo_violation_minutes - before.slo_violation_minutes,
        p95_ms_mean=float(served.mean()) if served.size else None,
        p95_ms_max=float(served.max()) if served.size else None,
        error_ratio=failed / total if total > 0 else 0.0,
        failed_requests=failed,
        total_requests=total,
        replica_hours=after.replica_hours - before.replica_hours,
    )


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _compare(name: str, base: Figures, acted: Figures) -> Comparison:
    return Comparison(
        service=name,
        baseline=base,
        with_actions=acted,
        delta=Delta(
            slo_violation_minutes=acted.slo_violation_minutes - base.slo_violation_minutes,
            p95_ms_mean=_minus(acted.p95_ms_mean, base.p95_ms_mean),
            p95_ms_max=_minus(acted.p95_ms_max, base.p95_ms_max),
            error_ratio=acted.error_ratio - base.error_ratio,
            failed_requests=acted.failed_requests - base.failed_requests,
            replica_hours=acted.replica_hours - base.replica_hours,
        ),
    )


def _judge(total: Comparison, tick: float, applied: list[AppliedProposal]) -> tuple[Verdict, str]:
    """The rule in the module docstring, with the reason in words."""
    if not applied:
        return "neutral", "no proposal could be applied"
    d = total.delta
    one_tick_min = tick / 60.0
    if d.slo_violation_minutes < -one_tick_min / 2:
        return "helps", (
            f"{-d.slo_violation_minutes:.2f} fewer SLO-violation minutes "
            f"({total.baseline.slo_violation_minutes:.2f} → "
            f"{total.with_actions.slo_violation_minutes:.2f})"
        )
    if d.slo_violation_minutes > one_tick_min / 2:
        return "hurts", (
            f"{d.slo_violation_minutes:.2f} more SLO-violation minutes "
            f"({total.baseline.slo_violation_minutes:.2f} → "
            f"{total.with_actions.slo_violation_minutes:.2f})"
        )
    noise = _FAILED_TOLERANCE * max(total.baseline.total_requests, 1.0)
    if d.failed_requests < -noise:
        return "helps", f"SLO minutes unchanged; {-d.failed_requests:.0f} fewer failed requests"
    if d.failed_requests > noise:
        return "hurts", f"SLO minutes unchanged; {d.failed_requests:.0f} more failed requests"
    if d.replica_hours < -1e-9:
        return "helps", f"same service level for {-d.replica_hours:.2f} fewer replica-hours"
    if d.replica_hours > 1e-9:
        return "neutral", f"no better service for {d.replica_hours:.2f} more replica-hours"
    return "neutral", "no predicted difference"
