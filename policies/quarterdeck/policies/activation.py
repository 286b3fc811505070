"""The variables a CEL expression sees, built from a proposal and a `GuardContext`.

This is the contract between policy authors and the guard; policies/default/README.md documents
it field by field. Values are plain JSON-like data (maps, lists, strings, ints, doubles, null) so
CEL compares them without surprises: replica counts are ints, times and ages are doubles, unknown
facts are null (and an expression that uses a null in arithmetic fails closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quarterdeck.core.models import Action, ActionProposal

from .context import AppliedAction, GuardContext, ServiceState

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def action_params(action: Action) -> dict[str, Any]:
    """An action's parameters without its kind: {"replicas": 6}, {"weights": {...}}, ..."""
    return action.model_dump(exclude={"kind"})


def proposal_variable(proposal: ActionProposal, action: Action, now: float) -> dict[str, Any]:
    """`proposal`: the proposal with `params` as it stands after earlier clamps."""
    return {
        "id": proposal.id,
        "kind": action.kind,
        "namespace": proposal.target.namespace,
        "service": proposal.target.service,
        "params": action_params(action),
        "requested": action_params(proposal.action),
        "requested_by": proposal.requested_by,
        "reason": proposal.reason,
        "incident_id": proposal.incident_id,
        "created_at": float(proposal.created_at),
        "evidence": [
            {
                "signal": e.signal,
                "value": e.value,
                "threshold": e.threshold,
                "source": e.source,
                "observed_at": float(e.observed_at),
                "age_s": float(now - e.observed_at),
            }
            for e in proposal.evidence
        ],
        "predicted": dict(proposal.predicted or {}),
    }


def service_variable(namespace: str, name: str, svc: ServiceState | None) -> dict[str, Any]:
    """`service`: the target's state; `known` is false (and every fact null) when not supplied."""
    if svc is None:
        return {
            "known": False,
            "namespace": namespace,
            "name": name,
            "replicas": None,
            "ready_replicas": None,
            "min_replicas": None,
            "max_replicas": None,
            "gpu_per_pod": None,
            "current_version": None,
            "current_revision": None,
            "revisions": [],
            "versions": [],
            "healthy_revisions": [],
            "healthy_versions": [],
            "route_weights": {},
            "labels": {},
            "namespace_labels": {},
        }
    return {
        "known": True,
        "namespace": svc.namespace,
        "name": svc.name,
        "replicas": svc.replicas,
        "ready_replicas": svc.ready_replicas,
        "min_replicas": svc.min_replicas,
        "max_replicas": svc.max_replicas,
        "gpu_per_pod": svc.gpu_per_pod,
        "current_version": svc.current_version,
        "current_revision": svc.current_revision,
        "revisions": [r.model_dump() for r in svc.revisions],
        "versions": sorted({r.version for r in svc.revisions}),
        "healthy_revisions": [r.number for r in svc.revisions if r.healthy],
        "healthy_versions": sorted({r.version for r in svc.revisions if r.healthy}),
        "route_weights": svc.effective_weights(),
        "labels": dict(svc.labels),
        "namespace_labels": dict(svc.namespace_labels),
    }


def cluster_variable(ctx: GuardContext) -> dict[str, Any]:
    cap = ctx.cluster.gpu_capacity
    return {
        "gpu_capacity": cap,
        "gpus_in_use": ctx.cluster.gpus_in_use,
        "gpus_free": None if cap is None else cap - ctx.cluster.gpus_in_use,
    }


def now_variable(ctx: GuardContext) -> dict[str, Any]:
    """`now`: the clock (`seconds`) and the wall-clock time in the context's timezone."""
    wall = ctx.wall_clock
    return {
        "seconds": float(ctx.now),
        "unix": wall.timestamp(),
        "iso": wall.isoformat(),
        "year": wall.year,
        "month": wall.month,
        "day": wall.day,
        "hour": wall.hour,
        "minute": wall.minute,
        "weekday": _WEEKDAYS[wall.weekday()],
        "timezone": str(wall.tzinfo),
    }


def history_variable(actions: Sequence[AppliedAction], now: float) -> dict[str, Any]:
    """`history`: actions applied to the target service, newest first, and the age of the last
    one of each kind."""
    newest_first = sorted(actions, key=lambda a: a.at, reverse=True)
    last: dict[str, float] = {}
    for a in newest_first:
        last.setdefault(a.kind, float(now - a.at))
    return {
        "actions": [
            {
                "kind": a.kind,
                "at": float(a.at),
                "age_s": float(now - a.at),
                "proposal_id": a.proposal_id,
            }
            for a in newest_first
        ],
        "last_age_s": last,
    }
