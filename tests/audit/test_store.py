"""Appending and reading back: what goes in comes out, stamped, chained and validated."""

from __future__ import annotations

import itertools
import math
import sqlite3
import threading
from enum import Enum
from pathlib import Path

import pytest

from quarterdeck.audit import (
    AUDIT_KINDS,
    AuditEntry,
    AuditError,
    AuditKey,
    AuditLog,
    AuditLogNotFound,
)
from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import (
    ActionProposal,
    Decision,
    Evidence,
    ScaleAction,
    Target,
    Verdict,
)

from .conftest import EPOCH

TARGET = Target(namespace="ml", service="fraud-detector")
PROPOSAL = ActionProposal(
    id="p-1",
    target=TARGET,
    action=ScaleAction(replicas=6),
    reason="p95 over SLO",
    evidence=(Evidence(signal="p95_latency_ms", value=212.5, observed_at=30.0, threshold=150),),
)


def test_round_trip_of_a_proposal(log: AuditLog, clock: ManualClock) -> None:
    clock.set(42.5)
    written = log.append(
        "proposal",
        PROPOSAL,
        principal="planner",
        trace_id="t-1",
        proposal_id="p-1",
        service=TARGET,
    )
    assert written.seq == 1
    assert written.at == EPOCH + 42.5  # sim seconds mapped to Unix through the epoch
    assert written.service == "ml/fraud-detector"
    assert written.payload == PROPOSAL.model_dump(mode="json")
    assert ActionProposal.model_validate(written.payload) == PROPOSAL
    assert log.get(1) == written
    assert log.query() == [written]
    assert log.head().seq == 1
    assert log.head().hash == written.hash


def test_entries_are_chained_in_order(log: AuditLog) -> None:
    entries = [log.append("note", {"n": i}, principal="ops", at=float(i)) for i in range(5)]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in entries}) == 5


def test_payload_keys_are_canonical_so_order_does_not_matter(log: AuditLog) -> None:
    a = log.append("note", {"b": 1, "a": [1.5, None, "é"]}, principal="x", at=0.0)
    b = log.append("note", {"a": [1.5, None, "é"], "b": 1}, principal="x", at=0.0)
    assert a.payload == b.payload
    assert a.model_dump(exclude={"seq", "prev_hash", "hash"}) == b.model_dump(
        exclude={"seq", "prev_hash", "hash"}
    )


class Colour(Enum):
    RED = "red"


def test_nested_models_enums_and_tuples_are_stored_as_json(log: AuditLog) -> None:
    verdict = Verdict(proposal_id="p-1", decision=Decision.ALLOW, action=ScaleAction(replicas=3))
    e = log.append(
        "verdict",
        {"verdict": verdict, "colour": Colour.RED, "pair": (1, 2), "tags": {"b", "a"}},
        principal="guard",
    )
    assert e.payload == {
        "verdict": verdict.model_dump(mode="json"),
        "colour": "red",
        "pair": [1, 2],
        "tags": ["a", "b"],
    }
    assert log.get(e.seq) == e


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        pytest.param({"x": math.nan}, ValueError, id="nan"),
        pytest.param({"x": object()}, TypeError, id="object"),
        pytest.param({1: "x", "a": 2}, TypeError, id="non-string-key"),
        pytest.param(["not", "a", "mapping"], TypeError, id="list"),
    ],
)
def test_unstorable_payloads_are_refused(log: AuditLog, payload, error) -> None:
    with pytest.raises(error):
        log.append("note", payload, principal="x")
    assert log.head().seq == 0  # nothing half-written


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"kind": "bogus"}, "unknown audit kind", id="kind"),
        pytest.param({"principal": ""}, "principal", id="principal"),
        pytest.param({"service": "fraud-detector"}, "namespace/name", id="service"),
        pytest.param({"at": math.inf}, "finite", id="time"),
    ],
)
def test_bad_arguments_are_refused(log: AuditLog, kwargs, match: str) -> None:
    args = {"kind": "note", "principal": "x"} | kwargs
    kind = args.pop("kind")
    with pytest.raises(ValueError, match=match):
        log.append(kind, {}, **args)


