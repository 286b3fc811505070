"""Adapters from the thinking parts (read tools, reasoning brains) to the agents' callables.

The agents take plain callables (`Diagnoser`, `Planner`, `IntentParser`, see `runtime.Brains`).
This module turns what other packages provide into those callables:

- `health_diagnoser`: the observer's SLO check from the read tools' `health_of` (stale or missing
  data → `NO_DATA`, never a value), with the evidence it saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quarterdeck.agents.a2a.observer_agent import Diagnoser
from quarterdeck.agents.a2a.wire import Health, ServiceHealth
from quarterdeck.core.models import Evidence, Target
from quarterdeck.tools.cluster.base import ClusterClient, ClusterError
from quarterdeck.tools.metrics.base import MetricsError
from quarterdeck.tools.reads import ReadTools

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
