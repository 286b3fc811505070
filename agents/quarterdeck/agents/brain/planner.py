"""Planning: candidate actions for a diagnosis, minus those already pending, ranked.

`candidates(diagnosis)` reads only the diagnosis (its `details` carry the figures), so the
planner agent can plan from what the observer sent over the wire:

- `load`: scale to ceil(projected load / (capacity per replica × target utilisation)), bounded
  by max_replicas (first a step of `max_step_up` when the need is bigger); then a 25 % larger
  step. Nothing when the pods already starting cover it.
- `bad_version`: a canary → roll back to the stable version (ends the canary and frees its
  pods), then route 100 % to stable; a rollout → roll back to the previous healthy revision.
- `lost_capacity`: nothing while the pods starting cover the need (they are ready before new
  ones would be); else scale up to compensate.
- `slow_dependency`: scale modestly (to what the slower replicas need, at most double) and say
  a human should look at the dependency; nothing when the figures are unknown.
- `overprovisioned`: scale down to what the long-window load needs (the guard limits the step).
- `none`: nothing; a healthy canary ready to promote: roll forward to it.

`plan(diagnosis, pending=…, rank=…)` drops candidates whose action key is pending for the same
incident (`action_key`), and orders the rest by `rank` (e.g. the simulator's what-if:
predicted SLO-violation minutes, failed requests, replica-hours) or, without one, by the
table's order. It never returns a no-op (a scale to the current replica count).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from quarterdeck.agents.brain.diagnosis import Diagnosis
from quarterdeck.core.models import (
    Action,
    ActionProposal,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)

Rank = Callable[[Sequence["Candidate"]], Sequence[Sequence[float]]]


@dataclass(frozen=True)
class PlannerSettings:
    max_step_up: int | None = 10
    """Largest scale-up proposed first: the default policies let an agent change at most 10
    replicas without a human (`agent-replica-touch`). A bigger need gets this step first and the
    full step as the alternative, so `auto` mode keeps moving during a surge."""
    max_step_down: int | None = 10
    """The same for scale-downs."""


@dataclass(frozen=True)
class Candidate:
    action: Action
    reason: str
    note: str = ""  # e.g. "escalate: a human should check the dependency"

    def key(self, target: Target) -> str:
        return action_key(target, self.action)


def action_key(target: Target, action: Action) -> str:
    """What an action does to which service, independent of who proposed it or why."""
    return f"{target}:{action.model_dump_json()}"


def _int(d: dict[str, Any], name: str, default: int = 0) -> int:
    v = d.get(name)
    return int(v) if isinstance(v, int | float) and math.isfinite(v) else default


def _bounded(n: int, d: dict[str, Any]) -> int:
    lo = max(_int(d, "min_replicas", 1), 1)
    hi = _int(d, "max_replicas", 0)
    n = max(n, lo)
    return min(n, hi) if hi > 0 else n


def _scale_up(diag: Diagnosis, want: int, why: str, settings: PlannerSettings) -> list[Candidate]:
    d = diag.details
    spec = _int(d, "replicas")
    first = _bounded(want, d)
    out: list[Candidate] = []
    if first <= spec:
        return out
    step = settings.max_step_up
    if step is not None and first - spec > step:
        # Several autonomous steps beat one step that waits for a human during a surge.
        out.append(
            Candidate(
                ScaleAction(replicas=spec + step),
                f"{why}; scale {spec} → {spec + step} (a step of {step} toward {first})",
            )
        )
    exact = Candidate(ScaleAction(replicas=first), f"{why}; scale {spec} → {first}")
    bigger = _bounded(math.ceil(want * 1.25), d)
    if bigger > first and (step is None or bigger - spec <= step):
        roomy = Candidate(
            ScaleAction(replicas=bigger), f"{why}; scale {spec} → {bigger} (25 % headroom)"
        )
        # While the load is still rising, the next step waits out the cooldown and a pod
        # start-up: take the headroom now.
        out += [roomy, exact] if d.get("rising") else [exact, roomy]
    else:
        out.append(exact)
    return out


def candidates(diag: Diagnosis, settings: PlannerSettings | None = None) -> list[Candidate]:
    """Every action that could help, preferred first (see the module table)."""
    ps = settings or PlannerSettings()
    d = diag.details
    spec, ready = _int(d, "replicas"), _int(d, "ready")
    starting, pending = _int(d, "starting"), _int(d, "pending")
    need = d.get("needed")
    need_n = int(need) if isinstance(need, int | float) else None
    if diag.cause == "load" and need_n is not None:
        return _scale_up(diag, need_n, diag.summary, ps)
    if diag.cause == "bad_version":
        out: list[Candidate] = []
        suspect, stable = d.get("suspect"), d.get("stable")
        to = d.get("rollback_to")
        rev = d.get("rollback_revision")
        if isinstance(to, str) and to != suspect:
            action = RollbackAction(to_revision=int(rev)) if isinstance(rev, int) else None
            out.append(
                Candidate(
                    action or RollbackAction(to_version=to),
                    f"{diag.summary}; roll back to {to}",
                )
            )
        weights = d.get("route_weights") or {}
        if d.get("how") == "canary" and isinstance(stable, str) and isinstance(suspect, str):
            back = {stable: 100, suspect: 0}
            if weights != back:
                out.append(
                    Candidate(
                        RouteAction(weights=back),
                        f"{diag.summary}; send all traffic back to {stable}",
                    )
                )
        return out
    if diag.cause == "lost_capacity":
        coming = ready + starting - pending
        if need_n is None or coming >= need_n:
            return []  # the replacements start sooner than anything new would
        return _scale_up(diag, need_n + pending, f"{diag.summary}; compensate", ps)
    if diag.cause == "slow_dependency":
        if need_n is None or need_n <= spec:
            return []
        modest = min(need_n, max(2 * spec, spec + 1))
        return [
            Candidate(c.action, c.reason, "escalate: a human should check the slow dependency")
            for c in _scale_up(diag, modest, diag.summary, ps)[:1]
        ]
    if diag.cause == "overprovisioned" and need_n is not None:
        target = _bounded(need_n, d)
        if target >= spec:
            return []
        step = ps.max_step_down
        if step is not None and spec - target > step:
            # Step down in autonomous steps too (the next one after the first has settled).
            first = spec - step
            return [
                Candidate(
                    ScaleAction(replicas=first),
                    f"{diag.summary}; scale down {spec} → {first} (a step toward {target})",
                ),
                Candidate(ScaleAction(replicas=target), f"{diag.summary}; scale down to {target}"),
            ]
        return [Candidate(ScaleAction(replicas=target), f"{diag.summary}; scale down")]
    promote = d.get("promote")
    if diag.cause == "none" and isinstance(promote, str):
        return [
            Candidate(
                RollbackAction(to_version=promote),
                f"canary {promote} served within SLO and no worse than stable; promote it",
            )
        ]
    return []


def plan(
    diag: Diagnosis,
    *,
    pending: Collection[str] = (),
    rank: Rank | None = None,
    settings: PlannerSettings | None = None,
) -> list[Candidate]:
    """Candidates not already pending for this incident, best first."""
    fresh = [c for c in candidates(diag, settings) if c.key(diag.target) not in pending]
    if rank is None or len(fresh) < 2:
        return fresh
    scores = list(rank(fresh))
    order = sorted(range(len(fresh)), key=lambda i: (tuple(scores[i]), i))
    return [fresh[i] for i in order]


def to_proposals(
    diag: Diagnosis,
    chosen: Sequence[Candidate],
    *,
    new_id: Callable[[], str],
    requested_by: str = "agent:planner",
    incident_id: str | None = None,
) -> list[ActionProposal]:
    """Proposals with the diagnosis as their evidence."""
    return [
        ActionProposal(
            id=new_id(),
            target=diag.target,
            action=c.action,
            reason=(c.reason + (f" ({c.note})" if c.note else ""))[:4000],
            evidence=diag.evidence,
            incident_id=incident_id,
            requested_by=requested_by,
            created_at=diag.at,
        )
        for c in chosen
    ]
