"""Interim planner and intent parser: deterministic stand-ins used by `embedded.default_brains`
until the reasoning brain (`quarterdeck.agents.brain`, another engineer's) is wired in.

They are deliberately plain: a handful of candidate actions ranked by the simulator's what-if, and
a few phrasings of the requests DESIGN.md names. Replace them; do not grow them.
"""

from __future__ import annotations

import math
import re
from typing import Any

from quarterdeck.agents.a2a.coordinator_agent import IntentParser
from quarterdeck.agents.a2a.planner_agent import Planner
from quarterdeck.agents.a2a.wire import Intent, PlanResult, ServiceHealth
from quarterdeck.core.models import (
    Action,
    ActionProposal,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)
from quarterdeck.tools.cluster.base import ClusterClient, ClusterError

TARGET_UTILISATION = 0.7
WHATIF_HORIZON_S = 600.0


def _candidates(health: ServiceHealth, cluster: ClusterClient) -> list[tuple[Action, str]]:
    t = health.target
    dep = cluster.deployment(t)
    values = {e.signal: e.value for e in health.evidence}
    out: list[tuple[Action, str]] = []
    if "error_ratio" in health.breaches:
        older = [
            r
            for r in cluster.revisions(t)
            if r.revision < dep.revision and r.version != dep.version
        ]
        if older:
            v = older[-1].version
            out.append(
                (
                    RollbackAction(to_version=v),
                    f"errors over SLO since {dep.version}; roll back to {v}",
                )
            )
        weights = cluster.route_weights(t)
        if sum(1 for w in weights.values() if w > 0) > 1:
            route = {v: 100 if v == dep.version else 0 for v in weights}
            out.append(
                (RouteAction(weights=route), f"errors over SLO; send all traffic to {dep.version}")
            )
    util = values.get("utilisation")
    ready = max(dep.ready, 1)
    want = math.ceil(ready * util / TARGET_UTILISATION) if util else dep.replicas + 2
    want = max(want, dep.replicas + 1)
    cap = dep.max_replicas or want
    for n in dict.fromkeys([min(want, cap), min(math.ceil(want * 1.5), cap)]):
        if n > dep.replicas:
            why = f"utilisation {util:.2f}" if util else "latency over SLO"
            out.append((ScaleAction(replicas=n), f"{why}; scale {dep.replicas} → {n}"))
    return out


def interim_planner(cluster: ClusterClient, simulator: Any = None) -> Planner:
    """Candidates from the health report; ranked by the what-if when a simulator is given."""

    def plan(health: ServiceHealth) -> PlanResult:
        try:
            candidates = _candidates(health, cluster)
        except ClusterError as exc:
            return PlanResult(proposals=[], notes=f"cannot read {health.target}: {exc}")
        proposals = [
            ActionProposal(
                id=f"plan-{health.target.service}-{i + 1}",
                target=health.target,
                action=action,
                reason=reason,
                evidence=health.valued_evidence(),
            )
            for i, (action, reason) in enumerate(candidates)
        ]
        if simulator is None or not proposals or simulator.done:
            return PlanResult(proposals=proposals)
        from quarterdeck.sim.whatif import predict

        scored = []
        for p in proposals:
            w = predict(simulator, [p], WHATIF_HORIZON_S)
            d = w.delta
            scored.append(((d.slo_violation_minutes, d.failed_requests, d.replica_hours), p, w))
        scored.sort(key=lambda s: s[0])
        ranked = [p.model_copy(update={"predicted": w.as_predicted()}) for _, p, w in scored]
        return PlanResult(proposals=ranked, notes="ranked by the what-if over 10 minutes")

    return plan


def interim_intents(cluster: ClusterClient) -> IntentParser:
    """Recognises: how is X / fix X (or "X is slow/high …") / scale X to N / roll back X /
    send N% of traffic to X vK."""

    def understand(text: str) -> Intent:
        low = text.lower()
        try:
            names = {d.name: d.target for d in cluster.deployments()}
        except ClusterError:
            names = {}
        target: Target | None = None
        for name in sorted(names, key=len, reverse=True):
            if re.search(rf"\b{re.escape(name)}\b", low):
                target = names[name]
                break
        if target is not None:
            if m := re.search(r"\bscale\b.*?\bto\s+(\d+)", low):
                n = int(m.group(1))
                return Intent(
                    kind="act", target=target, action=ScaleAction(replicas=n),
                    explanation=f"scale {target} to {n} replicas",
                )  # fmt: skip
            if m := re.search(r"(\d+)\s*%.*?\b(v[\w.-]*\d)\b", low):
                pct, version = int(m.group(1)), m.group(2)
                current = cluster.deployment(target).version
                if 0 < pct <= 100 and version != current:
                    weights = {version: pct, current: 100 - pct} if pct < 100 else {version: 100}
                    return Intent(
                        kind="act", target=target, action=RouteAction(weights=weights),
                        explanation=f"send {pct}% of {target}'s traffic to {version}",
                    )  # fmt: skip
            if re.search(r"\b(roll ?back|revert)\b", low):
                dep = cluster.deployment(target)
                older = [
                    r.version
                    for r in cluster.revisions(target)
                    if r.revision < dep.revision and r.version != dep.version
                ]
                if older:
                    return Intent(
                        kind="act", target=target, action=RollbackAction(to_version=older[-1]),
                        explanation=f"roll {target} back to {older[-1]}",
                    )  # fmt: skip
                return Intent(kind="diagnose", target=target, explanation="nothing to roll back to")
            if re.search(r"\b(fix|mitigate|remediate|high|slow|errors?|failing)\b", low):
                return Intent(kind="fix", target=target, explanation=f"diagnose and fix {target}")
            return Intent(kind="diagnose", target=target, explanation=f"how {target} is doing")
        if re.search(r"\b(how|status|health|doing|overview)\b", low):
            return Intent(kind="diagnose", explanation="how every service is doing")
        return Intent(kind="unknown")

    return understand
