"""Did an applied action help? A pure judgement over signals read before and after it settled.

Lower is better for every signal judged here (latency, error ratio). The thresholds are data, in
`VerifySettings`, and the comparison lives in one place: `judge`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.core.models import Action, RestartAction, RollbackAction, RouteAction, ScaleAction

JUDGED_SIGNALS: tuple[str, ...] = ("p95_latency_ms", "error_ratio")


class Signals(BaseModel):
    """A service's signals at one moment. A value of None means the source had no data."""

    model_config = ConfigDict(frozen=True)

    values: dict[str, float | None] = Field(default_factory=dict)
    observed_at: float = 0.0
    stale: bool = Field(default=False, description="the newest sample is older than allowed")
    slo: dict[str, float] = Field(default_factory=dict, description="thresholds by signal")

    def get(self, name: str) -> float | None:
        return self.values.get(name)


class VerifyResult(StrEnum):
    AS_PREDICTED = "as_predicted"  # reached the dry-run's prediction (within tolerance)
    IMPROVED = "improved"  # better, short of the prediction or without one
    NO_CHANGE = "no_change"
    WORSE = "worse"
    INCONCLUSIVE = "inconclusive"  # worse, but the load rose enough to explain it
    NO_DATA = "no_data"


class VerifySettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    worse_ratio: float = Field(default=0.10, description="a signal up by more than this is worse")
    better_ratio: float = Field(default=0.05, description="down by more than this is better")
    prediction_tolerance: float = Field(
        default=0.25, description="within this ratio above the predicted value counts as met"
    )
    load_rise: float = Field(
        default=0.2,
        description="a request rate up by more than this explains worse signals (inconclusive)",
    )
    floor: dict[str, float] = Field(
        default_factory=lambda: {"p95_latency_ms": 1.0, "error_ratio": 0.001},
        description="changes below these absolute amounts are noise",
    )


class Judgement(BaseModel):
    model_config = ConfigDict(frozen=True)

    result: VerifyResult
    changes: dict[str, dict[str, float | None]]
    message: str


# The what-if's `WhatIf.as_predicted()` gives changes, not levels: signal → its delta key.
_DELTA_KEYS = {"p95_latency_ms": "p95_ms_mean_delta", "error_ratio": "error_ratio_delta"}


def expected_levels(before: Signals, predicted: dict[str, float] | None) -> dict[str, float]:
    """Predicted signal levels: given directly (`p95_latency_ms`), or as the what-if's deltas
    added to the level read before the action."""
    out: dict[str, float] = {}
    for name in JUDGED_SIGNALS:
        if predicted is None:
            break
        if name in predicted:
            out[name] = predicted[name]
            continue
        b = before.get(name)
        delta = predicted.get(_DELTA_KEYS[name])
        if b is not None and delta is not None:
            out[name] = max(b + delta, 0.0)
    return out


def judge(
    before: Signals,
    after: Signals,
    predicted: dict[str, float] | None,
    settings: VerifySettings | None = None,
) -> Judgement:
    """Compare the signals before an action with those after it settled."""
    s = settings or VerifySettings()
    predicted = expected_levels(before, predicted)
    changes: dict[str, dict[str, float | None]] = {}
    if after.stale or all(after.get(n) is None for n in JUDGED_SIGNALS):
        return Judgement(
            result=VerifyResult.NO_DATA,
            changes={},
            message="no fresh signals after the action settled; cannot tell whether it helped",
        )
    worse, better, met = [], [], []
    for name in JUDGED_SIGNALS:
        b, a = before.get(name), after.get(name)
        p = (predicted or {}).get(name)
        changes[name] = {"before": b, "after": a, "predicted": p}
        if a is None:
            continue
        if p is not None and a <= p * (1 + s.prediction_tolerance) + s.floor.get(name, 0.0):
            met.append(name)
        if b is None:
            continue
        delta = a - b
        if abs(delta) <= s.floor.get(name, 0.0):
            continue
        breached = name in after.slo and a > after.slo[name]
        if delta > s.worse_ratio * max(b, 1e-9) and (breached or not after.slo):
            worse.append(name)
        elif delta < -s.better_ratio * max(b, 1e-9):
            better.append(name)
    predicted_names = [n for n in JUDGED_SIGNALS if (predicted or {}).get(n) is not None]
    rate_b, rate_a = before.get("request_rate"), after.get("request_rate")
    if worse and rate_b and rate_a is not None and rate_a > rate_b * (1 + s.load_rise):
        result = VerifyResult.INCONCLUSIVE
        message = (
            f"{', '.join(worse)} worse, but the load rose {rate_a / rate_b - 1:.0%} "
            f"({rate_b:.0f} → {rate_a:.0f} req/s): not the action's doing"
        )
    elif worse:
        result, message = VerifyResult.WORSE, f"worse after the action: {', '.join(worse)}"
    elif predicted_names and all(n in met for n in predicted_names):
        result, message = VerifyResult.AS_PREDICTED, "signals moved as the dry-run predicted"
    elif better:
        result, message = VerifyResult.IMPROVED, f"improved: {', '.join(better)}"
    else:
        result, message = VerifyResult.NO_CHANGE, "signals did not move noticeably"
    return Judgement(result=result, changes=changes, message=message)


def undo_action(action: Action, before: dict[str, Any]) -> Action | None:
    """The action that puts back what `action` changed, or None when it cannot be undone safely.

    `before` holds the service's state read just before the action: `replicas`, `weights`.
    A scale-down and a re-route are undone. A scale-up is not: when things got worse after adding
    capacity, the load rose faster than the new pods came up, and taking them away again would
    only deepen the trouble — a human is asked instead. Neither is a rollback or a restart
    (rolling forward again to a version we just left is not a safe guess).
    """
    if isinstance(action, ScaleAction):
        replicas = before.get("replicas")
        if isinstance(replicas, int) and replicas > action.replicas:
            return ScaleAction(replicas=replicas)
        return None
    if isinstance(action, RouteAction):
        weights = before.get("weights")
        if isinstance(weights, dict) and weights and weights != action.weights:
            return RouteAction(weights={str(k): int(v) for k, v in weights.items()})
        return None
    if isinstance(action, RollbackAction | RestartAction):
        return None
    return None
