"""The autonomous loop: every interval, observe all services and act according to the mode.

| mode      | on an SLO breach, a diagnosed risk, idle capacity, a canary to promote |
| --------- | ---------------------------------------------------------------------- |
| `observe` | report it; nothing proposed, nothing applied                           |
| `suggest` | ask the planner; record its best new proposal; nothing applied         |
| `approve` | send the best new proposal to the executor, which waits for a human    |
| `auto`    | send it to the executor: applied if policy allows, else it waits       |

Rules that hold in every mode:
- one incident per service in trouble, open until the service is healthy again; every step about
  it is audited under the incident's trace id. Idle capacity — within SLO, but clearly more
  replicas than the load of the last minutes needs (the brain's `overprovisioned`) — is an
  incident too, so what a surge called for is given back when it ends (the guard still judges
  every scale-down), and so is a canary the brain finds ready to promote (the executor lets the
  promotion through only if its own read of the canary's signals agrees);
- the action proposed is the planner's best-ranked candidate, except that in `auto` it is the
  best-ranked one the guard allows now (one that needs a human is asked for only when no other
  candidate is allowed);
- while a proposal for the service waits for approval, or an applied one waits to be verified,
  nothing new is proposed for it — except that a load breach still needing more replicas than
  are desired takes its next scale-up without waiting for the last one's verification, and a bad
  version found while only scale-ups settle is rolled back without waiting for them; and an
  action already tried for the incident is not proposed again (the next-ranked candidate is
  taken instead);
- a service whose signals are missing or stale is left alone, and the loop says so.

The loop is not an agent: it calls the observer, planner and executor through A2A like any other
client. Its open incidents, its scale-down window and its hot readings are written to an
`IncidentStore` after every pass when it has one (a restarted process then carries on with the
same incidents, traces and recent needs); approvals and executions are durable in the executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.agents.a2a.cards import EXECUTOR, OBSERVER, PLANNER
from quarterdeck.agents.a2a.client import AgentError, Reply
from quarterdeck.agents.a2a.transport import AgentNetwork
from quarterdeck.agents.a2a.wire import DiagnoseResult, Health, PlanResult, ServiceHealth
from quarterdeck.agents.brain.stabilise import HotLoads, RecentNeeds
from quarterdeck.agents.executor import AuditSink
from quarterdeck.agents.incident_store import IncidentStore
from quarterdeck.core.clock import Clock
from quarterdeck.core.models import ActionProposal, Decision, Target

LOOP_PRINCIPAL = "agent:loop"
STABILISE_S = 300.0  # idle capacity must hold this long before it is given back (HPA default)
PROMOTE = "promote"  # the incident of rolling a healthy canary forward
HOT_MEMORY_S = 1800.0  # a scale-down stays under the load per replica that ran hot this long


class LoopMode(StrEnum):
    OBSERVE = "observe"
    SUGGEST = "suggest"
    APPROVE = "approve"
    AUTO = "auto"


EventKind = Literal[
    "incident_opened",
    "incident_closed",
    "standing_still",
    "reported",
    "suggested",
    "waiting",
    "executed",
    "verified",
    "nothing_to_do",
    "error",
]


# Kinds that repeat step after step while nothing changes; a repeat is neither listed nor
# audited again (the step's `health` still shows every service every step).
_QUIET_REPEATS = frozenset({"reported", "waiting", "nothing_to_do", "standing_still"})


class LoopEvent(BaseModel):
    """One thing the loop noticed or did in a step, in values and in words."""

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    service: str
    message: str
    incident_id: str | None = None
    proposal_id: str | None = None
    status: str | None = Field(default=None, description="the executor's status, when it ran")
    proposal: ActionProposal | None = None


class LoopStep(BaseModel):
    at: float
    mode: LoopMode
    health: list[ServiceHealth] = Field(default_factory=list)
    events: list[LoopEvent] = Field(default_factory=list)

    def of_kind(self, kind: EventKind) -> list[LoopEvent]:
        return [e for e in self.events if e.kind == kind]


@dataclass
class Incident:
    id: str
    target: Target
    opened_at: float
    # Actions already proposed for this incident (by `_key`) → when the guard denied them, or
    # None when they were applied, suggested or are pending: those are never proposed again.
    tried: dict[str, float | None] = field(default_factory=dict)
    proposals: list[str] = field(default_factory=list)
    healthy_steps: int = 0  # consecutive steps within SLO
    cause: str | None = None

    @property
    def trace_id(self) -> str:
        return f"trace-{self.id}"


class LoopError(Exception):
    """An agent did not answer the way the loop needs; the message says which and how."""


class AutonomousLoop:
    def __init__(
        self,
        network: AgentNetwork,
        audit: AuditSink,
        clock: Clock,
        mode: LoopMode = LoopMode.OBSERVE,
        *,
        close_after: int = 2,
        retry_denied_after: float = 300.0,
        pause_after_denial: float = 60.0,
        store: IncidentStore | None = None,
    ) -> None:
        self.network = network
        # An incident closes after this many healthy steps in a row, so a service hovering at
        # its SLO does not open a new incident (and a new trace) every other step.
        self.close_after = close_after
        # A denied action may be allowed later (a cooldown ends, a freeze lifts): it becomes a
        # candidate again after this many clock seconds, not on the very next step.
        self.retry_denied_after = retry_denied_after
        # After a denial, propose nothing else for the incident for a while: the usual reasons
        # (a cooldown, a rate limit, a freeze) hold for the next candidate too.
        self.pause_after_denial = pause_after_denial
        self.audit = audit
        self.clock = clock
        self.mode = mode
        self._store = store
        self.incidents: dict[Target, Incident] = store.load() if store is not None else {}
        # services whose only blocker is a verification → the kinds of action settling there
        self._settling: dict[str, set[str]] = {}
        self._needs = RecentNeeds(STABILISE_S)  # what each service needed, for scale-downs
        self._hot = HotLoads(HOT_MEMORY_S)  # load per replica at which p95 neared the SLO
        if store is not None:
            self._needs.restore(store.load_needs())
            self._hot.restore(store.load_hot())
        self._said: dict[str, tuple[str, str]] = {}  # service → its last event (kind, message)
        self._pass_trace = "trace-loop-0"  # the trace of the current pass's observer turn

    async def step(self) -> LoopStep:
        """One pass: verify what settled, observe every service, act on breaches per the mode.
        The open incidents are stored after the pass, however it ended."""
        try:
            return await self._step()
        finally:
            if self._store is not None:
                self._store.save(self.incidents, self._needs.readings(), self._hot.readings())

    async def _step(self) -> LoopStep:
        now = self.clock.now()
        out = LoopStep(at=now, mode=self.mode)
        await self._verify(out)
        # One observer turn covers every service, before any incident is known: it is filed
        # under this pass's trace, which each incident it opens records as `diagnosed_in`.
        self._pass_trace = f"trace-loop-{now:.0f}"
        observed = await self._ask(
            OBSERVER, {"skill": "diagnose", "services": None, "trace_id": self._pass_trace}
        )
        raw = observed.first("services")
        if raw is None:
            out.events.append(LoopEvent(kind="error", service="*", message=observed.text))
            self._audit_event(out.events[-1], trace=self._pass_trace)
            return out
        out.health = DiagnoseResult.model_validate({"services": raw}).services
        waiting = await self._executor_waiting()
        for health in out.health:
            await self._handle(health, waiting, out)
        return out

    # -- per service ------------------------------------------------------------------------

    async def _handle(self, health: ServiceHealth, waiting: dict[str, str], out: LoopStep) -> None:
        target = health.target
        incident = self.incidents.get(target)
        if health.health is Health.NO_DATA:
            self._emit(
                out,
                LoopEvent(
                    kind="standing_still",
                    service=str(target),
                    incident_id=incident.id if incident else None,
                    message=f"no fresh signals for {target}: standing still ({health.summary})",
                ),
                incident,
            )
            return
        # Within SLO but holding clearly more replicas than the load needs (over the long window):
        # worth a scale-down, so capacity a surge called for is released when the surge ends.
        health = self._stabilised(health, out.at)
        rightsizing = health.health is Health.OK and _cause(health) == "overprovisioned"
        # A canary that has served within SLO, no worse than stable, long enough: roll forward.
        promoting = health.health is Health.OK and _promotable(health)
        if health.health is Health.OK and not (rightsizing or promoting):
            if incident is not None:
                incident.healthy_steps += 1
                if incident.healthy_steps < self.close_after:
                    return
                del self.incidents[target]
                self._emit(
                    out,
                    LoopEvent(
                        kind="incident_closed",
                        service=str(target),
                        incident_id=incident.id,
                        message=f"{target} is "
                        + (
                            "sized for its load"
                            if incident.cause == "overprovisioned"
                            else "served by its promoted canary"
                            if incident.cause == PROMOTE
                            else "back within SLO"
                        )
                        + f"; incident {incident.id} closed",
                    ),
                    incident,
                )
            return
        if incident is not None:
            incident.healthy_steps = 0
            # One incident per episode of trouble: the diagnosed cause may shift while an action
            # settles (load → "slow" while new pods warm up); the trace stays the same.
            incident.cause = _cause(health) or incident.cause
        if incident is None:
            known = _cause(health) or (PROMOTE if promoting else None)
            tag = f"{known}-" if known else ""
            incident = Incident(
                id=f"inc-{target.namespace}-{target.service}-{tag}{out.at:.0f}",
                target=target,
                opened_at=out.at,
                cause=known,
            )
            self.incidents[target] = incident
            self.audit.append(
                "observation",
                {**health.model_dump(mode="json"), "diagnosed_in": self._pass_trace},
                principal=LOOP_PRINCIPAL,
                trace_id=incident.trace_id,
                service=str(target),
            )
            self._emit(
                out,
                LoopEvent(
                    kind="incident_opened",
                    service=str(target),
                    incident_id=incident.id,
                    message=f"{target}: {health.summary}",
                ),
                incident,
            )
        if self.mode is LoopMode.OBSERVE:
            self._emit(out, self._event("reported", incident, health.summary), incident)
            return
        blocker = waiting.get(str(target), waiting.get("*"))
        settling = self._settling.get(str(target))
        if blocker is not None and settling is not None and _outgrown(health):
            # A surge still outgrowing the replicas: the next step need not wait two minutes for
            # the last one's verification (the guard's cooldown still spaces scale-ups).
            blocker = None
        if blocker is not None and settling == {"scale"} and _cause(health) == "bad_version":
            # A bad version showing while a scale settles: the rollback does not wait for the
            # scale's verification (it cannot fix a version; the rollback can).
            blocker = None
        denied = [t for t in incident.tried.values() if t is not None]
        if blocker is None and denied and out.at - max(denied) < self.pause_after_denial:
            again = max(denied) + self.pause_after_denial
            blocker = f"the last proposal was denied; nothing new before t={again:.0f}s"
        if blocker is not None:
            self._emit(out, self._event("waiting", incident, blocker), incident)
            return
        await self._propose(health, incident, out)

    def _stabilised(self, health: ServiceHealth, now: float) -> ServiceHealth:
        """Idle capacity only counts once it has held for `STABILISE_S` (the HPA's scale-down
        stabilisation), and a scale-down goes no lower than the most replicas any pass in that
        window said the load needed, nor to a load per replica at which p95 came near the SLO
        in the last `HOT_MEMORY_S`. Without them a service at the edge of a replica flaps: one
        noisy reading says one fewer would do, the next pass finds it short and scales up."""
        diagnosis = health.diagnosis or {}
        details = diagnosis.get("details") or {}
        need = details.get("needed")
        service = str(health.target)
        self._needs.note(service, now, int(need) if isinstance(need, int | float) else None)
        self._hot.note_diagnosis(service, now, _cause(health), details)
        if health.health is not Health.OK or _cause(health) != "overprovisioned":
            return health
        replicas = details.get("replicas")
        hot = self._hot.floor_for(service, now, details)
        floor = max(self._needs.floor(service) or 0, hot or 0)
        held = self._needs.held(service, now)
        if not held or not isinstance(replicas, int | float) or floor >= replicas:
            # not idle long enough, or not idle at all over the window: nothing to give back
            return health.model_copy(
                update={"cause": None, "diagnosis": {**diagnosis, "cause": "none"}}
            )
        stable = {**diagnosis, "details": {**details, "needed": floor}}
        return health.model_copy(update={"diagnosis": stable})

    async def _propose(self, health: ServiceHealth, incident: Incident, out: LoopStep) -> None:
        planned = await self._ask(
            PLANNER, {"skill": "plan", "health": health, "trace_id": incident.trace_id}
        )
        raw = planned.first("proposals")
        if raw is None:
            self._emit(out, self._event("error", incident, planned.text), incident)
            return
        result = PlanResult.model_validate({"proposals": raw, "notes": planned.first("notes")})
        fresh = [p for p in result.proposals if self._may_propose(incident, _key(p), out.at)]
        if not fresh:
            why = "no new action to propose" + (
                f" (already tried {len(incident.tried)})" if incident.tried else ""
            )
            self._emit(out, self._event("nothing_to_do", incident, why), incident)
            return
        best = await self._allowed_first(fresh) if self.mode is LoopMode.AUTO else fresh[0]
        proposal = best.model_copy(
            update={
                "id": f"{incident.id}-{len(incident.proposals) + 1}",
                "incident_id": incident.id,
                "trace_id": incident.trace_id,
                "requested_by": LOOP_PRINCIPAL,
                "created_at": out.at,
            }
        )
        incident.tried[_key(proposal)] = None
        incident.proposals.append(proposal.id)
        if self.mode is LoopMode.SUGGEST:
            self.audit.append(
                "proposal",
                {"proposal": proposal.model_dump(mode="json"), "mode": "suggest", "applied": False},
                principal=LOOP_PRINCIPAL,
                trace_id=incident.trace_id,
                proposal_id=proposal.id,
                service=str(proposal.target),
            )
            ev = self._event("suggested", incident, f"suggest: {proposal.reason or proposal.kind}")
            self._emit(
                out,
                ev.model_copy(update={"proposal_id": proposal.id, "proposal": proposal}),
                incident,
                audit=False,
            )
            return
        mode = "approve" if self.mode is LoopMode.APPROVE else "auto"
        reply = await self._ask(
            EXECUTOR,
            {
                "skill": "execute",
                "proposal": proposal,
                "mode": mode,
                "trace_id": incident.trace_id,
            },
        )
        report = reply.first("report")
        if report is None:
            self._emit(out, self._event("error", incident, reply.text), incident)
            return
        if report.get("status") == "denied":
            incident.tried[_key(proposal)] = out.at
        ev = self._event("executed", incident, reply.text or "no answer from the executor")
        self._emit(
            out,
            ev.model_copy(
                update={
                    "proposal_id": proposal.id,
                    "status": report.get("status"),
                    "proposal": proposal,
                }
            ),
            incident,
            audit=False,  # the executor audits the proposal, verdict and execution itself
        )

    async def _allowed_first(self, ranked: list[ActionProposal]) -> ActionProposal:
        """The best-ranked proposal the guard allows now; the best one otherwise. In `auto` the
        loop applies what policy allows and asks only for the rest: a bigger step that needs a
        human must not hold the service while a smaller one would act now (the guard's
        cooldown still spaces the steps)."""
        if len(ranked) < 2:
            return ranked[0]
        reply = await self._ask(
            EXECUTOR,
            {"skill": "preview", "proposals": [p.model_dump(mode="json") for p in ranked]},
        )
        decisions = reply.first("decisions")
        if not isinstance(decisions, list) or len(decisions) != len(ranked):
            return ranked[0]  # no preview: the executor judges the best one as before
        allowed = [p for p, d in zip(ranked, decisions, strict=True) if d == Decision.ALLOW.value]
        return allowed[0] if allowed else ranked[0]

    # -- helpers -----------------------------------------------------------------------------

    def _may_propose(self, incident: Incident, key: str, now: float) -> bool:
        if key not in incident.tried:
            return True
        denied_at = incident.tried[key]
        return denied_at is not None and now - denied_at >= self.retry_denied_after

    async def _verify(self, out: LoopStep) -> None:
        reply = await self._ask(EXECUTOR, {"skill": "verify_due"})
        for report in reply.first("verifications") or []:
            proposal = report.get("proposal") or {}
            target = proposal.get("target") or {}
            self._emit(
                out,
                LoopEvent(
                    kind="verified",
                    service=f"{target.get('namespace')}/{target.get('service')}",
                    incident_id=proposal.get("incident_id"),
                    proposal_id=report.get("proposal_id"),
                    status=report.get("status"),
                    message=str(report.get("message", "")),
                ),
                None,
                audit=False,  # the executor audits its verification
            )

    async def _executor_waiting(self) -> dict[str, str]:
        """Service → why nothing new may be proposed for it (an approval or a verification)."""
        reply = await self._ask(EXECUTOR, {"skill": "approvals"})
        if reply.first("approvals") is None:
            # Without the executor's list nobody can tell what is pending: propose nothing.
            return dict.fromkeys(map(str, self.incidents), reply.text) | {"*": reply.text}
        blockers: dict[str, str] = {}
        for approval in reply.first("approvals") or []:
            proposal = approval.get("proposal") or {}
            target = Target.model_validate(proposal.get("target"))
            blockers[str(target)] = (
                f"proposal {proposal.get('id')} waits for approval; not proposing again"
            )
        self._settling = {}
        for settling in reply.first("settling") or []:
            if settling.get("service"):
                service = str(settling["service"])
                if service not in blockers:
                    self._settling.setdefault(service, set()).add(str(settling.get("kind")))
                blockers.setdefault(
                    service, f"proposal {settling.get('proposal_id')} was applied and is settling"
                )
        return blockers

    async def _ask(self, agent: str, data: dict[str, Any]) -> Reply:
        """The agent's reply; a failed call becomes a reply with no data that says why, so one
        unreachable agent costs a step, not the loop."""
        try:
            client = await self.network.client(agent)
            return await client.send(data=data)
        except (AgentError, httpx.HTTPError, LookupError) as exc:
            return Reply(text=f"{agent} did not answer: {type(exc).__name__}: {exc}")

    def _event(self, kind: EventKind, incident: Incident, message: str) -> LoopEvent:
        return LoopEvent(
            kind=kind, service=str(incident.target), incident_id=incident.id, message=message
        )

    def _emit(
        self, out: LoopStep, event: LoopEvent, incident: Incident | None, *, audit: bool = True
    ) -> None:
        said = (event.kind, event.message)
        if event.kind in _QUIET_REPEATS and self._said.get(event.service) == said:
            return  # the same "still waiting / nothing new" as last step: said once is enough
        self._said[event.service] = said
        out.events.append(event)
        if audit:
            trace = incident.trace_id if incident else f"trace-loop-{out.at:.0f}"
            self._audit_event(event, trace=trace)

    def _audit_event(self, event: LoopEvent, *, trace: str) -> None:
        self.audit.append(
            "loop",
            {**event.model_dump(mode="json", exclude_none=True), "mode": self.mode.value},
            principal=LOOP_PRINCIPAL,
            trace_id=trace,
            proposal_id=event.proposal_id,
            service=event.service if event.service != "*" else None,
        )


def _promotable(health: ServiceHealth) -> bool:
    """The brain found a canary ready to promote (`details.promote`)."""
    details = (health.diagnosis or {}).get("details") or {}
    return isinstance(details, dict) and bool(details.get("promote"))


def _cause(health: ServiceHealth) -> str | None:
    """The diagnosed cause, from the summary or the brain's diagnosis; None when unexplained."""
    raw = health.cause or (health.diagnosis or {}).get("cause")
    return str(raw) if raw and raw != "none" else None


def _outgrown(health: ServiceHealth) -> bool:
    """An SLO breach from load that needs more replicas than are desired now (not merely a window
    still showing the overload the last scale-up has since fixed)."""
    if health.health is not Health.BREACH or _cause(health) != "load":
        return False
    details = (health.diagnosis or {}).get("details") or {}
    if details.get("latency_headroom"):
        return False  # sized by a p95 the 1-minute window may still carry from before the fix
    need, have = details.get("needed"), details.get("replicas")
    return isinstance(need, int | float) and isinstance(have, int | float) and need > have


def _key(p: ActionProposal) -> str:
    """Actions compare by what they do, not by who proposed them or why."""
    return f"{p.target}:{p.action.model_dump_json()}"
