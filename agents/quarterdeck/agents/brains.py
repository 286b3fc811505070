"""Adapters from the thinking parts (read tools, reasoning brains) to the agents' callables.

The agents take plain callables (`Diagnoser`, `Planner`, `IntentParser`, see `runtime.Brains`).
This module turns what other packages provide into those callables:

- `health_diagnoser`: the observer's SLO check from the read tools' `health_of` (stale or missing
  data → `NO_DATA`, never a value), with the evidence it saw — for any target;
- `sim_diagnoser`, `sim_planner`, `brain_intents`: the brain (`quarterdeck.agents.brain`:
  burn-rate breaches, diagnosis by cause, candidate actions, intents) on the in-process
  simulator, candidates ranked by the what-if.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from quarterdeck.agents.a2a.coordinator_agent import IntentParser
from quarterdeck.agents.a2a.observer_agent import Diagnoser
from quarterdeck.agents.a2a.planner_agent import Planner
from quarterdeck.agents.a2a.wire import Health, Intent, PlanResult, ServiceHealth
from quarterdeck.agents.brain.diagnosis import Diagnosis
from quarterdeck.agents.brain.diagnosis import diagnose as diagnose_service
from quarterdeck.agents.brain.intents import parse_intent
from quarterdeck.agents.brain.planner import Candidate, to_proposals
from quarterdeck.agents.brain.planner import plan as brain_plan
from quarterdeck.agents.sim_observe import SimObserver
from quarterdeck.core.models import (
    Action,
    ActionProposal,
    Evidence,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)
from quarterdeck.tools.cluster.base import ClusterClient, ClusterError
from quarterdeck.tools.metrics.base import MetricsError
from quarterdeck.tools.reads import ReadTools

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator
    from quarterdeck.sim.whatif import WhatIf

_HEALTH = {"ok": Health.OK, "violated": Health.BREACH, "no_data": Health.NO_DATA}


def service_health(report: dict[str, Any], target: Target) -> ServiceHealth:
    """A `ServiceHealth` from one `ReadTools.health_of` report."""
    health = _HEALTH.get(str(report.get("health")), Health.NO_DATA)
    signals: dict[str, dict[str, Any]] = report.get("signals") or {}
    evidence = []
    breaches = []
    for name, s in sorted(signals.items()):
        threshold = (s.get("threshold") or {}).get("max")
        observed = s.get("observed_at")
        evidence.append(
            Evidence(
                signal=name,
                value=s.get("value"),
                observed_at=float(observed) if observed is not None else 0.0,
                threshold=threshold,
                source="metrics",
            )
        )
        if s.get("status") == "violated":
            breaches.append(name)
    if health is Health.NO_DATA or report.get("health") == "unknown":
        health = Health.NO_DATA
        summary = str(report.get("no_data_reason") or "signals missing or stale")
    elif health is Health.BREACH:
        summary = "; ".join(report.get("violations") or []) or "SLO violated"
    else:
        summary = "within SLO"
    return ServiceHealth(
        target=target,
        health=health,
        summary=summary,
        breaches=tuple(breaches),
        evidence=tuple(evidence),
        diagnosis=report,
    )


def health_diagnoser(reads: ReadTools, cluster: ClusterClient) -> Diagnoser:
    """Diagnose services (all the cluster lists, by default) with the read tools' SLO check."""

    def diagnose(services: Sequence[Target] | None) -> list[ServiceHealth]:
        targets = list(services) if services else [d.target for d in cluster.deployments()]
        out = []
        for target in targets:
            try:
                report = reads.health_of(target)
            except (MetricsError, ClusterError, ValueError) as exc:
                out.append(
                    ServiceHealth(
                        target=target,
                        health=Health.NO_DATA,
                        summary=f"could not read signals: {exc}",
                    )
                )
                continue
            out.append(service_health(report, target))
        return out

    return diagnose


# -- the brain (quarterdeck.agents.brain) on the in-process simulator ------------------------


def health_from_diagnosis(diag: Diagnosis) -> ServiceHealth:
    """The loop's summary of a brain `Diagnosis`: a breach, or a risk worth acting on before it
    breaches (a bad canary, load about to exceed capacity, waste), or fine."""
    if diag.severity == "breach":
        health = Health.BREACH
    elif diag.actionable:
        health = Health.RISK
    else:
        health = Health.OK
    return ServiceHealth(
        target=diag.target,
        health=health,
        summary=diag.summary,
        breaches=diag.signals,
        evidence=diag.evidence,
        cause=diag.cause,
        diagnosis=diag.to_dict(),
    )


