"""The append-only audit log: one SQLite file, one writer at a time, readers never block it.

Usage::

    log = AuditLog.open(".quarterdeck/audit.db", key=AuditKey.from_file(".quarterdeck/audit.key",
                                                                          create=True))
    log.append("proposal", proposal, principal="planner", trace_id=t, proposal_id=proposal.id,
               service=proposal.target)
    log.verify()   # VerifyResult: OK with the count, or the first bad entry and why

Every append is its own ``BEGIN IMMEDIATE`` transaction (so several processes may share a file:
SQLite lets one of them write at a time, the others wait up to ``busy_timeout_s``), reads the
signed head inside it, writes the entry and the new signed head, and commits before returning.
Within a process a lock serialises appends; reads use a second connection so they do not wait for
appends (WAL gives them a consistent snapshot). See ``schema`` for durability, ``verify`` for what
tampering is detected and what is not.
"""

from __future__ import annotations

import hmac
import math
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from quarterdeck.audit.canonical import payload_json
from quarterdeck.audit.entry import (
    FORMAT_VERSION,
    AuditEntry,
    ChainItem,
    genesis_hash,
    head_signed_bytes,
)
from quarterdeck.audit.keys import AuditKey
from quarterdeck.audit.kinds import AuditKind, check_kind
from quarterdeck.audit.schema import (
    ENTRY_COLUMNS,
    SCHEMA,
    Synchronous,
    connect,
    has_schema,
)
from quarterdeck.audit.verify import Anchor, SignedHead, VerifyResult, verify_chain
from quarterdeck.core.clock import Clock, WallClock
from quarterdeck.core.models import Target

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SERVICE_RE = re.compile(rf"^{_LABEL}/{_LABEL}$")
DEFAULT_LIMIT = 1000
_FETCH = 1000


class AuditError(Exception):
    """The log cannot do what was asked; the message says why."""


class AuditLogNotFound(AuditError, FileNotFoundError):
    """The database file does not exist (and ``create=False``)."""


class AuditKeyMismatch(AuditError):
    """Appending with a key other than the one the log was created with."""


