"""Builds the guard's view of the world (`GuardContext`) from the cluster, the clock and the ledger.

The guard is pure given its context, so everything it may look at is read here, once per decision:
the service's Deployment, revisions and route weights, and the actions applied before (from the
executor's ledger, so cooldowns and rate limits survive a restart).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from quarterdeck.agents.approvals import ExecutionRecord, ExecutionState
from quarterdeck.agents.brain.diagnosis import DiagnosisSettings
from quarterdeck.core.models import ACTION_KINDS, ActionKind, Target
from quarterdeck.policies.context import (
    AppliedAction,
    GuardContext,
    Revision,
    ServiceState,
)
from quarterdeck.tools.cluster.base import ClusterClient, ClusterError
from quarterdeck.tools.cluster.base import Revision as ClusterRevision

WallTime = Callable[[float], datetime]
# (service, canary version, stable version) → whether the canary passes the promotion test on
# the signals read now (`brain.diagnosis.canary_fit`), never on a reasoner's word.
CanaryJudge = Callable[[Target, str, str], bool]
PROMOTE_AFTER_S = DiagnosisSettings.promote_after_s  # a canary serves this long before judging


def service_state(
    cluster: ClusterClient,
    target: Target,
    *,
    suspects: frozenset[str] = frozenset(),
    canary_ok: CanaryJudge | None = None,
    now: float = 0.0,
) -> ServiceState | None:
    """The service as the cluster reports it now; None when the cluster cannot say.

    A revision counts as `healthy` (a valid rollback target) when it is older than the current one
    (it served before the current rollout) and its version is not a `suspect` — one this executor
    already rolled back away from — or when it is a canary that has served `PROMOTE_AFTER_S` by
    `now` and `canary_ok` passes (promoting it is safe). The current revision is not marked
    healthy here: the guard must not roll back *to* what is running now.
    """
    try:
        dep = cluster.deployment(target)
        revisions = cluster.revisions(target)
        weights = cluster.route_weights(target)
    except ClusterError:
        return None

    def promotable(r: ClusterRevision) -> bool:
        return (
            canary_ok is not None
            and r.canary
            and r.created_at is not None
            and now - r.created_at >= PROMOTE_AFTER_S
            and canary_ok(target, r.version, dep.version)
        )

    return ServiceState(
        namespace=dep.namespace,
        name=dep.name,
        replicas=dep.replicas,
        ready_replicas=dep.ready,
        min_replicas=dep.min_replicas,
        max_replicas=dep.max_replicas,
        current_version=dep.version,
        current_revision=dep.revision,
        revisions=tuple(
            Revision(
                number=r.revision,
                version=r.version,
                healthy=r.version not in suspects and (r.revision < dep.revision or promotable(r)),
            )
            for r in revisions
        ),
        route_weights=dict(weights),
    )


def history(records: Sequence[ExecutionRecord]) -> tuple[AppliedAction, ...]:
    """Applied actions, as the guard's cooldowns and rate limits count them."""
    out = []
    for r in records:
        if r.state is ExecutionState.FAILED or r.kind not in ACTION_KINDS:
            continue
        kind: ActionKind = next(k for k in ACTION_KINDS if k == r.kind)
        out.append(
            AppliedAction(
                namespace=r.namespace,
                service=r.service,
                kind=kind,
                at=r.started_at,
                proposal_id=r.proposal_id,
            )
        )
    return tuple(out)


def rolled_back_from(records: Sequence[ExecutionRecord], target: Target) -> frozenset[str]:
    """Versions of `target` this executor rolled back away from (they misbehaved once)."""
    out = set()
    for r in records:
        if r.kind != "rollback" or r.state is not ExecutionState.APPLIED:
            continue
        if (r.namespace, r.service) != (target.namespace, target.service):
            continue
        version = ((r.outcome or {}).get("before_state") or {}).get("version")
        if isinstance(version, str):
            out.add(version)
    return frozenset(out)


def build_context(
    cluster: ClusterClient,
    target: Target,
    *,
    now: float,
    applied: Sequence[ExecutionRecord] = (),
    wall_time: WallTime | None = None,
    canary_ok: CanaryJudge | None = None,
) -> GuardContext:
    """The guard context for a proposal on `target` at clock time `now` (`canary_ok`: see
    `service_state`)."""
    state = service_state(
        cluster,
        target,
        suspects=rolled_back_from(applied, target),
        canary_ok=canary_ok,
        now=now,
    )
    return GuardContext(
        now=now,
        wall_time=wall_time(now) if wall_time is not None else None,
        services=(state,) if state is not None else (),
        history=history(applied),
    )
