"""Durable approvals and the exactly-once record of what was applied.

Two things live in SQLite files under the runtime's state directory and survive a restart:

- the LangGraph checkpoints of every execution (`checkpointer`): a proposal waiting for a human is a
  graph paused at `interrupt()`; a new process on the same file resumes it with
  `Command(resume=…)` and the same thread id (the proposal id);
- the `Ledger`: one row per approval request (pending → approved | rejected, decided once, by an
  atomic conditional UPDATE), one row per execution (the idempotency record), and the schedule of
  verifications.

The execution guarantee is **exactly once per proposal id where the world can tell, at most once
where it cannot**. The executor commits a *claim* before it calls the cluster: the execution row
in state `applying` with the action the guard allowed (and a human approved, if asked), the
pre-state it was planned against (the part of the target the action changes: replicas, route
weights, revision and version, the restart marker or the pod names), the signals then, and — for a
rolling restart — the restartedAt marker derived from the proposal id. It writes the outcome
(`applied` or `failed`) into the same row afterwards. Whoever finds a row already there — a resumed
graph re-running its node, a second approval, a restarted process — never calls the cluster on its
own account:

- `applied` / `failed`: the recorded outcome is the answer;
- `applying` with no outcome: the process stopped between the claim and the outcome. The executor
  compares the world with the claim (`quarterdeck.agents.recovery`):
  - the desired state is observed → the call took effect: recorded as applied (`confirmed`), no
    second call;
  - the pre-state is still observed → the call never took effect: it is made now, once, with the
    claimed action (the approved verdict stays the authority; the guard is not asked again), after
    a conditional UPDATE of the row's `replays` count that only one caller can win;
  - anything else (someone else changed the target, or it cannot be read) → the world moved on:
    not replayed; recorded `failed` as unconfirmed and escalated to a human.

What is still not guaranteed: the compare and the call are two requests, not one atomic
precondition on the cluster, so a change landing between them is overwritten (scale and route set
absolute values, so the result is still the approved state); a target that left the pre-state and
came back to it exactly (A→B→A) while the process was down looks untouched and gets the call; a
claim from before pre-states were recorded, or one whose target could not be read at claim time,
is only confirmed or escalated; and two executors recovering the same state directory at once are
not supported (one runtime per state directory).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel, ConfigDict

from quarterdeck.core.models import ActionProposal, Verdict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    proposal_id TEXT PRIMARY KEY,
    incident_id TEXT,
    trace_id TEXT,
    namespace TEXT NOT NULL,
    service TEXT NOT NULL,
    task_id TEXT,
    context_id TEXT,
    proposal TEXT NOT NULL,
    verdict TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_at REAL NOT NULL,
    decided_by TEXT,
    decided_at REAL,
    comment TEXT
);
CREATE TABLE IF NOT EXISTS executions (
    proposal_id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT,
    pre_state TEXT,
    before_signals TEXT,
    marker TEXT,
    replays INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS verifications (
    proposal_id TEXT PRIMARY KEY,
    due_at REAL NOT NULL,
    done_at REAL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
    proposal_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    context_id TEXT NOT NULL,
    trace_id TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_task ON tasks (task_id);
"""

# Columns added to `executions` after files were first written; a ledger opened on an older file
# gains them (empty: such claims fall back to observing, see `ExecutionRecord.pre_state`).
_ADDED_COLUMNS = {
    "pre_state": "TEXT",
    "before_signals": "TEXT",
    "marker": "TEXT",
    "replays": "INTEGER NOT NULL DEFAULT 0",
}
_EXECUTION_COLUMNS = (
    "proposal_id, namespace, service, kind, action, state, started_at, finished_at, outcome, "
    "pre_state, before_signals, marker, replays"
)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Approval(BaseModel):
    """A request for a human decision on one proposal, and the decision once made."""

    model_config = ConfigDict(frozen=True)

    proposal: ActionProposal
    verdict: Verdict
    status: ApprovalStatus
    requested_at: float
    incident_id: str | None = None
    trace_id: str | None = None
    task_id: str | None = None
    context_id: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    comment: str | None = None

    @property
    def proposal_id(self) -> str:
        return self.proposal.id

    @property
    def pending(self) -> bool:
        return self.status is ApprovalStatus.PENDING


class ExecutionState(StrEnum):
    APPLYING = "applying"  # committed before the cluster call; no outcome yet
    APPLIED = "applied"
    FAILED = "failed"


class ExecutionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    proposal_id: str
    namespace: str
    service: str
    kind: str
    action: dict[str, Any]
    state: ExecutionState
    started_at: float
    finished_at: float | None = None
    outcome: dict[str, Any] | None = None
    # Written with the claim, before the cluster is touched (None on claims from older files):
    pre_state: dict[str, Any] | None = None  # the target as observed when the action was planned
    before_signals: dict[str, Any] | None = None  # its signals then (what verification compares)
    marker: str | None = None  # the restartedAt stamp a rolling restart carries
    replays: int = 0  # calls made after a restart found the pre-state still in place


