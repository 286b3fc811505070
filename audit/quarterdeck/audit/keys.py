"""The secret that makes the audit chain tamper-evident, and where it comes from.

Each entry carries an HMAC-SHA256 over its canonical form and the previous entry's MAC. Without the
key, someone who can write the database file can delete or edit rows but cannot compute MACs that
verify, so ``verify()`` names the first entry they touched.

Where the key comes from (``resolve_key``, used by the CLI and the server wiring), first match wins:

1. an explicit key file (``--key-file``);
2. the environment variable ``QUARTERDECK_AUDIT_KEY``: the secret itself, as text (at least 16
   characters; its UTF-8 bytes are the key) — for deployments that mount secrets as env vars;
3. the key file named by ``QUARTERDECK_AUDIT_KEY_FILE``;
4. ``.quarterdeck/audit.key`` under the current directory.

A writer creates a missing key file with 32 random bytes and mode 0600; a reader (``verify``)
never creates one. A key file readable by group or others is refused, as ssh refuses such keys.

The database stores only the key's id (a keyed fingerprint), never the key, so a wrong key is
recognised as such rather than reported as tampering of every entry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

ENV_KEY = "QUARTERDECK_AUDIT_KEY"
ENV_KEY_FILE = "QUARTERDECK_AUDIT_KEY_FILE"
DEFAULT_KEY_FILE = Path(".quarterdeck") / "audit.key"
KEY_BYTES = 32
MIN_KEY_BYTES = 16


class AuditKeyError(ValueError):
    """The key is missing, too short or stored unsafely. The message says which and where."""


class AuditKey:
    """An HMAC-SHA256 key. ``repr`` and ``str`` never show the secret."""

    __slots__ = ("_secret", "key_id", "source")

    def __init__(self, secret: bytes, source: str = "given") -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise AuditKeyError(
                f"audit key from {source} is {len(secret)} bytes; at least {MIN_KEY_BYTES} needed"
            )
        self._secret = bytes(secret)
        self.source = source
        # A keyed fingerprint: tells keys apart without being a hash of the bare secret.
        self.key_id = hmac.new(
            self._secret, b"quarterdeck-audit key-id", hashlib.sha256
        ).hexdigest()[:16]

    def mac(self, message: bytes) -> str:
        """HMAC-SHA256 of `message`, hex."""
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id!r}, source={self.source!r})"

    @classmethod
    def generate(cls) -> AuditKey:
        """A fresh random key (tests, throwaway logs)."""
        return cls(secrets.token_bytes(KEY_BYTES), source="generated")

    @classmethod
    def from_text(cls, text: str, source: str = f"${ENV_KEY}") -> AuditKey:
        return cls(text.encode("utf-8"), source=source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, create: bool = False) -> AuditKey:
        """The key in `path`; ``create=True`` makes a missing file (32 random bytes, mode 0600)."""
        p = Path(path)
        if create and not p.exists():
            _create_key_file(p)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise AuditKeyError(f"audit key file {p} does not exist") from None
        if not stat.S_ISREG(st.st_mode):
            raise AuditKeyError(f"audit key file {p} is not a regular file")
        if st.st_mode & 0o077:
            raise AuditKeyError(
                f"audit key file {p} is accessible by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {p}"
            )
        return cls(p.read_bytes(), source=str(p))


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: if two processes race to create it, one wins and the other reads its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)


def resolve_key(
    key_file: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    *,
    create: bool,
    cwd: Path | None = None,
) -> AuditKey:
    """The configured key, in the order the module docstring gives. Raises AuditKeyError."""
    secret = env.get(ENV_KEY)
    if secret and key_file is None:
        return AuditKey.from_text(secret)
    if key_file is None:
        key_file = env.get(ENV_KEY_FILE) or (cwd or Path.cwd()) / DEFAULT_KEY_FILE
    return AuditKey.from_file(key_file, create=create)
