"""The executor: guard → approval → act → verify, one durable LangGraph run per proposal.

```
guard ──deny──────────────────────────────────────────────> END (denied)
  │ allow (auto mode)                 require_approval / approve mode
  ├──────────────────────┐            │
  │                      ▼            ▼
  │                     act <── approved ── approval: interrupt() ──rejected──> END
  │                      │ applied
  │                      ▼
  │                   settle: interrupt() until clock ≥ applied_at + settle_s
  │                      ▼
  │                   verify ──worse──> undo (if reversible and the guard allows) or escalate
```

The graph is checkpointed in SQLite (thread id = proposal id), so a proposal waiting for a human
or for its settle time survives a restart. LangGraph re-runs an interrupted node from its start on
resume, so every side effect sits *after* the `interrupt()` call, and the one that matters — the
cluster call — is claimed in the `Ledger` first, with the pre-state it was planned against; a
claim a dead process left is finished by comparing the world with it (see `approvals.py` for the
exact guarantee, `recovery.py` for the comparison).

Nothing here reads module globals or the environment: `ExecutorDeps` carries the guard, the
cluster, a signal reader, the audit log and the clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from quarterdeck.agents.approvals import (
    Approval,
    ApprovalStatus,
    ExecutionRecord,
    ExecutionState,
    Ledger,
    checkpointer,
)
from quarterdeck.agents.guard_context import CanaryJudge, WallTime, build_context
from quarterdeck.agents.recovery import Finding, judge_claim, restart_marker_for, snapshot
from quarterdeck.agents.verify import Signals, VerifyResult, VerifySettings, judge, undo_action
from quarterdeck.core.clock import Clock
from quarterdeck.core.models import (
    Action,
    ActionProposal,
    Decision,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
    Verdict,
)
from quarterdeck.policies.context import GuardContext
from quarterdeck.tools.cluster.base import ApplyResult, ClusterClient, RestartMarking

ExecMode = Literal["auto", "approve"]
EXECUTOR_PRINCIPAL = "agent:executor"
_ACTION = TypeAdapter[Action](Action)


class GuardLike(Protocol):
    """What the executor needs of `quarterdeck.policies.Guard`."""

    def evaluate(self, proposal: ActionProposal, context: GuardContext) -> Verdict: ...

    def record(self, proposal: ActionProposal, verdict: Verdict, applied_at: float) -> object: ...


class AuditSink(Protocol):
    """What the executor needs of `quarterdeck.audit.AuditLog`."""

    def append(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        principal: str,
        trace_id: str | None = None,
        proposal_id: str | None = None,
        service: str | None = None,
    ) -> object: ...


SignalReader = Callable[[Target], Signals]


class ExecutorSettings(BaseModel):
    """How the executor behaves; immutable."""

    model_config = ConfigDict(frozen=True)

    settle_s: float = Field(
        default=120.0, ge=0, description="clock seconds after applying before signals are judged"
    )
    four_eyes: bool = Field(
        default=False, description="an approver may not approve a proposal they requested"
    )
    recheck_after_approval: bool = Field(
        default=True,
        description="evaluate the guard again when an approval arrives: the world may have moved "
        "(another action applied, a freeze began) while the proposal waited",
    )
    verify: VerifySettings = VerifySettings()


@dataclass
class ExecutorHooks:
    """Test seams at the two worst moments for the process to die (a test raises from them, or
    kills the process): `before_apply(proposal_id)` runs after the claim is committed and before
    the cluster call; `after_apply(proposal_id)` between the cluster call and recording it."""

    before_apply: Callable[[str], None] | None = None
    after_apply: Callable[[str], None] | None = None


@dataclass
class ExecutorDeps:
    guard: GuardLike
    cluster: ClusterClient
    signals: SignalReader
    audit: AuditSink
    clock: Clock
    wall_time: WallTime | None = None
    hooks: ExecutorHooks = field(default_factory=ExecutorHooks)
    canary_ok: CanaryJudge | None = None  # None: no canary counts as a healthy rollback target


class ExecutionStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    IN_PROGRESS = "in_progress"  # allowed or approved, the apply not recorded yet
    DENIED = "denied"  # by the guard (first look or re-check after approval)
    REJECTED = "rejected"  # by a human
    FAILED = "failed"  # the cluster refused or errored
    APPLIED = "applied"  # waiting for its settle time to be verified
    UNCONFIRMED = "unconfirmed"  # stopped mid-apply; the desired state is not observed
    VERIFIED = "verified"  # judged after settling: as predicted, improved or no change
    ROLLED_BACK = "rolled_back"  # made things worse and was undone
    ESCALATED = "escalated"  # needs a human: worse and not undoable, or no data to judge


WAITING = frozenset({ExecutionStatus.AWAITING_APPROVAL})
REFUSED = frozenset({ExecutionStatus.DENIED, ExecutionStatus.REJECTED})


class ExecutionReport(BaseModel):
    """Where one proposal stands, in values and in plain words."""

    proposal_id: str
    status: ExecutionStatus
    message: str
    trace_id: str | None = None
    proposal: ActionProposal | None = None
    verdict: Verdict | None = None
    approval: Approval | None = None
    execution: ExecutionRecord | None = None
    verification: dict[str, Any] | None = None
    verify_due_at: float | None = None


class ExecutorError(Exception):
    """A request the executor refuses; the message says why."""


class UnknownProposal(ExecutorError):
    pass


class AlreadyDecided(ExecutorError):
    def __init__(self, approval: Approval) -> None:
        self.approval = approval
        super().__init__(
            f"proposal {approval.proposal_id} was already {approval.status.value} by "
            f"{approval.decided_by}; nothing to decide"
        )


class NotAllowed(ExecutorError):
    pass


class _State(TypedDict, total=False):
    proposal: dict[str, Any]
    mode: str
    trace_id: str
    verdict: dict[str, Any]
    status: str
    message: str
    approved_by: str
    outcome: dict[str, Any]
    verification: dict[str, Any]


class ExecutorService:
    """Runs proposals through the executor graph. Thread-safe: one graph step at a time."""

    def __init__(
        self,
        deps: ExecutorDeps,
        state_dir: Path,
        settings: ExecutorSettings | None = None,
    ) -> None:
        self.deps = deps
        self.settings = settings or ExecutorSettings()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(state_dir / "executor-ledger.sqlite")
        self._saver, self._saver_conn = checkpointer(state_dir / "executor-graph.sqlite")
        self._graph = self._build_graph()
        self._lock = threading.RLock()

    def close(self) -> None:
        self.ledger.close()
        self._saver_conn.close()

    # -- public API --------------------------------------------------------------------------

    def execute(
        self,
        proposal: ActionProposal,
        *,
        mode: ExecMode = "auto",
        trace_id: str | None = None,
        task_id: str | None = None,
        context_id: str | None = None,
    ) -> ExecutionReport:
        """Guard, then apply or wait for approval. A proposal id already seen is not run again:
        the report of the first run is returned."""
        trace = trace_id or proposal.trace_id or f"trace-{proposal.id}"
        with self._lock:
            if task_id and context_id:
                self.ledger.bind_task(proposal.id, task_id, context_id, trace)
            if self._values(proposal.id):
                return self._advance_and_report(proposal.id)
            self._audit(
                "proposal",
                {"proposal": proposal.model_dump(mode="json"), "mode": mode},
                proposal,
                trace,
                principal=proposal.requested_by,
            )
            self._graph.invoke(
                {"proposal": proposal.model_dump(mode="json"), "mode": mode, "trace_id": trace},
                self._cfg(proposal.id),
            )
            return self.report(proposal.id)

    def decide(
        self, proposal_id: str, *, approve: bool, principal: str, comment: str | None = None
    ) -> ExecutionReport:
        """A human's approve/reject. Raises `AlreadyDecided` for a second decision."""
        with self._lock:
            approval = self.ledger.approval(proposal_id)
            if approval is None:
                raise UnknownProposal(f"no approval request for proposal {proposal_id!r}")
            if not approval.pending:
                raise AlreadyDecided(approval)
            if self.settings.four_eyes and principal == approval.proposal.requested_by:
                raise NotAllowed(
                    f"{principal} requested proposal {proposal_id} and may not approve it "
                    "(four-eyes rule)"
                )
            self._advance(proposal_id)  # a run a dead process left before its interrupt
            if self._interrupt_kind(proposal_id) != "approval":
                raise ExecutorError(f"proposal {proposal_id} is not waiting for an approval")
            self._graph.invoke(
                Command(resume={"approve": approve, "principal": principal, "comment": comment}),
                self._cfg(proposal_id),
            )
            return self.report(proposal_id)

    def verify_due(self) -> list[ExecutionReport]:
        """Verify every applied proposal whose settle time has passed on the clock."""
        reports = []
        with self._lock:
            for pid in self.ledger.due_verifications(self.deps.clock.now()):
                self._advance(pid)
                if self._interrupt_kind(pid) == "settle":
                    self._graph.invoke(Command(resume={"due": True}), self._cfg(pid))
                reports.append(self.report(pid))
        return reports

    def recover(self) -> list[ExecutionReport]:
        """Finish runs a previous process left mid-node (e.g. it died while applying)."""
        reports = []
        with self._lock:
            candidates = {r.proposal_id for r in self.ledger.executions()}
            candidates |= {a.proposal_id for a in self.ledger.approvals(status=None)}
            for pid in sorted(candidates):
                if self._advance(pid):
                    reports.append(self.report(pid))
        return reports

    def preview(self, proposals: list[ActionProposal]) -> list[Decision]:
        """What the guard would say of each proposal now, without recording or applying
        anything (the one that is then executed is judged again, and audited)."""
        return [self.deps.guard.evaluate(p, self._context(p)).decision for p in proposals]

    def approvals(self, *, pending_only: bool = True) -> list[Approval]:
        return self.ledger.approvals(status=ApprovalStatus.PENDING if pending_only else None)

    def report(self, proposal_id: str) -> ExecutionReport:
        values = self._values(proposal_id)
        if not values:
            raise UnknownProposal(f"no execution for proposal {proposal_id!r}")
        kind = self._interrupt_kind(proposal_id)
        raw = values.get("status")
        known = {s.value for s in ExecutionStatus}
        # "allowed" / "approved": past the guard (and a human), the apply not finished yet.
        status = ExecutionStatus(raw) if raw in known else ExecutionStatus.IN_PROGRESS
        message = values.get("message", "")
        due = None
        if kind == "approval":
            status = ExecutionStatus.AWAITING_APPROVAL
            message = f"{message or 'needs approval'}; waiting for a human to approve or reject"
        elif kind == "settle":
            pending = dict(self.ledger.pending_verifications())
            due = pending.get(proposal_id)
        verdict = values.get("verdict")
        return ExecutionReport(
            proposal_id=proposal_id,
            status=status,
            message=message,
            trace_id=values.get("trace_id"),
            proposal=ActionProposal.model_validate(values["proposal"]),
            verdict=Verdict.model_validate(verdict) if verdict else None,
            approval=self.ledger.approval(proposal_id),
            execution=self.ledger.execution(proposal_id),
            verification=values.get("verification"),
            verify_due_at=due,
        )

    # -- graph -------------------------------------------------------------------------------

    def _build_graph(self) -> Any:
        g = StateGraph(_State)
        # LangGraph's overloads do not accept bound methods typed with a TypedDict; the nodes are
        # plain `(state) -> update` callables.
        nodes: dict[str, Any] = {
            "guard": self._n_guard,
            "approval": self._n_approval,
            "act": self._n_act,
            "settle": self._n_settle,
            "verify": self._n_verify,
        }
        for name, node in nodes.items():
            g.add_node(name, node)
        g.add_edge(START, "guard")
        g.add_conditional_edges(
            "guard",
            lambda s: {
                ExecutionStatus.DENIED.value: END,
                ExecutionStatus.AWAITING_APPROVAL.value: "approval",
            }.get(s["status"], "act"),
        )
        g.add_conditional_edges(
            "approval", lambda s: "act" if s["status"] == ApprovalStatus.APPROVED.value else END
        )
        g.add_conditional_edges(
            "act", lambda s: "settle" if s["status"] == ExecutionStatus.APPLIED.value else END
        )
        g.add_edge("settle", "verify")
        g.add_edge("verify", END)
        return g.compile(checkpointer=self._saver)

    def _n_guard(self, st: _State) -> _State:
        p = ActionProposal.model_validate(st["proposal"])
        verdict = self.deps.guard.evaluate(p, self._context(p))
        self._audit("verdict", verdict.model_dump(mode="json"), p, st["trace_id"])
        vj = verdict.model_dump(mode="json")
        if verdict.decision is Decision.DENY:
            return {
                "verdict": vj,
                "status": ExecutionStatus.DENIED.value,
                "message": f"denied by policy: {_why(verdict)}",
            }
        if verdict.decision is Decision.REQUIRE_APPROVAL or st["mode"] == "approve":
            why = _why(verdict) if verdict.decision is Decision.REQUIRE_APPROVAL else "approve mode"
            return {
                "verdict": vj,
                "status": ExecutionStatus.AWAITING_APPROVAL.value,
                "message": f"needs approval: {why}",
            }
        return {"verdict": vj, "status": "allowed", "message": "allowed by policy"}

    def _n_approval(self, st: _State) -> _State:
        p = ActionProposal.model_validate(st["proposal"])
        verdict = Verdict.model_validate(st["verdict"])
        self.ledger.open_approval(p, verdict, at=self.deps.clock.now(), trace_id=st["trace_id"])
        answer = interrupt({"kind": "approval", "proposal_id": p.id})
        if not isinstance(answer, dict):
            answer = {}
        result = self.ledger.decide(
            p.id,
            approve=bool(answer.get("approve")),
            principal=str(answer.get("principal") or "unknown"),
            comment=answer.get("comment"),
            at=self.deps.clock.now(),
        )
        a = result.approval
        if result.decided_now:
            self._audit(
                "approval",
                {"decision": a.status.value, "by": a.decided_by, "comment": a.comment},
                p,
                st["trace_id"],
                principal=a.decided_by or "unknown",
            )
        if a.status is ApprovalStatus.APPROVED:
            return {"status": a.status.value, "approved_by": a.decided_by or ""}
        return {
            "status": ExecutionStatus.REJECTED.value,
            "message": f"rejected by {a.decided_by}" + (f": {a.comment}" if a.comment else ""),
        }

    def _n_act(self, st: _State) -> _State:
        p = ActionProposal.model_validate(st["proposal"])
        trace = st["trace_id"]
        verdict = Verdict.model_validate(st["verdict"])
        record = self.ledger.execution(p.id)
        if record is not None:  # a re-run after a crash: the verdict approved then still rules
            return self._settled_from_record(p, record, trace, verdict)
        context = self._context(p)
        if st.get("approved_by") and self.settings.recheck_after_approval:
            verdict = self.deps.guard.evaluate(p, context)
            self._audit("verdict", {**verdict.model_dump(mode="json"), "recheck": True}, p, trace)
            if verdict.decision is Decision.DENY:
                return {
                    "status": ExecutionStatus.DENIED.value,
                    "message": f"approved by {st['approved_by']}, but the guard now denies it: "
                    f"{_why(verdict)}",
                }
        return self._apply_once(p, verdict, context, trace)

    def _n_settle(self, st: _State) -> _State:
        p = ActionProposal.model_validate(st["proposal"])
        due = float(st["outcome"]["applied_at"]) + self.settings.settle_s
        self.ledger.schedule_verification(p.id, due_at=due)
        interrupt({"kind": "settle", "proposal_id": p.id, "due_at": due})
        return {}

    def _n_verify(self, st: _State) -> _State:
        p = ActionProposal.model_validate(st["proposal"])
        trace = st["trace_id"]
        done = self.ledger.verification(p.id)
        if done is not None:  # re-run after a crash: the judgement was recorded
            return {"status": done["status"], "message": done["message"], "verification": done}
        outcome = st["outcome"]
        now = self.deps.clock.now()
        before = Signals.model_validate(outcome.get("before_signals") or {})
        after = self.deps.signals(p.target)
        j = judge(before, after, p.predicted, self.settings.verify)
        status, message = ExecutionStatus.VERIFIED, j.message
        undo: dict[str, Any] | None = None
        if j.result is VerifyResult.WORSE:
            status, message, undo = self._undo(p, outcome, j.message, trace)
        elif j.result is VerifyResult.NO_DATA:
            status = ExecutionStatus.ESCALATED
            message = f"{j.message}; a human should look at {p.target}"
        result = {
            "status": status.value,
            "result": j.result.value,
            "message": message,
            "changes": j.changes,
            "checked_at": now,
            "undo": undo,
            "escalate": status is ExecutionStatus.ESCALATED,
        }
        self.ledger.finish_verification(p.id, result=result, at=now)
        self._audit("verification", result, p, trace)
        return {"status": status.value, "message": message, "verification": result}

    # -- steps -------------------------------------------------------------------------------

    def _apply_once(
        self, p: ActionProposal, verdict: Verdict, context: GuardContext, trace: str
    ) -> _State:
        """Claim, apply, record. The claim — with the pre-state the action was planned against —
        is committed before the cluster is touched."""
        action = verdict.action
        state = context.service(p.target.namespace, p.target.service)
        before_state = snapshot(self.deps.cluster, action, state)
        before_signals = self.deps.signals(p.target).model_dump(mode="json")
        marker = self._marker(p, action)
        existing = self.ledger.begin_apply(
            p,
            action.model_dump(mode="json"),
            at=self.deps.clock.now(),
            pre_state=before_state,
            before_signals=before_signals,
            marker=marker,
        )
        if existing is not None:
            return self._settled_from_record(p, existing, trace, verdict)
        return self._call_and_record(
            p,
            action,
            verdict,
            trace,
            before_state=before_state or {},
            before_signals=before_signals,
            marker=marker,
        )

    def _marker(self, p: ActionProposal, action: Action) -> str | None:
        """The restartedAt stamp for a rolling restart, when the cluster takes one."""
        restart = isinstance(action, RestartAction) and action.pods is None
        if restart and isinstance(self.deps.cluster, RestartMarking):
            return restart_marker_for(p.id)
        return None

    def _call_cluster(self, p: ActionProposal, action: Action, marker: str | None) -> ApplyResult:
        cluster = self.deps.cluster
        if marker is not None and isinstance(cluster, RestartMarking):
            return cluster.restart_marked(p.target, marker)
        return cluster.apply(p.target, action)

    def _call_and_record(
        self,
        p: ActionProposal,
        action: Action,
        verdict: Verdict | None,
        trace: str,
        *,
        before_state: dict[str, Any],
        before_signals: dict[str, Any],
        marker: str | None,
        recovered: str | None = None,
    ) -> _State:
        """Call the cluster for a claimed proposal and record the outcome in its row."""
        action_json = action.model_dump(mode="json")
        if self.deps.hooks.before_apply is not None:
            self.deps.hooks.before_apply(p.id)
        try:
            result = self._call_cluster(p, action, marker)
        except Exception as exc:  # any adapter failure is an outcome, never a crash of the agent
            failure: dict[str, Any] = {
                "error": f"{type(exc).__name__}: {exc}",
                "action": action_json,
            }
            if recovered:
                failure["recovered"] = recovered
            self.ledger.finish_apply(p.id, ok=False, outcome=failure, at=self.deps.clock.now())
            self._audit("execution", {"status": "failed", **failure}, p, trace)
            return {
                "status": ExecutionStatus.FAILED.value,
                "message": f"applying {_describe(action)} to {p.target} failed: {exc}",
            }
        if self.deps.hooks.after_apply is not None:
            self.deps.hooks.after_apply(p.id)
        applied_at = self.deps.clock.now()
        outcome: dict[str, Any] = {
            "applied": result.applied,
            "cluster_message": result.message,
            "action": action_json,
            "clamped": verdict.clamped if verdict is not None else False,
            "before_state": before_state,
            "before_signals": before_signals,
            "applied_at": applied_at,
        }
        if marker is not None:
            outcome["marker"] = marker
        if recovered:
            outcome["recovered"] = recovered
        self.ledger.finish_apply(p.id, ok=True, outcome=outcome, at=applied_at)
        if verdict is not None:
            self.deps.guard.record(p, verdict, applied_at)
        self._audit("execution", {"status": "applied", **outcome}, p, trace)
        clamp = " (clamped by policy)" if verdict is not None and verdict.clamped else ""
        after = f" ({recovered})" if recovered else ""
        return {
            "status": ExecutionStatus.APPLIED.value,
            "message": f"applied {_describe(action)}{clamp} to {p.target}{after}",
            "outcome": outcome,
        }

    def _settled_from_record(
        self, p: ActionProposal, record: ExecutionRecord, trace: str, verdict: Verdict | None
    ) -> _State:
        """The proposal was claimed before: report the recorded outcome, or — for a claim left
        `applying` by a process that died — finish it by a compare-and-set on the world."""
        if record.state is ExecutionState.APPLIED and record.outcome is not None:
            return {
                "status": ExecutionStatus.APPLIED.value,
                "message": f"already applied {_describe_json(record.action)} to {p.target}",
                "outcome": record.outcome,
            }
        if record.state is ExecutionState.FAILED:
            return {
                "status": ExecutionStatus.FAILED.value,
                "message": f"already attempted and failed: {(record.outcome or {}).get('error')}",
            }
        action = _ACTION.validate_python(record.action)
        state = self._context(p).service(p.target.namespace, p.target.service)
        now_state = snapshot(self.deps.cluster, action, state)
        finding, why = judge_claim(action, record.pre_state, now_state, marker=record.marker)
        now = self.deps.clock.now()
        if finding is Finding.APPLIED:
            outcome: dict[str, Any] = {
                "applied": True,
                "action": record.action,
                "recovered": f"confirmed by observation after a restart: {why}",
                "before_state": record.pre_state or {},
                "before_signals": record.before_signals or {},
                "applied_at": record.started_at,
            }
            self.ledger.finish_apply(p.id, ok=True, outcome=outcome, at=now)
            self._audit("execution", {"status": "applied", **outcome}, p, trace)
            return {
                "status": ExecutionStatus.APPLIED.value,
                "message": f"{_describe(action)} on {p.target} was applied before a restart "
                "(confirmed by observation); not applied again",
                "outcome": outcome,
            }
        if finding is Finding.NOT_APPLIED:
            if not self.ledger.claim_replay(p.id, seen=record.replays):
                return {  # another process claimed the replay first; its record will tell
                    "status": ExecutionStatus.UNCONFIRMED.value,
                    "message": f"{_describe(action)} on {p.target} is being applied by another "
                    "process after a restart",
                }
            self._audit(
                "execution",
                {
                    "status": "replaying",
                    "action": record.action,
                    "why": why,
                    "pre_state": record.pre_state,
                    "observed": now_state,
                    "replay": record.replays + 1,
                },
                p,
                trace,
            )
            return self._call_and_record(
                p,
                action,
                verdict,
                trace,
                before_state=record.pre_state or {},
                before_signals=record.before_signals or {},
                marker=record.marker,
                recovered="after a restart: the first call never took effect (the pre-state "
                "was still observed), so it was made once now",
            )
        outcome = {
            "error": f"the process stopped while applying; {why}",
            "action": record.action,
            "pre_state": record.pre_state,
            "observed": now_state,
        }
        self.ledger.finish_apply(p.id, ok=False, outcome=outcome, at=now)
        self._audit("execution", {"status": "unconfirmed", "escalate": True, **outcome}, p, trace)
        return {
            "status": ExecutionStatus.UNCONFIRMED.value,
            "message": f"{_describe(action)} on {p.target} may not have taken effect "
            f"({outcome['error']}); not replayed — a human should decide",
        }

    def _undo(
        self, p: ActionProposal, outcome: dict[str, Any], why: str, trace: str
    ) -> tuple[ExecutionStatus, str, dict[str, Any] | None]:
        action = _ACTION.validate_python(outcome["action"])
        reverse = undo_action(action, outcome.get("before_state") or {})
        if reverse is None:
            return (
                ExecutionStatus.ESCALATED,
                f"{why}; {_describe(action)} cannot be undone automatically — escalated",
                None,
            )
        undo_p = ActionProposal(
            id=f"{p.id}-undo",
            target=p.target,
            action=reverse,
            reason=f"undo {p.id}: {why}",
            incident_id=p.incident_id,
            trace_id=trace,
            requested_by=EXECUTOR_PRINCIPAL,
            created_at=self.deps.clock.now(),
        )
        context = self._context(undo_p)
        verdict = self.deps.guard.evaluate(undo_p, context)
        self._audit("proposal", {"proposal": undo_p.model_dump(mode="json")}, undo_p, trace)
        self._audit("verdict", verdict.model_dump(mode="json"), undo_p, trace)
        if not verdict.allowed:
            return (
                ExecutionStatus.ESCALATED,
                f"{why}; undoing it needs a human ({verdict.decision.value}: {_why(verdict)})",
                {"proposal_id": undo_p.id, "verdict": verdict.decision.value},
            )
        done = self._apply_once(undo_p, verdict, context, trace)
        if done.get("status") != ExecutionStatus.APPLIED.value:
            return (
                ExecutionStatus.ESCALATED,
                f"{why}; undo failed: {done.get('message')}",
                {"proposal_id": undo_p.id, "status": done.get("status")},
            )
        return (
            ExecutionStatus.ROLLED_BACK,
            f"{why}; rolled back with {_describe(reverse)}",
            {"proposal_id": undo_p.id, "action": reverse.model_dump(mode="json")},
        )

    # -- helpers -----------------------------------------------------------------------------

    def _context(self, p: ActionProposal) -> GuardContext:
        return build_context(
            self.deps.cluster,
            p.target,
            now=self.deps.clock.now(),
            applied=self.ledger.executions(),
            wall_time=self.deps.wall_time,
            # A promotion is a rollback to the canary's version: only then are canaries judged.
            canary_ok=self.deps.canary_ok if isinstance(p.action, RollbackAction) else None,
        )

    def _audit(
        self,
        kind: str,
        payload: dict[str, Any],
        p: ActionProposal,
        trace: str,
        *,
        principal: str = EXECUTOR_PRINCIPAL,
    ) -> None:
        self.deps.audit.append(
            kind,
            payload,
            principal=principal,
            trace_id=trace,
            proposal_id=p.id,
            service=str(p.target),
        )

    @staticmethod
    def _cfg(proposal_id: str) -> Any:
        return {"configurable": {"thread_id": proposal_id}}

    def _values(self, proposal_id: str) -> dict[str, Any]:
        return dict(self._graph.get_state(self._cfg(proposal_id)).values)

    def _interrupt_kind(self, proposal_id: str) -> str | None:
        snapshot = self._graph.get_state(self._cfg(proposal_id))
        for item in snapshot.interrupts:
            value = item.value
            if isinstance(value, dict):
                return str(value.get("kind"))
        return None

    def _advance(self, proposal_id: str) -> bool:
        """Finish a step a previous process left mid-node (not one paused at an interrupt)."""
        snapshot = self._graph.get_state(self._cfg(proposal_id))
        if snapshot.next and not snapshot.interrupts:
            self._graph.invoke(None, self._cfg(proposal_id))
            return True
        return False

    def _advance_and_report(self, proposal_id: str) -> ExecutionReport:
        self._advance(proposal_id)
        return self.report(proposal_id)


def _why(verdict: Verdict) -> str:
    if verdict.message:
        return verdict.message
    return "; ".join(f"{m.rule_id}: {m.message}" for m in verdict.matches) or verdict.decision.value


def _describe(action: Action) -> str:
    if isinstance(action, ScaleAction):
        return f"scale to {action.replicas} replicas"
    if isinstance(action, RollbackAction):
        to = action.to_version or f"revision {action.to_revision}"
        return f"roll back to {to}"
    if isinstance(action, RouteAction):
        return "route " + ", ".join(f"{v}={w}%" for v, w in sorted(action.weights.items()))
    return "restart " + ("all pods" if action.pods is None else f"{action.pods} pods")


def _describe_json(action: dict[str, Any]) -> str:
    return _describe(_ACTION.validate_python(action))
