"""A durable A2A task store on SQLite, so a task waiting in input-required survives a restart.

The SDK's own SQL store needs SQLAlchemy; this one needs only the standard library. Tasks are stored
as serialised protobuf, one row per (agent, task id). It is single-tenant: tasks are not scoped by
owner, because authorisation is the API layer's job and every agent here belongs to one operator.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from a2a.server.context import ServerCallContext
from a2a.server.tasks import TaskStore
from a2a.types import ListTasksRequest, ListTasksResponse, Task, TaskState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS a2a_tasks (
    agent TEXT NOT NULL,
    task_id TEXT NOT NULL,
    context_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (agent, task_id)
)
"""
_DEFAULT_PAGE = 50


class SqliteTaskStore(TaskStore):
    """`TaskStore` over one SQLite file; several agents may share the file (rows keyed by agent)."""

    def __init__(self, path: Path | str, agent: str) -> None:
        self._agent = agent
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    async def save(self, task: Task, context: ServerCallContext) -> None:
        with self._lock:
            (seq,) = self._conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM a2a_tasks WHERE agent = ?", (self._agent,)
            ).fetchone()
            self._conn.execute(
                "INSERT INTO a2a_tasks (agent, task_id, context_id, state, seq, body) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent, task_id) DO UPDATE SET "
                "context_id = excluded.context_id, state = excluded.state, seq = excluded.seq, "
                "body = excluded.body",
                (
                    self._agent,
                    task.id,
                    task.context_id,
                    int(task.status.state),
                    seq,
                    task.SerializeToString(),
                ),
            )

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM a2a_tasks WHERE agent = ? AND task_id = ?",
                (self._agent, task_id),
            ).fetchone()
        if row is None:
            return None
        task = Task()
        task.ParseFromString(row[0])
        return task

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """Most recently saved first. `page_token` is the offset of the next page."""
        where = ["agent = ?"]
        args: list[object] = [self._agent]
        if params.context_id:
            where.append("context_id = ?")
            args.append(params.context_id)
        if params.status != TaskState.TASK_STATE_UNSPECIFIED:
            where.append("state = ?")
            args.append(int(params.status))
        size = params.page_size or _DEFAULT_PAGE
        offset = int(params.page_token) if params.page_token.isdigit() else 0
        clause = " AND ".join(where)
        with self._lock:
            (total,) = self._conn.execute(
                f"SELECT COUNT(*) FROM a2a_tasks WHERE {clause}", args
            ).fetchone()
            rows = self._conn.execute(
                f"SELECT body FROM a2a_tasks WHERE {clause} ORDER BY seq DESC LIMIT ? OFFSET ?",
                [*args, size, offset],
            ).fetchall()
        tasks = []
        for (body,) in rows:
            task = Task()
            task.ParseFromString(body)
            tasks.append(task)
        next_token = str(offset + size) if offset + size < total else ""
        return ListTasksResponse(
            tasks=tasks, next_page_token=next_token, page_size=size, total_size=total
        )

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        with self._lock:
            self._conn.execute(
                "DELETE FROM a2a_tasks WHERE agent = ? AND task_id = ?", (self._agent, task_id)
            )
