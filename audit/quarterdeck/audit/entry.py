"""One audit entry, and the exact bytes its MAC is computed over.

An entry's ``hash`` is HMAC-SHA256(key, canonical JSON of every field of the entry except ``hash``
itself, including ``prev_hash`` = the previous entry's ``hash``). Changing any field of any entry,
or its position, breaks that entry's MAC or the link to it, and recomputing them needs the key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.audit.canonical import canonical_json
from quarterdeck.audit.keys import AuditKey
from quarterdeck.audit.kinds import AuditKind

FORMAT_VERSION = 1
INVALID_JSON_KEY = "__invalid_json__"


class ChainItem(NamedTuple):
    """An entry as the chain sees it: the payload as the exact text that was hashed."""

    seq: int
    at: float
    principal: str
    trace_id: str | None
    proposal_id: str | None
    service: str | None
    kind: str
    payload_json: str
    prev_hash: str
    hash: str

    def signed_bytes(self) -> bytes:
        return signed_bytes(
            seq=self.seq,
            at=self.at,
            principal=self.principal,
            trace_id=self.trace_id,
            proposal_id=self.proposal_id,
            service=self.service,
            kind=self.kind,
            payload_json=self.payload_json,
            prev_hash=self.prev_hash,
        )


def signed_bytes(
    *,
    seq: int,
    at: float,
    principal: str,
    trace_id: str | None,
    proposal_id: str | None,
    service: str | None,
    kind: str,
    payload_json: str,
    prev_hash: str,
) -> bytes:
    """What an entry's MAC covers. The payload goes in as its canonical text, byte for byte."""
    return canonical_json(
        {
            "v": FORMAT_VERSION,
            "seq": seq,
            "at": at,
            "principal": principal,
            "trace_id": trace_id,
            "proposal_id": proposal_id,
            "service": service,
            "kind": kind,
            "payload": payload_json,
            "prev_hash": prev_hash,
        }
    ).encode("utf-8")


def genesis_hash(log_id: str) -> str:
    """The ``prev_hash`` of entry 1: ties the chain to one log, so logs can't be spliced."""
    return hashlib.sha256(f"quarterdeck-audit/{FORMAT_VERSION}/{log_id}".encode()).hexdigest()


def head_signed_bytes(log_id: str, seq: int, hash_: str) -> bytes:
    """What the head's MAC covers: the log, the last seq and its hash."""
    return canonical_json({"head": True, "log_id": log_id, "seq": seq, "hash": hash_}).encode()


def entry_mac(key: AuditKey, item: ChainItem) -> str:
    return key.mac(item.signed_bytes())


class AuditEntry(BaseModel):
    """One step of Quarterdeck's work, as stored. ``at`` is Unix seconds (UTC)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1, description="1, 2, 3, … with no gaps")
    at: float = Field(description="Unix seconds")
    principal: str = Field(description="who or what caused this step (user, agent, controller)")
    trace_id: str | None = None
    proposal_id: str | None = None
    service: str | None = Field(default=None, description="namespace/name")
    kind: AuditKind
    payload: dict[str, Any]
    prev_hash: str
    hash: str = Field(description="HMAC-SHA256 over the entry and prev_hash, hex")

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.at, tz=UTC)

    def chain_item(self) -> ChainItem:
        """This entry for verification (e.g. of an export), payload re-canonicalised."""
        if set(self.payload) == {INVALID_JSON_KEY}:
            payload_json = str(self.payload[INVALID_JSON_KEY])
        else:
            payload_json = canonical_json(self.payload)
        return ChainItem(
            self.seq,
            self.at,
            self.principal,
            self.trace_id,
            self.proposal_id,
            self.service,
            self.kind,
            payload_json,
            self.prev_hash,
            self.hash,
        )

    def to_json_line(self) -> str:
        """One line of an export: canonical JSON, so an export is itself verifiable."""
        return canonical_json(self.model_dump(mode="json"))

    @classmethod
    def from_item(cls, item: ChainItem) -> AuditEntry:
        """An entry read back from storage. A payload that is no longer JSON (the file was edited)
        is kept as text under ``__invalid_json__`` so it can still be shown; verify flags it."""
        try:
            payload = json.loads(item.payload_json)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            payload = {INVALID_JSON_KEY: item.payload_json}
        return cls.model_construct(
            seq=item.seq,
            at=item.at,
            principal=item.principal,
            trace_id=item.trace_id,
            proposal_id=item.proposal_id,
            service=item.service,
            kind=cast(AuditKind, item.kind),  # shown as stored, even if edited to a bad kind
            payload=payload,
            prev_hash=item.prev_hash,
            hash=item.hash,
        )