class DecideResult(BaseModel):
    """`decided_now` is False when someone else decided first; `approval` is the final record."""

    model_config = ConfigDict(frozen=True)

    decided_now: bool
    approval: Approval


class Ledger:
    """The approvals, executions and verifications of one executor, in one SQLite file.

    Every method is one short transaction; the connection runs in autocommit mode with explicit
    `BEGIN IMMEDIATE` where a read-then-write must not interleave with another writer.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # an acknowledged commit is on disk
        self._conn.executescript(_SCHEMA)
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(executions)")}
        for column, decl in _ADDED_COLUMNS.items():
            if column not in have:
                self._conn.execute(f"ALTER TABLE executions ADD COLUMN {column} {decl}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- approvals ---------------------------------------------------------------------------

    def open_approval(
        self,
        proposal: ActionProposal,
        verdict: Verdict,
        *,
        at: float,
        trace_id: str | None,
    ) -> Approval:
        """Record that `proposal` waits for a human; a second call returns the existing record."""
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO approvals (proposal_id, incident_id, trace_id, namespace, "
                "service, proposal, verdict, status, requested_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    proposal.id,
                    proposal.incident_id,
                    trace_id,
                    proposal.target.namespace,
                    proposal.target.service,
                    proposal.model_dump_json(),
                    verdict.model_dump_json(),
                    ApprovalStatus.PENDING.value,
                    at,
                ),
            )
        found = self.approval(proposal.id)
        assert found is not None
        return found

    def approval(self, proposal_id: str) -> Approval | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT a.proposal, a.verdict, a.status, a.requested_at, a.incident_id, "
                "a.trace_id, t.task_id, t.context_id, a.decided_by, a.decided_at, a.comment "
                "FROM approvals a LEFT JOIN tasks t USING (proposal_id) WHERE a.proposal_id = ?",
                (proposal_id,),
            ).fetchone()
        return None if row is None else _approval(row)

    def approvals(
        self,
        *,
        status: ApprovalStatus | None = ApprovalStatus.PENDING,
        namespace: str | None = None,
        service: str | None = None,
    ) -> list[Approval]:
        """Approvals, oldest first, filtered by status (None = all) and service."""
        where, args = ["1=1"], []
        if status is not None:
            where.append("a.status = ?")
            args.append(status.value)
        if namespace is not None:
            where.append("a.namespace = ?")
            args.append(namespace)
        if service is not None:
            where.append("a.service = ?")
            args.append(service)
        with self._lock:
            rows = self._conn.execute(
                "SELECT a.proposal, a.verdict, a.status, a.requested_at, a.incident_id, "
                "a.trace_id, t.task_id, t.context_id, a.decided_by, a.decided_at, a.comment "
                "FROM approvals a LEFT JOIN tasks t USING (proposal_id) "
                f"WHERE {' AND '.join(where)} ORDER BY a.requested_at, a.proposal_id",
                args,
            ).fetchall()
        return [_approval(r) for r in rows]

    def decide(
        self, proposal_id: str, *, approve: bool, principal: str, comment: str | None, at: float
    ) -> DecideResult:
        """Decide a pending approval. Exactly one caller ever gets `decided_now=True`."""
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        with self._tx() as c:
            cur = c.execute(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, comment = ? "
                "WHERE proposal_id = ? AND status = ?",
                (status.value, principal, at, comment, proposal_id, ApprovalStatus.PENDING.value),
            )
            decided_now = cur.rowcount == 1
        found = self.approval(proposal_id)
        if found is None:
            raise KeyError(proposal_id)
        return DecideResult(decided_now=decided_now, approval=found)

    # -- A2A task binding --------------------------------------------------------------------

    def bind_task(
        self, proposal_id: str, task_id: str, context_id: str, trace_id: str | None
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO tasks (proposal_id, task_id, context_id, trace_id) "
                "VALUES (?,?,?,?)",
                (proposal_id, task_id, context_id, trace_id),
            )

    def task_of(self, proposal_id: str) -> tuple[str, str, str | None] | None:
        """(task_id, context_id, trace_id) of the A2A task that carries `proposal_id`."""
        with self._lock:
            row = self._conn.execute(
                "SELECT task_id, context_id, trace_id FROM tasks WHERE proposal_id = ?",
                (proposal_id,),
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def proposal_of_task(self, task_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT proposal_id FROM tasks WHERE task_id = ?", (task_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    # -- executions (the idempotency record) -------------------------------------------------

    def begin_apply(
        self,
        proposal: ActionProposal,
        action: dict[str, Any],
        *,
        at: float,
        pre_state: dict[str, Any] | None = None,
        before_signals: dict[str, Any] | None = None,
        marker: str | None = None,
    ) -> ExecutionRecord | None:
        """Claim the right to apply `proposal`, committed before the cluster is touched, with
        the pre-state the action was planned against (the compare half of the compare-and-set a
        restarted process does).

        Returns None when the claim succeeded (the caller applies now), or the existing record
        when the proposal was claimed before (the caller must not apply on its own account).
        """
        with self._tx() as c:
            existing = c.execute(
                "SELECT proposal_id FROM executions WHERE proposal_id = ?", (proposal.id,)
            ).fetchone()
            if existing is None:
                c.execute(
                    "INSERT INTO executions (proposal_id, namespace, service, kind, action, "
                    "state, started_at, pre_state, before_signals, marker) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        proposal.id,
                        proposal.target.namespace,
                        proposal.target.service,
                        str(action.get("kind", proposal.kind)),
                        json.dumps(action, sort_keys=True),
                        ExecutionState.APPLYING.value,
                        at,
                        _json_or_none(pre_state),
                        _json_or_none(before_signals),
                        marker,
                    ),
                )
        if existing is None:
            return None
        return self.execution(proposal.id)

    def claim_replay(self, proposal_id: str, *, seen: int) -> bool:
        """Claim one more call for a claim still `applying` whose `replays` count is `seen`.

        A conditional UPDATE: of several callers that read the same record, exactly one wins, so
        a restarted process and a second approval never both replay the call.
        """
        with self._tx() as c:
            cur = c.execute(
                "UPDATE executions SET replays = replays + 1 "
                "WHERE proposal_id = ? AND state = ? AND replays = ?",
                (proposal_id, ExecutionState.APPLYING.value, seen),
            )
            return cur.rowcount == 1

    def finish_apply(
        self, proposal_id: str, *, ok: bool, outcome: dict[str, Any], at: float
    ) -> ExecutionRecord:
        """Write the outcome into the execution row (once: a finished row is never rewritten)."""
        state = ExecutionState.APPLIED if ok else ExecutionState.FAILED
        with self._tx() as c:
            c.execute(
                "UPDATE executions SET state = ?, finished_at = ?, outcome = ? "
                "WHERE proposal_id = ? AND state = ?",
                (
                    state.value,
                    at,
                    json.dumps(outcome, sort_keys=True),
                    proposal_id,
                    ExecutionState.APPLYING.value,
                ),
            )
        found = self.execution(proposal_id)
        if found is None:
            raise KeyError(proposal_id)
        return found

    def execution(self, proposal_id: str) -> ExecutionRecord | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE proposal_id = ?",
                (proposal_id,),
            ).fetchone()
        return None if row is None else _execution(row)

    def executions(self, *, since: float | None = None) -> list[ExecutionRecord]:
        """Applied or attempted executions, oldest first (cooldowns and rate limits read these)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE started_at >= ? "
                "ORDER BY started_at, proposal_id",
                (since if since is not None else float("-inf"),),
            ).fetchall()
        return [_execution(r) for r in rows]

    # -- verifications -----------------------------------------------------------------------

    def schedule_verification(self, proposal_id: str, *, due_at: float) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO verifications (proposal_id, due_at) VALUES (?, ?)",
                (proposal_id, due_at),
            )

    def due_verifications(self, now: float) -> list[str]:
        """Proposal ids whose verification is due at `now` and not done, soonest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT proposal_id FROM verifications WHERE done_at IS NULL AND due_at <= ? "
                "ORDER BY due_at, proposal_id",
                (now,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def pending_verifications(self) -> list[tuple[str, float]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT proposal_id, due_at FROM verifications WHERE done_at IS NULL "
                "ORDER BY due_at, proposal_id"
            ).fetchall()
        return [(str(r[0]), float(r[1])) for r in rows]

    def finish_verification(self, proposal_id: str, *, result: dict[str, Any], at: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE verifications SET done_at = ?, result = ? "
                "WHERE proposal_id = ? AND done_at IS NULL",
                (at, json.dumps(result, sort_keys=True), proposal_id),
            )

    def verification(self, proposal_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT result FROM verifications WHERE proposal_id = ?", (proposal_id,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None


def _approval(row: tuple[Any, ...]) -> Approval:
    return Approval(
        proposal=ActionProposal.model_validate_json(row[0]),
        verdict=Verdict.model_validate_json(row[1]),
        status=ApprovalStatus(row[2]),
        requested_at=row[3],
        incident_id=row[4],
        trace_id=row[5],
        task_id=row[6],
        context_id=row[7],
        decided_by=row[8],
        decided_at=row[9],
        comment=row[10],
    )


def _execution(row: tuple[Any, ...]) -> ExecutionRecord:
    return ExecutionRecord(
        proposal_id=row[0],
        namespace=row[1],
        service=row[2],
        kind=row[3],
        action=json.loads(row[4]),
        state=ExecutionState(row[5]),
        started_at=row[6],
        finished_at=row[7],
        outcome=None if row[8] is None else json.loads(row[8]),
        pre_state=None if row[9] is None else json.loads(row[9]),
        before_signals=None if row[10] is None else json.loads(row[10]),
        marker=row[11],
        replays=int(row[12] or 0),
    )


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def checkpointer(path: Path | str) -> tuple[SqliteSaver, sqlite3.Connection]:
    """A LangGraph checkpointer on the SQLite file `path`, and its connection (close it)."""
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver, conn
