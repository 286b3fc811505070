"""Where the key comes from, how it is stored, and that it never leaks into the database."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from quarterdeck.audit import AuditKey, AuditKeyError, AuditLog, resolve_key
from quarterdeck.audit.keys import ENV_KEY, ENV_KEY_FILE


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "audit.key"
    first = AuditKey.from_file(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    again = AuditKey.from_file(path, create=True)
    assert again.key_id == first.key_id


def test_a_reader_never_creates_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(AuditKeyError, match="does not exist"):
        AuditKey.from_file(tmp_path / "audit.key")
    assert not (tmp_path / "audit.key").exists()


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    path.write_bytes(b"x" * 32)
    path.chmod(0o644)
    with pytest.raises(AuditKeyError, match="chmod 600"):
        AuditKey.from_file(path)


def test_short_keys_are_refused() -> None:
    with pytest.raises(AuditKeyError, match="at least 16"):
        AuditKey(b"short")


def test_resolution_order(tmp_path: Path) -> None:
    file_a = tmp_path / "a.key"
    file_b = tmp_path / "b.key"
    a = AuditKey.from_file(file_a, create=True)
    b = AuditKey.from_file(file_b, create=True)
    secret = "correct horse battery staple"
    env = {ENV_KEY: secret, ENV_KEY_FILE: str(file_b)}
    assert resolve_key(file_a, env, create=False).key_id == a.key_id  # explicit file wins
    assert resolve_key(None, env, create=False).key_id == AuditKey.from_text(secret).key_id
    assert resolve_key(None, {ENV_KEY_FILE: str(file_b)}, create=False).key_id == b.key_id
    default = resolve_key(None, {}, create=True, cwd=tmp_path)
    assert (tmp_path / ".quarterdeck" / "audit.key").exists()
    assert default.key_id not in (a.key_id, b.key_id)


def test_the_database_holds_the_key_id_but_not_the_key(tmp_path: Path) -> None:
    secret = b"s3cret-s3cret-s3cret-s3cret-0001"
    key = AuditKey(secret)
    with AuditLog(tmp_path / "a.db", key) as log:
        log.append("note", {"x": 1}, principal="x")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("a.db"))
    assert secret not in raw
    assert secret.hex().encode() not in raw
    conn = sqlite3.connect(tmp_path / "a.db")
    (key_id,) = conn.execute("SELECT value FROM meta WHERE key = 'key_id'").fetchone()
    conn.close()
    assert key_id == key.key_id


def test_repr_does_not_show_the_secret() -> None:
    key = AuditKey(b"a-secret-that-must-not-leak-000")
    assert "a-secret" not in repr(key)
    assert key.key_id in repr(key)
