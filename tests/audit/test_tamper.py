"""Every kind of tampering with the file is reported, naming the first bad entry and why."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from quarterdeck.audit import AuditError, AuditKey, AuditLog
from quarterdeck.audit.entry import ChainItem
from quarterdeck.core.clock import ManualClock

from .conftest import fill

Raw = Callable[[str], None]


def _row(db: Path, seq: int) -> ChainItem:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT seq, at, principal, trace_id, proposal_id, service, kind, payload, "
            "prev_hash, hash FROM entries WHERE seq = ?",
            (seq,),
        ).fetchone()
    finally:
        conn.close()
    return ChainItem(*row)


def _insert(raw: Raw, item: ChainItem) -> None:
    values = ", ".join("NULL" if v is None else repr(v) for v in item)
    raw(f"INSERT INTO entries VALUES ({values})")


def _forge(db: Path, seq: int, prev_seq: int) -> ChainItem:
    """A well-formed entry linked to `prev_seq`, MAC'd with a key the attacker made up."""
    prev = _row(db, prev_seq)
    item = ChainItem(
        seq,
        prev.at + 0.5,
        "mallory",
        None,
        None,
        None,
        "approval",
        '{"decision":"approved"}',
        prev.hash,
        "",
    )
    return item._replace(hash=AuditKey(b"m" * 32).mac(item.signed_bytes()))


def edit_payload(db: Path, raw: Raw) -> None:
    raw("""UPDATE entries SET payload = '{"i":4,"note":"nothing to see"}' WHERE seq = 5""")


def edit_principal(db: Path, raw: Raw) -> None:
    raw("UPDATE entries SET principal = 'bob' WHERE seq = 5")


def edit_time(db: Path, raw: Raw) -> None:
    raw("UPDATE entries SET at = at + 1 WHERE seq = 5")


def edit_payload_to_garbage(db: Path, raw: Raw) -> None:
    raw("UPDATE entries SET payload = 'not json' WHERE seq = 5")


def delete_middle(db: Path, raw: Raw) -> None:
    raw("DELETE FROM entries WHERE seq = 5")


def delete_middle_and_renumber(db: Path, raw: Raw) -> None:
    raw("DELETE FROM entries WHERE seq = 5; UPDATE entries SET seq = seq - 1 WHERE seq > 5")


def delete_tail(db: Path, raw: Raw) -> None:
    raw("DELETE FROM entries WHERE seq >= 8")


def insert_forged_tail(db: Path, raw: Raw) -> None:
    _insert(raw, _forge(db, 11, 10))


def insert_forged_middle(db: Path, raw: Raw) -> None:
    # Make room at 5 by shifting 5..10 up by one (two steps, to keep seq unique), then forge 5.
    forged = _forge(db, 5, 4)
    raw(
        "UPDATE entries SET seq = seq + 100 WHERE seq >= 5; "
        "UPDATE entries SET seq = seq - 99 WHERE seq >= 105"
    )
    _insert(raw, forged)


def swap_rows(db: Path, raw: Raw) -> None:
    raw("""
        CREATE TEMP TABLE moved AS SELECT * FROM entries WHERE seq IN (5, 8);
        UPDATE entries SET (at, principal, trace_id, proposal_id, service, kind, payload,
                            prev_hash, hash) =
            (SELECT at, principal, trace_id, proposal_id, service, kind, payload, prev_hash, hash
             FROM moved WHERE moved.seq = 13 - entries.seq)
        WHERE seq IN (5, 8);
    """)


def replace_head_with_earlier(db: Path, raw: Raw) -> None:
    # Hide a truncation by pointing the head at entry 7 — without the key its MAC can't follow.
    raw(
        "DELETE FROM entries WHERE seq >= 8; "
        "UPDATE head SET seq = 7, hash = (SELECT hash FROM entries WHERE seq = 7)"
    )


def delete_head(db: Path, raw: Raw) -> None:
    raw("DELETE FROM head")


def change_key_id(db: Path, raw: Raw) -> None:
    raw("UPDATE meta SET value = '0123456789abcdef' WHERE key = 'key_id'")


CASES = [
    # (tampering, first bad seq, problem)
    pytest.param(edit_payload, 5, "edited", id="edit-payload"),
    pytest.param(edit_principal, 5, "edited", id="edit-principal"),
    pytest.param(edit_time, 5, "edited", id="edit-time"),
    pytest.param(edit_payload_to_garbage, 5, "edited", id="payload-not-json"),
    pytest.param(delete_middle, 5, "missing", id="delete-middle"),
    pytest.param(delete_middle_and_renumber, 5, "missing", id="delete-and-renumber"),
    pytest.param(delete_tail, 8, "truncated", id="delete-tail"),
    pytest.param(insert_forged_tail, 11, "inserted", id="insert-forged-tail"),
    pytest.param(insert_forged_middle, 5, "inserted", id="insert-forged-middle"),
    pytest.param(swap_rows, 5, "reordered", id="swap-two-rows"),
    pytest.param(replace_head_with_earlier, None, "head_invalid", id="forge-head"),
    pytest.param(delete_head, None, "head_invalid", id="delete-head"),
    pytest.param(change_key_id, None, "meta_edited", id="edit-key-id"),
]


