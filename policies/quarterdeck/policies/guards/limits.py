"""Guards about *how much*: blast radius (scale step, canary weight step, share of pods restarted
at once) and budgets (replicas per service, GPUs in the cluster).

Each reads the current state from the context; when that state is missing it fails closed.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Generic, Protocol, TypeVar

from quarterdeck.core.models import RestartAction, RouteAction, ScaleAction
from quarterdeck.policies.context import ServiceState
from quarterdeck.policies.rules import Evaluation, Finding, Rule, RuleInfo
from quarterdeck.policies.schema import (
    CanaryStep,
    GpuBudget,
    Match,
    ReplicaBudget,
    RestartShare,
    ScaleStep,
)


class _LimitConfig(Protocol):
    """What every limit's settings section carries (read-only, so each section's narrower
    `effect` literal still fits)."""

    @property
    def match(self) -> Match: ...

    @property
    def effect(self) -> str: ...


_Cfg = TypeVar("_Cfg", bound=_LimitConfig)
_A = TypeVar("_A", ScaleAction, RouteAction, RestartAction)


class _LimitRule(Rule, Generic[_Cfg, _A]):
    """A limit on one kind of action (`action_type`). One configured to clamp runs in the clamp
    phase, so the rules after it see the action it leaves; any other effect is a check."""

    action_type: type[_A]

    def __init__(self, info: RuleInfo, cfg: _Cfg) -> None:
        super().__init__(info, cfg.match)
        self.cfg = cfg
        self.phase = "clamp" if cfg.effect == "clamp" else "check"

    def applies(self, ev: Evaluation) -> bool:
        # Each action model fixes its `kind`, so the type test is the kind test.
        return isinstance(ev.action, self.action_type) and super().applies(ev)


class _StatefulLimitRule(_LimitRule[_Cfg, _A]):
    """A limit measured against the service's current state. The walk is the same for all of
    them: skip other kinds (and actions the limit does not cover), fail closed when the context
    has no state for the service, then `judge`."""

    what: str
    """Names the limit in the fail-closed finding."""

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        action = ev.action
        if not isinstance(action, self.action_type) or not self.covers(action):
            return []
        if ev.service is None:
            return [
                self.finding(
                    "deny",
                    f"{self.what}: no state for {ev.proposal.target} in the context (fail closed)",
                    {"service": str(ev.proposal.target)},
                )
            ]
        return self.judge(ev, action, ev.service)

    def covers(self, action: _A) -> bool:
        """Does this limit measure `action` at all? (Checked before the state is needed.)"""
        return True

    @abstractmethod
    def judge(self, ev: Evaluation, action: _A, svc: ServiceState) -> list[Finding]:
        """The findings for `action` against the service's state `svc`."""


class ScaleStepRule(_StatefulLimitRule[ScaleStep, ScaleAction]):
    action_type = ScaleAction
    what = "scale step"

    def limits(self, current: int) -> tuple[int, int]:
        """(lowest, highest) replica count one action may set from `current`."""
        up = max(self.cfg.up_absolute, math.ceil(current * self.cfg.up_percent / 100), 1)
        down = max(self.cfg.down_absolute, math.floor(current * self.cfg.down_percent / 100))
        return max(0, current - down), current + up

    def judge(self, ev: Evaluation, action: ScaleAction, svc: ServiceState) -> list[Finding]:
        current, target = svc.replicas, action.replicas
        low, high = self.limits(current)
        if low <= target <= high:
            return []
        new = min(max(target, low), high)
        inputs = {"current": current, "requested": target, "lowest": low, "highest": high}
        text = (
            f"scale step {current} → {target} exceeds the blast radius "
            f"(one action may set {low}..{high})"
        )
        if self.cfg.effect == "clamp":
            return [
                self.finding(
                    "clamp",
                    f"{text}: replicas {target} → {new}",
                    inputs,
                    ScaleAction(replicas=new),
                )
            ]
        return [self.finding(self.cfg.effect, text, inputs)]


class CanaryStepRule(_StatefulLimitRule[CanaryStep, RouteAction]):
    action_type = RouteAction
    what = "canary step"

    def judge(self, ev: Evaluation, action: RouteAction, svc: ServiceState) -> list[Finding]:
        current = svc.effective_weights()
        versions = sorted(set(current) | set(action.weights))
        delta = {v: action.weights.get(v, 0) - current.get(v, 0) for v in versions}
        step = max((abs(d) for d in delta.values()), default=0)
        if step <= self.cfg.max_points:
            return []
        gaining = sorted(v for v, d in delta.items() if d > 0)
        healthy = {r.version for r in svc.revisions if r.healthy}
        inputs = {
            "current_weights": current,
            "requested_weights": dict(action.weights),
            "step_points": step,
            "max_points": self.cfg.max_points,
            "healthy_versions": sorted(healthy),
        }
        if self.cfg.allow_shift_to_healthy and gaining and set(gaining) <= healthy:
            return [
                self.finding(
                    "allow",
                    f"weight step of {step} points exceeds {self.cfg.max_points}, but it only "
                    f"moves traffic onto healthy versions ({', '.join(gaining)})",
                    inputs,
                )
            ]
        text = (
            f"route weight step of {step} points exceeds {self.cfg.max_points} "
            f"(current {current}, requested {dict(action.weights)})"
        )
        if self.cfg.effect == "clamp":
            weights = step_towards(current, action.weights, self.cfg.max_points)
            if weights is not None:
                return [
                    self.finding(
                        "clamp",
                        f"{text}: weights → {weights}",
                        inputs,
                        RouteAction(weights=weights),
                    )
                ]
            return [self.finding("require_approval", f"{text} (cannot clamp it)", inputs)]
        return [self.finding(self.cfg.effect, text, inputs)]


