"""Fixtures for the audit log tests: a key, a fresh log on a manual clock, raw tampering access."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.clock import ManualClock

EPOCH = 1_790_000_000.0  # a fixed Unix time, so entry times are predictable


@pytest.fixture
def key() -> AuditKey:
    return AuditKey(b"k" * 32, source="test")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(0.0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def log(db_path: Path, key: AuditKey, clock: ManualClock) -> Iterator[AuditLog]:
    with AuditLog(db_path, key, clock=clock, epoch=EPOCH) as opened:
        yield opened


def fill(log: AuditLog, clock: ManualClock, n: int) -> None:
    """`n` entries, one per simulated second, cycling kinds, services and principals."""
    kinds = ("request", "observation", "proposal", "verdict", "execution")
    for i in range(n):
        clock.set(float(i))
        log.append(
            kinds[i % len(kinds)],
            {"i": i, "note": f"step {i}"},
            principal=("alice", "planner")[i % 2],
            trace_id=f"t{i // 4}",
            proposal_id=f"p{i // 2}" if i % 3 else None,
            service=("ml/fraud-detector", "ml/ranker")[i % 2],
        )


@pytest.fixture
def filled(log: AuditLog, clock: ManualClock) -> AuditLog:
    """A log with 10 entries (seq 1..10, times EPOCH+0 .. EPOCH+9)."""
    fill(log, clock, 10)
    return log


@pytest.fixture
def raw(db_path: Path) -> Callable[[str], None]:
    """Run SQL on the file as an attacker with write access would (append-only triggers dropped)."""

    def run(sql: str) -> None:
        conn = sqlite3.connect(db_path)
        try:
            conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
            conn.execute("DROP TRIGGER IF EXISTS entries_no_delete")
            conn.executescript(sql)
            conn.commit()
        finally:
            conn.close()

    return run
