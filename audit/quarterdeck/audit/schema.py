"""The SQLite layout of an audit log file, and the connection settings every process uses.

Durability: WAL mode with ``synchronous=FULL``. Each append is one ``BEGIN IMMEDIATE`` … ``COMMIT``
and FULL makes the commit fsync the WAL before ``append()`` returns, so an entry that was
acknowledged survives a killed process *and* a power cut or kernel crash. ``NORMAL`` would survive
a killed process too (the WAL is already in the OS's page cache) and is ~10x faster, but could lose
the last acknowledged entries on power loss — for a record of what was done to a cluster, that is
the wrong trade at Quarterdeck's write rate (tens of entries per decision). ``NORMAL`` remains
available for bulk simulation runs (``AuditLog(..., synchronous="NORMAL")``).

Append-only: triggers refuse UPDATE and DELETE on ``entries``. They stop mistakes, not attackers
(who can drop them); the MAC chain is what detects tampering.
"""

from __future__ import annotations

import sqlite3
from typing import Literal

Synchronous = Literal["FULL", "NORMAL"]

_SCHEMA_SQL = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL,
    mac  TEXT NOT NULL
);
CREATE TABLE entries (
    seq         INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    principal   TEXT NOT NULL,
    trace_id    TEXT,
    proposal_id TEXT,
    service     TEXT,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX entries_at ON entries (at);
CREATE INDEX entries_trace ON entries (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX entries_proposal ON entries (proposal_id) WHERE proposal_id IS NOT NULL;
CREATE INDEX entries_service ON entries (service, at) WHERE service IS NOT NULL;
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
"""


def _statements(script: str) -> tuple[str, ...]:
    """`script` split into statements (``executescript`` would commit our open transaction)."""
    out: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return tuple(out)


SCHEMA: tuple[str, ...] = _statements(_SCHEMA_SQL)

ENTRY_COLUMNS = "seq, at, principal, trace_id, proposal_id, service, kind, payload, prev_hash, hash"


def connect(path: str, *, synchronous: Synchronous, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN/COMMIT ourselves), usable from any thread
    of this process (the AuditLog serialises its use with a lock)."""
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def has_schema(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'head', "
        "'entries')"
    ).fetchone()
    return bool(row and row[0] == 3)
