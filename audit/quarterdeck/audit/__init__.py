"""The tamper-evident audit log: every step of Quarterdeck's work, append-only, HMAC-chained.

Public surface: ``AuditLog`` (append, query, get, head, verify, export_jsonl), ``AuditEntry``,
``AuditKey`` / ``resolve_key`` (where the key comes from), ``VerifyResult``, ``AuditKind``.
Module map: ``kinds`` (what can be recorded), ``canonical`` (stable JSON), ``keys`` (the secret),
``entry`` (what a MAC covers), ``schema`` (the SQLite file), ``store`` (the log), ``verify`` (what
tampering is detected, and the limits), ``timefilter`` (``1h`` / ISO-8601 filter values).
"""

from quarterdeck.audit.entry import AuditEntry
from quarterdeck.audit.keys import AuditKey, AuditKeyError, resolve_key
from quarterdeck.audit.kinds import AUDIT_KINDS, AuditKind
from quarterdeck.audit.store import (
    AuditError,
    AuditFilter,
    AuditHead,
    AuditKeyMismatch,
    AuditLog,
    AuditLogNotFound,
)
from quarterdeck.audit.verify import Anchor, VerifyResult

__all__ = [
    "AUDIT_KINDS",
    "Anchor",
    "AuditEntry",
    "AuditError",
    "AuditFilter",
    "AuditHead",
    "AuditKey",
    "AuditKeyError",
    "AuditKeyMismatch",
    "AuditKind",
    "AuditLog",
    "AuditLogNotFound",
    "VerifyResult",
    "resolve_key",
]