def step_towards(
    current: dict[str, int], requested: dict[str, int], max_points: int
) -> dict[str, int] | None:
    """The weights part of the way from `current` to `requested` with no version moving more
    than `max_points`, summing to 100; None if that cannot be done (e.g. no current weights)."""
    versions = sorted(set(current) | set(requested))
    delta = {v: requested.get(v, 0) - current.get(v, 0) for v in versions}
    step = max((abs(d) for d in delta.values()), default=0)
    if sum(current.values()) != 100 or step == 0:
        return None
    share = max_points / step  # the same fraction of every version's change keeps the sum at 100
    moved = {v: math.trunc(delta[v] * share) for v in versions}  # toward the current weights
    # Truncation leaves a few points unassigned: give them to the versions that lost most of
    # their move, in the direction of the move, never past max_points.
    missing = -sum(moved.values())
    sign = 1 if missing > 0 else -1
    order = sorted(versions, key=lambda v: -abs(delta[v] * share - moved[v]))
    for v in order:
        if missing == 0:
            break
        if delta[v] * sign > 0 and abs(moved[v] + sign) <= max_points:
            moved[v] += sign
            missing -= sign
    weights = {v: current.get(v, 0) + moved[v] for v in versions}
    if missing or sum(weights.values()) != 100 or any(not 0 <= w <= 100 for w in weights.values()):
        return None
    return weights


class RestartShareRule(_StatefulLimitRule[RestartShare, RestartAction]):
    """A rolling restart (pods unset) replaces one pod at a time behind a surge pod, so only an
    explicit `pods` count is measured against the share."""

    action_type = RestartAction
    what = "restart share"

    def covers(self, action: RestartAction) -> bool:
        return action.pods is not None

    def judge(self, ev: Evaluation, action: RestartAction, svc: ServiceState) -> list[Finding]:
        pods = action.pods or 0  # covers() lets only an explicit count through
        replicas = svc.replicas
        share = 100.0 * pods / max(replicas, 1)
        if share <= self.cfg.max_percent:
            return []
        return [
            self.finding(
                self.cfg.effect,
                f"restarting {pods} of {replicas} pods at once ({share:.0f} %) exceeds "
                f"{self.cfg.max_percent:g} %",
                {"pods": pods, "replicas": replicas, "share_percent": round(share, 1)},
            )
        ]


class ReplicaBudgetRule(_LimitRule[ReplicaBudget, ScaleAction]):
    """Judges the requested count alone, so unlike the other limits it needs no service state."""

    action_type = ScaleAction

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        action = ev.action
        if not isinstance(action, ScaleAction) or action.replicas <= self.cfg.max:
            return []
        inputs = {"requested": action.replicas, "max": self.cfg.max}
        text = f"{action.replicas} replicas exceed the per-service budget of {self.cfg.max}"
        if self.cfg.effect == "clamp":
            return [
                self.finding(
                    "clamp",
                    f"{text}: replicas {action.replicas} → {self.cfg.max}",
                    inputs,
                    ScaleAction(replicas=self.cfg.max),
                )
            ]
        return [self.finding("deny", text, inputs)]


class GpuBudgetRule(_StatefulLimitRule[GpuBudget, ScaleAction]):
    action_type = ScaleAction
    what = "GPU budget"

    def judge(self, ev: Evaluation, action: ScaleAction, svc: ServiceState) -> list[Finding]:
        per_pod, current, target = svc.gpu_per_pod, svc.replicas, action.replicas
        if per_pod == 0 or target <= current:
            return []
        cluster = ev.context.cluster
        allowed = self.cfg.max if self.cfg.max is not None else cluster.gpu_capacity
        if self.cfg.max is not None and cluster.gpu_capacity is not None:
            allowed = min(self.cfg.max, cluster.gpu_capacity)
        inputs = {
            "gpu_per_pod": per_pod,
            "current": current,
            "requested": target,
            "gpus_in_use": cluster.gpus_in_use,
            "gpus_allowed": allowed,
        }
        if allowed is None:
            return [
                self.finding(
                    "deny", "GPU budget: cluster GPU capacity unknown (fail closed)", inputs
                )
            ]
        need = cluster.gpus_in_use + (target - current) * per_pod
        if need <= allowed:
            return []
        fit = current + max(0, allowed - cluster.gpus_in_use) // per_pod
        text = f"scaling to {target} needs {need} GPUs in the cluster, over the budget of {allowed}"
        if self.cfg.effect == "clamp" and fit > current:
            return [
                self.finding(
                    "clamp",
                    f"{text}: replicas {target} → {fit}",
                    inputs,
                    ScaleAction(replicas=fit),
                )
            ]
        return [self.finding("deny", text + " (no GPUs left to grow into)", inputs)]