def test_every_kind_is_accepted(log: AuditLog) -> None:
    for kind in AUDIT_KINDS:
        log.append(kind, {"kind": kind}, principal="x")
    assert [e.kind for e in log.query()] == list(AUDIT_KINDS)


def test_reopening_continues_the_chain(db_path: Path, key: AuditKey) -> None:
    with AuditLog(db_path, key) as log:
        first = log.append("note", {"n": 1}, principal="x")
    with AuditLog.open(db_path, key=key, create=False) as log:
        second = log.append("note", {"n": 2}, principal="x")
        assert second.prev_hash == first.hash
        assert log.verify().entries == 2


def test_missing_file_is_not_created_when_create_is_false(tmp_path: Path, key: AuditKey) -> None:
    with pytest.raises(AuditLogNotFound):
        AuditLog(tmp_path / "nope.db", key, create=False)
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_an_audit_log_is_refused(tmp_path: Path, key: AuditKey) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AuditError, match="not a usable audit log"):
        AuditLog(junk, key, create=False)


def test_reading_needs_no_key_but_writing_does(filled_path: Path) -> None:
    with AuditLog(filled_path, None, create=False) as reader:
        assert len(reader.query()) == 3
        with pytest.raises(AuditError, match="needs its key"):
            reader.append("note", {}, principal="x")
        with pytest.raises(AuditError, match="needs its key"):
            reader.verify()


@pytest.fixture
def filled_path(db_path: Path, key: AuditKey) -> Path:
    with AuditLog(db_path, key) as log:
        for i in range(3):
            log.append("note", {"i": i}, principal="x")
    return db_path


def test_threads_appending_at_once_keep_one_unbroken_chain(log: AuditLog) -> None:
    per_thread, threads = 50, 8

    def work(t: int) -> None:
        for i in range(per_thread):
            log.append("note", {"t": t, "i": i}, principal=f"thread-{t}")

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    result = log.verify()
    assert result.ok, result.summary()
    assert result.entries == per_thread * threads
    seen = {(e.payload["t"], e.payload["i"]) for e in log.query(limit=None)}
    assert len(seen) == per_thread * threads


def test_export_lines_parse_back_to_the_same_entries(filled_log_entries) -> None:
    log, entries = filled_log_entries
    import io

    buf = io.StringIO()
    assert log.export_jsonl(buf) == len(entries)
    lines = buf.getvalue().splitlines()
    back = [AuditEntry.model_validate_json(line) for line in lines]
    assert back == entries
    # Export lines are canonical: re-serialising gives the same bytes, so they can be hashed.
    assert [e.to_json_line() for e in back] == lines
    # ...and the MACs still verify against the exported content.
    assert log.key is not None
    assert all(log.key.mac(e.chain_item().signed_bytes()) == e.hash for e in back)


@pytest.fixture
def filled_log_entries(filled: AuditLog) -> tuple[AuditLog, list[AuditEntry]]:
    return filled, filled.query(limit=None)


def test_a_long_reader_does_not_block_appends(db_path: Path, key: AuditKey) -> None:
    with AuditLog(db_path, key, busy_timeout_s=1.0) as log:
        log.append("note", {"n": 0}, principal="x")
        reader = sqlite3.connect(db_path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM entries").fetchone() == (1,)
            for n in range(1, 20):  # would raise "database is locked" after 1 s if blocked
                log.append("note", {"n": n}, principal="x")
            # The reader keeps its snapshot; the log's own readers see every commit.
            assert reader.execute("SELECT count(*) FROM entries").fetchone() == (1,)
            assert log.count() == 20
            reader.execute("COMMIT")
        finally:
            reader.close()
        assert log.verify().ok