@dataclass(frozen=True)
class AuditHead:
    """The last entry: record ``f"{seq}:{hash}"`` elsewhere to detect a rollback later."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a query selects; ``None`` means any. ``since <= at < until`` (Unix seconds)."""

    since: float | None = None
    until: float | None = None
    service: str | None = None
    principal: str | None = None
    kind: AuditKind | None = None
    trace_id: str | None = None
    proposal_id: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, op, value in (
            ("at", ">=", self.since),
            ("at", "<", self.until),
            ("service", "=", self.service),
            ("principal", "=", self.principal),
            ("kind", "=", self.kind),
            ("trace_id", "=", self.trace_id),
            ("proposal_id", "=", self.proposal_id),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _service_text(service: str | Target | None) -> str | None:
    if service is None:
        return None
    text = str(service)
    if not SERVICE_RE.match(text):
        raise ValueError(f"service must be namespace/name, got {text!r}")
    return text


def _unix(t: float | datetime | None, name: str) -> float | None:
    if t is None:
        return None
    value = t.timestamp() if isinstance(t, datetime) else float(t)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite time, got {t!r}")
    return value


def _item(row: tuple[Any, ...]) -> ChainItem:
    return ChainItem(*row)


class AuditLog:
    """A tamper-evident, append-only log of every step of Quarterdeck's work.

    `key` may be omitted to read (query, get, export); append and verify need it. Times come from
    `clock` (default: wall clock, Unix seconds). A simulator's clock counts seconds from the
    scenario start: pass ``epoch=sim.epoch`` so entries are stored as Unix seconds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: AuditKey | bytes | None = None,
        *,
        clock: Clock | None = None,
        epoch: float = 0.0,
        create: bool = True,
        synchronous: Synchronous = "FULL",
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.key = AuditKey(key) if isinstance(key, bytes) else key
        self._clock: Clock = clock or WallClock()
        self._epoch = float(epoch)
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        if not self.path.exists():
            if not create:
                raise AuditLogNotFound(f"no audit log at {self.path}")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wlock = threading.Lock()
        self._last_head: tuple[int, str, str] | None = None
        self._rlock = threading.Lock()
        try:
            self._w = connect(
                str(self.path), synchronous=synchronous, busy_timeout_s=busy_timeout_s
            )
            self._init_schema(create)
            self._r = connect(
                str(self.path), synchronous=synchronous, busy_timeout_s=busy_timeout_s
            )
        except sqlite3.DatabaseError as e:
            raise AuditError(f"{self.path} is not a usable audit log: {e}") from None
        meta = dict(self._r.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != str(FORMAT_VERSION):
            raise AuditError(f"{self.path}: unsupported audit log format {meta.get('format')!r}")
        self.log_id: str = meta.get("log_id", "")
        self.key_id: str | None = meta.get("key_id")
        self._genesis = genesis_hash(self.log_id)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        key: AuditKey | bytes | None = None,
        **kwargs: Any,
    ) -> AuditLog:
        """Same as the constructor; reads better at call sites."""
        return cls(path, key, **kwargs)

    def _init_schema(self, create: bool) -> None:
        conn = self._w
        if has_schema(conn):
            return
        if not create:
            raise AuditError(f"{self.path} is not an audit log (no audit tables)")
        if self.key is None:
            raise AuditError("creating an audit log needs a key")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not has_schema(conn):  # another process may have created it meanwhile
                log_id = uuid.uuid4().hex
                genesis = genesis_hash(log_id)
                for statement in SCHEMA:
                    conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("format", str(FORMAT_VERSION)),
                        ("log_id", log_id),
                        ("key_id", self.key.key_id),
                    ],
                )
                conn.execute(
                    "INSERT INTO head (id, seq, hash, mac) VALUES (1, 0, ?, ?)",
                    (genesis, self.key.mac(head_signed_bytes(log_id, 0, genesis))),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        kind: AuditKind | str,
        payload: Mapping[str, Any] | BaseModel,
        *,
        principal: str,
        trace_id: str | None = None,
        proposal_id: str | None = None,
        service: str | Target | None = None,
        at: float | None = None,
    ) -> AuditEntry:
        """Record one step; returns it once it is committed to disk.

        `at` is a reading of this log's clock (default: now); the entry stores ``epoch + at``.
        Raises ValueError/TypeError for bad arguments, AuditKeyMismatch for the wrong key and
        AuditError if the signed head does not verify (appending would hide the tampering).
        """
        key = self._writable_key()
        checked_kind = check_kind(kind)
        if not isinstance(principal, str) or not principal:
            raise ValueError("principal must be a non-empty string")
        if not isinstance(payload, Mapping | BaseModel):
            raise TypeError(f"payload must be a mapping or a model, got {type(payload).__name__}")
        text = payload_json(payload)
        service_text = _service_text(service)
        t = self._clock.now() if at is None else at
        stamped = _unix(self._epoch + float(t), "at")
        assert stamped is not None
        with self._wlock:
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            try:
                head = conn.execute("SELECT seq, hash, mac FROM head WHERE id = 1").fetchone()
                if head is None:
                    raise AuditError(f"{self.path}: the signed head is missing; refusing to append")
                prev_seq, prev_hash, head_mac = head
                # Chaining onto a head that does not verify would launder a truncation: check it,
                # unless it is the very head this object wrote last (nobody else wrote since).
                if head != self._last_head and not hmac.compare_digest(
                    key.mac(head_signed_bytes(self.log_id, prev_seq, prev_hash)), head_mac
                ):
                    raise AuditError(
                        f"{self.path}: the signed head does not verify; refusing to append "
                        "(run `quarterdeck audit verify`)"
                    )
                item = ChainItem(
                    prev_seq + 1,
                    stamped,
                    principal,
                    trace_id,
                    proposal_id,
                    service_text,
                    checked_kind,
                    text,
                    prev_hash,
                    "",
                )
                item = item._replace(hash=key.mac(item.signed_bytes()))
                try:
                    conn.execute(
                        f"INSERT INTO entries ({ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        item,
                    )
                except sqlite3.IntegrityError:
                    raise AuditError(
                        f"{self.path}: entry {item.seq} already exists beyond the signed head; "
                        "the log was tampered with (run `quarterdeck audit verify`)"
                    ) from None
                new_head = (
                    item.seq,
                    item.hash,
                    key.mac(head_signed_bytes(self.log_id, item.seq, item.hash)),
                )
                conn.execute("UPDATE head SET seq = ?, hash = ?, mac = ? WHERE id = 1", new_head)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._last_head = new_head
        return AuditEntry.from_item(item)

    def _writable_key(self) -> AuditKey:
        if self.key is None:
            raise AuditError("appending to the audit log needs its key")
        if self.key.key_id != self.key_id:
            raise AuditKeyMismatch(
                f"{self.path} was created with key id {self.key_id}; this key's id is "
                f"{self.key.key_id} ({self.key.source})"
            )
        return self.key

    # -- reading ---------------------------------------------------------------------------

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """The reader connection inside one read transaction: a consistent view of the file."""
        with self._rlock:
            conn = self._r
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def head(self) -> AuditHead:
        """The last entry's seq and hash (``0`` and the genesis hash for an empty log)."""
        with self._snapshot() as conn:
            seq, hash_ = conn.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
        return AuditHead(seq, hash_)

    def get(self, seq: int) -> AuditEntry | None:
        with self._snapshot() as conn:
            row = conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE seq = ?", (seq,)
            ).fetchone()
        return AuditEntry.from_item(_item(row)) if row else None

    def _where(  # noqa: PLR0917 - mirrors the public filters in order (see docstring)
        self,
        since: float | datetime | None,
        until: float | datetime | None,
        service: str | Target | None,
        principal: str | None,
        kind: AuditKind | str | None,
        trace_id: str | None,
        proposal_id: str | None,
    ) -> tuple[str, list[Any]]:
        """The one place `query`, `count` and `export_jsonl` turn their filter arguments into SQL:
        checked and normalised into an `AuditFilter`, then its WHERE clause with `?` placeholders
        and the values to bind to them.

        Positional, in the order those methods declare their filters, so each forwards them in
        one line.
        """
        return AuditFilter(
            since=_unix(since, "since"),
            until=_unix(until, "until"),
            service=_service_text(service),
            principal=principal,
            kind=None if kind is None else check_kind(kind),
            trace_id=trace_id,
            proposal_id=proposal_id,
        ).where()

    def query(
        self,
        *,
        since: float | datetime | None = None,
        until: float | datetime | None = None,
        service: str | Target | None = None,
        principal: str | None = None,
        kind: AuditKind | str | None = None,
        trace_id: str | None = None,
        proposal_id: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[AuditEntry]:
        """Entries matching every given filter, by seq (oldest first unless `newest_first`).

        `since`/`until` are Unix seconds or aware datetimes (``since <= at < until``).
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        where, params = self._where(since, until, service, principal, kind, trace_id, proposal_id)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {ENTRY_COLUMNS} FROM entries{where} ORDER BY seq {order} LIMIT ? OFFSET ?"
        with self._snapshot() as conn:
            rows = conn.execute(sql, [*params, -1 if limit is None else limit, offset]).fetchall()
        return [AuditEntry.from_item(_item(r)) for r in rows]

    def count(
        self,
        *,
        since: float | datetime | None = None,
        until: float | datetime | None = None,
        service: str | Target | None = None,
        principal: str | None = None,
        kind: AuditKind | str | None = None,
        trace_id: str | None = None,
        proposal_id: str | None = None,
    ) -> int:
        """How many entries `query` would select without a limit."""
        where, params = self._where(since, until, service, principal, kind, trace_id, proposal_id)
        with self._snapshot() as conn:
            (n,) = conn.execute(f"SELECT count(*) FROM entries{where}", params).fetchone()
        return int(n)

    def export_jsonl(
        self,
        stream: IO[str],
        *,
        since: float | datetime | None = None,
        until: float | datetime | None = None,
        service: str | Target | None = None,
        principal: str | None = None,
        kind: AuditKind | str | None = None,
        trace_id: str | None = None,
        proposal_id: str | None = None,
    ) -> int:
        """Write matching entries to `stream`, one canonical JSON object a line; returns how many.

        Each line parses back with ``AuditEntry.model_validate_json``.
        """
        where, params = self._where(since, until, service, principal, kind, trace_id, proposal_id)
        n = 0
        with self._snapshot() as conn:
            cur = conn.execute(f"SELECT {ENTRY_COLUMNS} FROM entries{where} ORDER BY seq", params)
            while rows := cur.fetchmany(_FETCH):
                for row in rows:
                    stream.write(AuditEntry.from_item(_item(row)).to_json_line() + "\n")
                    n += 1
        return n

    # -- verifying -------------------------------------------------------------------------

    def verify(self, anchor: Anchor | str | None = None) -> VerifyResult:
        """Check every entry's MAC and link, and the signed head; name the first problem.

        `anchor` (``"SEQ:HASH"`` or an Anchor) is a head recorded elsewhere earlier: the check then
        also fails if that entry is no longer in the log as it was (see ``verify`` module).
        """
        if self.key is None:
            raise AuditError("verifying the audit log needs its key")
        if isinstance(anchor, str):
            anchor = Anchor.parse(anchor)
        with self._snapshot() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            row = conn.execute("SELECT seq, hash, mac FROM head WHERE id = 1").fetchone()
            head = SignedHead(*row) if row else None

            def find_hash(h: str) -> int | None:
                found = conn.execute("SELECT seq FROM entries WHERE hash = ? LIMIT 1", (h,))
                hit = found.fetchone()
                return int(hit[0]) if hit else None

            def items() -> Iterator[ChainItem]:
                cur = conn.execute(f"SELECT {ENTRY_COLUMNS} FROM entries ORDER BY seq")
                while rows := cur.fetchmany(_FETCH):
                    yield from (_item(r) for r in rows)

            return verify_chain(
                items(),
                self.key,
                log_id=self.log_id,
                genesis=self._genesis,
                stored_key_id=meta.get("key_id"),
                head=head,
                find_hash=find_hash,
                anchor=anchor,
            )

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        with self._wlock, self._rlock:
            self._w.close()
            self._r.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