def test_untouched_log_verifies(filled: AuditLog) -> None:
    result = filled.verify()
    assert result.ok, result.summary()
    assert result.entries == 10
    assert result.head_hash == filled.head().hash == filled.get(10).hash  # type: ignore[union-attr]
    assert result.summary() == f"OK: 10 entries, head {result.head_hash}"


@pytest.mark.parametrize(("tamper", "bad_seq", "problem"), CASES)
def test_tampering_is_detected(  # noqa: PLR0917 - pytest passes fixtures and params by name
    filled: AuditLog, db_path: Path, raw: Raw, tamper, bad_seq: int | None, problem: str
) -> None:
    tamper(db_path, raw)
    result = filled.verify()
    assert not result.ok
    assert (result.bad_seq, result.problem) == (bad_seq, problem), result.summary()
    if bad_seq is not None:
        assert f"entry {bad_seq}" in result.summary()
        assert result.entries <= bad_seq - 1  # nothing at or after the bad entry is vouched for


def test_verifying_with_another_key_names_entry_1(filled: AuditLog, db_path: Path) -> None:
    with AuditLog(db_path, AuditKey(b"z" * 32)) as other:
        result = other.verify()
    assert (result.ok, result.bad_seq, result.problem) == (False, 1, "wrong_key")
    assert filled.key is not None
    assert filled.key.key_id in result.message


def test_appending_with_another_key_is_refused(filled: AuditLog, db_path: Path) -> None:
    from quarterdeck.audit import AuditKeyMismatch

    with AuditLog(db_path, AuditKey(b"z" * 32)) as other, pytest.raises(AuditKeyMismatch):
        other.append("note", {}, principal="x")
    assert filled.verify().ok


def test_append_refuses_to_chain_onto_a_forged_head(
    filled: AuditLog, db_path: Path, raw: Raw
) -> None:
    # Appending would re-sign the head and launder the truncation; it must refuse instead.
    replace_head_with_earlier(db_path, raw)
    with pytest.raises(AuditError, match="signed head does not verify"):
        filled.append("note", {"x": 1}, principal="ops")
    assert filled.verify().problem == "head_invalid"


def test_append_refuses_when_a_forged_entry_sits_beyond_the_head(
    filled: AuditLog, db_path: Path, raw: Raw
) -> None:
    insert_forged_tail(db_path, raw)
    with pytest.raises(AuditError, match="tampered"):
        filled.append("note", {"x": 1}, principal="ops")


def test_a_forged_entry_cannot_be_made_to_verify_without_the_key(
    filled: AuditLog, db_path: Path, raw: Raw
) -> None:
    # Even a perfectly linked forged tail plus a head updated to point at it is caught (an
    # edited or forged last entry look alike: both are reported as a MAC that does not verify).
    forged = _forge(db_path, 11, 10)
    _insert(raw, forged)
    raw(f"UPDATE head SET seq = 11, hash = '{forged.hash}'")
    result = filled.verify()
    assert (result.bad_seq, result.problem) == (11, "edited")
    assert "forged" in result.message


def test_triggers_refuse_update_and_delete(filled: AuditLog, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE entries SET principal = 'x' WHERE seq = 1")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM entries WHERE seq = 1")
    finally:
        conn.close()
    assert filled.verify().ok


def test_rolling_back_the_whole_file_needs_an_external_anchor(
    db_path: Path, key: AuditKey, clock: ManualClock, tmp_path: Path
) -> None:
    """The documented limit: an older copy of the whole file is self-consistent."""
    with AuditLog(db_path, key, clock=clock) as log:
        fill(log, clock, 7)
    saved = tmp_path / "old.db"
    shutil.copy(db_path, saved)  # closed: SQLite checkpointed the WAL into the main file
    with AuditLog(db_path, key, clock=clock) as log:
        fill(log, clock, 3)
        anchor = log.verify().anchor
    assert anchor.startswith("10:")
    shutil.copy(saved, db_path)
    with AuditLog(db_path, key) as log:
        assert log.verify().ok  # nothing inside the file can tell...
        result = log.verify(anchor)  # ...but the head recorded elsewhere can
    assert (result.ok, result.bad_seq, result.problem) == (False, 10, "anchor_mismatch")


def test_anchor_of_an_intact_log_passes(filled: AuditLog) -> None:
    anchor = filled.verify().anchor
    filled.append("note", {"later": True}, principal="ops")
    assert filled.verify(anchor).ok
    assert not filled.verify("3:" + "0" * 64).ok
