"""Which revision a `RollbackAction` means, decided the same way by every adapter.

Semantics (the simulator's, which follow `kubectl rollout undo`): an explicit revision or
version (the newest revision running it); without either, the newest revision older than the
current one, or — while a canary runs — the current (primary) revision, which aborts the canary.
"""

from __future__ import annotations

from quarterdeck.core.models import RollbackAction, Target
from quarterdeck.tools.cluster.base import InvalidRequest, NotFoundError, Revision


def _listing(history: list[Revision]) -> str:
    return ", ".join(f"{r.revision} ({r.version})" for r in history) or "none"


def rollback_target(target: Target, history: list[Revision], action: RollbackAction) -> Revision:
    """The revision to roll back to; NotFoundError if there is none, InvalidRequest if the
    rollback would change nothing."""
    current = next((r for r in history if r.current), None)
    canary_running = any(r.canary for r in history)
    if action.to_revision is not None:
        chosen = [r for r in history if r.revision == action.to_revision]
        wanted = f"revision {action.to_revision}"
        if chosen and action.to_version is not None and chosen[0].version != action.to_version:
            raise InvalidRequest(
                f"rollback {target}: revision {action.to_revision} runs {chosen[0].version}, "
                f"not {action.to_version}"
            )
    elif action.to_version is not None:
        chosen = [r for r in history if r.version == action.to_version]
        wanted = f"version {action.to_version}"
    elif canary_running and current is not None:
        chosen, wanted = [current], "the primary revision"
    else:
        floor = current.revision if current is not None else 0
        chosen = [r for r in history if r.revision < floor and not r.canary]
        wanted = "previous revision"
    if not chosen:
        raise NotFoundError(
            f"rollback {target}: no {wanted} in the revision history "
            f"(revisions: {_listing(history)})"
        )
    choice = max(chosen, key=lambda r: r.revision)
    if choice.current and not canary_running:
        raise InvalidRequest(
            f"rollback {target}: already at revision {choice.revision} ({choice.version}); "
            "nothing to roll back"
        )
    return choice
