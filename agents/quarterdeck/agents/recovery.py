"""What a restarted executor may conclude from the world about a claim left `applying`.

The executor commits a claim — the action, and the target's state it was planned against (the
*pre-state*) — before it calls the cluster. A process that dies after the claim leaves nobody
knowing whether the call took effect. The world can tell, by a compare-and-set on the part of the
target the action changes:

- the desired state is observed → the call took effect: record it, never call again (`APPLIED`);
- the pre-state is still observed → the call never took effect: calling now is what was approved,
  against the very state it was approved for (`NOT_APPLIED`);
- anything else → the world moved on (another actor, a rollout, a crash) or cannot be read: a
  blind replay could undo someone else's change, so a human decides (`MOVED_ON`).

What "the part the action changes" is, per action: replicas (scale), effective route weights
(route), the current revision and version (rollback; a revision number only ever grows, so an
unchanged one means no rollout happened), the restartedAt marker and revision (a rolling restart,
whose marker is derived from the proposal id so a replay of the same restart is a no-op), the pod
names (a restart of N pods). Everything here is pure apart from the reads in `snapshot`.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import Any

from quarterdeck.core.models import (
    Action,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)
from quarterdeck.policies.context import ServiceState
from quarterdeck.tools.cluster.base import ClusterClient, ClusterError, RestartMarking
from quarterdeck.tools.cluster.history import rollback_target

MARKER_PREFIX = "quarterdeck/"


class Finding(StrEnum):
    APPLIED = "applied"
    NOT_APPLIED = "not_applied"
    MOVED_ON = "moved_on"


def restart_marker_for(proposal_id: str) -> str:
    """The restartedAt stamp of a rolling restart applied for `proposal_id`: one per proposal,
    so applying the same restart again finds it set and restarts nothing."""
    return f"{MARKER_PREFIX}{proposal_id}"


def snapshot(
    cluster: ClusterClient, action: Action, state: ServiceState | None
) -> dict[str, Any] | None:
    """The target as observed now, in the terms `judge_claim` compares (also the `before_state` that
    verification's undo reads: replicas, weights, version). None when it cannot be read."""
    if state is None:
        return None
    out: dict[str, Any] = {
        "replicas": state.replicas,
        "weights": state.effective_weights(),
        "version": state.current_version,
        "revision": state.current_revision,
    }
    target = Target(namespace=state.namespace, service=state.name)
    try:
        if isinstance(action, RestartAction):
            if action.pods is None and isinstance(cluster, RestartMarking):
                out["restart_marker"] = cluster.restart_marker(target)
            elif action.pods is not None:
                out["pods"] = sorted(p.name for p in cluster.pods(target.namespace, target.service))
    except ClusterError:
        return None
    if isinstance(action, RollbackAction):
        # Where the rollback leads, resolved while the revision it names exists (a rollback
        # renumbers the revision it returns to, so after it this lookup may find nothing).
        with contextlib.suppress(ClusterError):
            out["to_version"] = rollback_target(target, cluster.revisions(target), action).version
    return out


def judge_claim(
    action: Action,
    pre: dict[str, Any] | None,
    now: dict[str, Any] | None,
    *,
    marker: str | None = None,
) -> tuple[Finding, str]:
    """Compare the world `now` with the claim's pre-state `pre`; the finding and why, in words."""
    if now is None:
        return Finding.MOVED_ON, "the target cannot be read now"
    desired, unchanged = _compare(action, pre or {}, now, marker)
    if desired:
        return Finding.APPLIED, "the desired state is observed"
    if pre is not None and unchanged:
        return Finding.NOT_APPLIED, "the target is still in the state the action was planned on"
    if pre is None:
        return Finding.MOVED_ON, "the desired state is not observed (no pre-state was recorded)"
    return Finding.MOVED_ON, "the target changed since the action was planned"


def _compare(
    action: Action, pre: dict[str, Any], now: dict[str, Any], marker: str | None
) -> tuple[bool, bool]:
    """(desired state observed, pre-state still observed)."""
    if isinstance(action, ScaleAction):
        return now["replicas"] == action.replicas, now["replicas"] == pre.get("replicas")
    if isinstance(action, RouteAction):
        return now["weights"] == action.weights, now["weights"] == pre.get("weights")
    if isinstance(action, RollbackAction):
        unchanged = (now["revision"], now["version"]) == (pre.get("revision"), pre.get("version"))
        wanted = pre.get("to_version") or action.to_version
        return (not unchanged and wanted is not None and now["version"] == wanted), unchanged
    if action.pods is None:
        same_revision = now["revision"] == pre.get("revision")
        if marker is not None and "restart_marker" in now:
            desired = now["restart_marker"] == marker
            return desired, same_revision and now["restart_marker"] == pre.get("restart_marker")
        return False, same_revision  # without a marker a restart cannot be told from a rollout
    before, after = set(pre.get("pods") or ()), set(now.get("pods") or ())
    if not before:
        return False, False
    return len(before - after) >= action.pods, before == after