def sim_diagnoser(sim: Simulator, reads: ReadTools) -> Diagnoser:
    """The brain's diagnosis from the simulator's own windows (`SimObserver`, as the `agent`
    controller reads them); a service whose metrics are missing or stale stays `NO_DATA`."""
    observer = SimObserver()

    def diagnose(services: Sequence[Target] | None) -> list[ServiceHealth]:
        wanted = set(services) if services else None
        out = []
        for obs in observer.observe_all(sim):
            if wanted is not None and obs.target not in wanted:
                continue
            try:
                report = reads.health_of(obs.target)
            except (MetricsError, ValueError) as exc:
                report = {"health": "no_data", "no_data_reason": f"could not read signals: {exc}"}
            if report.get("health") == "no_data":
                out.append(service_health(report, obs.target))
                continue
            out.append(health_from_diagnosis(diagnose_service(obs)))
        return out

    return diagnose


def sim_planner(sim: Simulator, *, horizon_s: float = 600.0) -> Planner:
    """The brain's candidates for a diagnosis, ranked by the simulator's what-if; each proposal
    carries its predicted effect (what the executor verifies against)."""

    def plan(health: ServiceHealth) -> PlanResult:
        if health.diagnosis is None or "cause" not in health.diagnosis:
            return PlanResult(proposals=[], notes="no diagnosis to plan from")
        diag = Diagnosis.from_dict(health.diagnosis)
        predictions: dict[str, WhatIf] = {}

        def rank(cands: Sequence[Candidate]) -> list[list[float]]:
            from quarterdeck.sim.whatif import predict

            scores = []
            for i, c in enumerate(cands):
                probe = ActionProposal(id=f"whatif-{i}", target=diag.target, action=c.action)
                w = predict(sim, [probe], horizon_s)
                predictions[c.key(diag.target)] = w
                d = w.delta
                scores.append([d.slo_violation_minutes, d.failed_requests, d.replica_hours])
            return scores

        chosen = brain_plan(diag, rank=None if sim.done else rank)
        if not chosen:
            return PlanResult(proposals=[], notes=f"{diag.cause}: nothing to propose")
        counter = iter(range(1, len(chosen) + 1))
        proposals = to_proposals(
            diag, chosen, new_id=lambda: f"plan-{diag.target.service}-{next(counter)}"
        )
        out = []
        for cand, p in zip(chosen, proposals, strict=True):
            w = predictions.get(cand.key(diag.target))
            out.append(p.model_copy(update={"predicted": w.as_predicted()}) if w else p)
        note = "ranked by the what-if" if predictions else "in the planner's order"
        return PlanResult(proposals=out, notes=f"{diag.cause}: {note}")

    return plan


def brain_intents(cluster: ClusterClient) -> IntentParser:
    """The brain's intent parser over the services the cluster lists, as the coordinator's
    `Intent` (explicit actions built here; their bounds are the guard's business)."""

    def understand(text: str) -> Intent:
        try:
            deps = cluster.deployments()
        except ClusterError:
            deps = []
        parsed = parse_intent(text, [d.target for d in deps])
        t = parsed.target
        why = parsed.explanation
        if parsed.kind in ("diagnose", "fix"):
            return Intent(kind=parsed.kind, target=t, explanation=why)
        if t is None or parsed.kind == "unknown":
            return Intent(kind="unknown", explanation=why)
        current = next((d for d in deps if d.target == t), None)
        action: Action | None = None
        if parsed.kind == "scale":
            n = parsed.replicas
            if n is None and current is not None:
                step = max(1, round(current.replicas * 0.5))
                n = current.replicas + (step if parsed.direction == "up" else -step)
            action = ScaleAction(replicas=max(n, 0)) if n is not None else None
        elif parsed.kind == "rollback":
            action = RollbackAction(to_version=parsed.version)
        elif parsed.kind == "route" and parsed.version and parsed.percent is not None:
            pct = parsed.percent
            base = current.version if current is not None else None
            if base is None or base == parsed.version or pct == 100:
                action = RouteAction(weights={parsed.version: 100})
            else:
                action = RouteAction(weights={parsed.version: pct, base: 100 - pct})
        elif parsed.kind == "restart":
            action = RestartAction(pods=parsed.pods)
        if action is None:
            return Intent(kind="unknown", target=t, explanation=f"could not work out: {why}")
        return Intent(kind="act", target=t, action=action, explanation=why)

    return understand
