"""Incident identity and the pending set, so no action is proposed twice for one incident.

An incident is one service in trouble for one cause from one start time: `Incident(target,
cause, started_at)`, id `inc-<namespace>-<service>-<cause>-<start>`. While the diagnosis keeps
naming the same cause the incident stays open (same id); a different cause opens a new one; a
diagnosis with nothing to act on for `close_after_s` closes it. Actions proposed for an incident
stay in its pending set until it closes, so `plan(..., pending=book.pending(incident))` never
re-proposes them. Deterministic: the caller passes the clock time (via the diagnosis).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quarterdeck.agents.brain.diagnosis import Cause, Diagnosis
from quarterdeck.core.models import Target


@dataclass(frozen=True)
class Incident:
    target: Target
    cause: Cause
    started_at: float

    @property
    def id(self) -> str:
        t = self.target
        return f"inc-{t.namespace}-{t.service}-{self.cause}-{self.started_at:.0f}"


@dataclass
class _Open:
    incident: Incident
    last_seen: float
    pending: set[str] = field(default_factory=set)


class IncidentBook:
    def __init__(self, close_after_s: float = 60.0) -> None:
        self.close_after_s = close_after_s
        self._open: dict[Target, _Open] = {}

    def update(self, diag: Diagnosis) -> Incident | None:
        """The open incident `diag` belongs to (opened now if new); None when nothing is wrong."""
        cur = self._open.get(diag.target)
        if not diag.actionable:
            if cur is not None and diag.at - cur.last_seen >= self.close_after_s:
                del self._open[diag.target]
            return None
        if cur is not None and cur.incident.cause == diag.cause:
            cur.last_seen = diag.at
            return cur.incident
        inc = Incident(diag.target, diag.cause, diag.at)
        self._open[diag.target] = _Open(inc, diag.at)
        return inc

    def pending(self, incident: Incident) -> frozenset[str]:
        cur = self._open.get(incident.target)
        if cur is None or cur.incident != incident:
            return frozenset()
        return frozenset(cur.pending)

    def add_pending(self, incident: Incident, key: str) -> None:
        cur = self._open.get(incident.target)
        if cur is not None and cur.incident == incident:
            cur.pending.add(key)

    def open_incidents(self) -> list[Incident]:
        return [o.incident for o in self._open.values()]
