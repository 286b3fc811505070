"""Checking a chain of entries, and naming the first one that is wrong and why.

What verification proves, and what it cannot:

- Without the key nobody can produce an entry, or a signed head, that verifies. Editing a field,
  deleting an entry from the middle, inserting one, moving one, or deleting the tail (the signed
  head still names the old last entry) are all reported, with the first affected seq.
- Someone who has the key can rewrite anything: the key is the trust anchor, keep it out of reach
  of whoever can write the database (a different user, a secret store).
- Replacing the whole database (entries *and* signed head) with an older copy of itself leaves a
  consistent, shorter log; nothing inside the file can tell. Only an anchor kept elsewhere can:
  record the head ``seq``/``hash`` that ``verify`` prints (in a ticket, another system's log) and
  pass it back as ``anchor`` later: verification then fails if that entry is gone or different.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from quarterdeck.audit.entry import ChainItem, head_signed_bytes
from quarterdeck.audit.keys import AuditKey

# How far back a renumbered entry is searched for on failure (HMACs, ~2 µs each).
_RENUMBER_SEARCH = 4096

Problem = Literal[
    "edited",  # the entry's MAC does not verify: a field was changed after it was written
    "missing",  # a seq is absent: the entry was deleted
    "inserted",  # an entry that was never written by the log's key sits in the chain
    "reordered",  # an authentic entry sits at the wrong position
    "chain_break",  # an authentic entry does not link to its predecessor
    "wrong_key",  # the log was written with another key
    "truncated",  # entries after the last one present were deleted (the signed head says so)
    "head_invalid",  # the signed head is missing or its MAC does not verify
    "head_mismatch",  # the signed head names another last entry than the chain ends with
    "meta_edited",  # the log's metadata (key id) was changed
    "anchor_mismatch",  # an externally recorded (seq, hash) is not in the log
]


@dataclass(frozen=True)
class SignedHead:
    """The last seq and its hash, MAC'd, written in the same transaction as each entry."""

    seq: int
    hash: str
    mac: str


@dataclass(frozen=True)
class Anchor:
    """A (seq, hash) recorded outside the database, to detect a rollback of the whole file."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """``"SEQ:HASH"`` as ``verify`` prints it; raises ValueError otherwise."""
        seq_text, sep, hash_ = text.partition(":")
        if not sep or not seq_text.isdigit() or len(hash_) != 64:
            raise ValueError(f"not an anchor: {text!r} (expected SEQ:HASH, hash = 64 hex digits)")
        return cls(int(seq_text), hash_.lower())


@dataclass(frozen=True)
class VerifyResult:
    """``ok`` with the number of entries, or the first bad entry (``bad_seq``) and why."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    problem: Problem | None = None
    message: str = ""

    def __bool__(self) -> bool:
        return self.ok

    @property
    def anchor(self) -> str:
        """``SEQ:HASH`` of the verified head, to record outside the database."""
        return f"{self.head_seq}:{self.head_hash}"

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.entries} entries, head {self.head_hash}"
        where = f"entry {self.bad_seq}" if self.bad_seq is not None else "log"
        return f"{where}: {self.problem}: {self.message}"


class _Peekable:
    def __init__(self, items: Iterable[ChainItem]) -> None:
        self._it: Iterator[ChainItem] = iter(items)
        self._next: ChainItem | None = None

    def __iter__(self) -> Iterator[ChainItem]:
        return self

    def __next__(self) -> ChainItem:
        if self._next is not None:
            item, self._next = self._next, None
            return item
        return next(self._it)

    def peek(self) -> ChainItem | None:
        if self._next is None:
            self._next = next(self._it, None)
        return self._next


def verify_chain(
    items: Iterable[ChainItem],
    key: AuditKey,
    *,
    log_id: str,
    genesis: str,
    stored_key_id: str | None,
    head: SignedHead | None,
    find_hash: Callable[[str], int | None],
    anchor: Anchor | None = None,
) -> VerifyResult:
    """Walk `items` (ordered by seq) and return the first problem, or OK.

    `find_hash(h)` returns the seq of the stored entry whose hash is `h` (used only on failure, to
    tell a moved entry from an edited one).
    """
    key_ok = stored_key_id == key.key_id
    expected, prev = 1, genesis
    anchor_hash: str | None = None
    stream = _Peekable(items)

    def bad(seq: int | None, problem: Problem, message: str) -> VerifyResult:
        return VerifyResult(False, expected - 1, expected - 1, prev, seq, problem, message)

    for item in stream:
        if item.seq != expected:
            return bad(
                expected,
                "missing",
                f"entry {expected} is missing: the log jumps from {expected - 1} to {item.seq} "
                "(deleted)",
            )
        if hmac.compare_digest(key.mac(item.signed_bytes()), item.hash):
            if item.prev_hash != prev:
                return bad(
                    item.seq,
                    "chain_break",
                    f"entry {item.seq} is authentic but does not follow entry {item.seq - 1} "
                    "(its prev_hash names another entry)",
                )
        else:
            if not key_ok:
                return bad(
                    item.seq,
                    "wrong_key",
                    f"entry {item.seq}'s MAC does not verify with this key: the log was written "
                    f"with key id {stored_key_id}, this key's id is {key.key_id}",
                )
            return _classify(
                item,
                following=stream.peek(),
                prev=prev,
                key=key,
                head=head,
                find_hash=find_hash,
                genesis=genesis,
                bad=bad,
            )
        if anchor is not None and item.seq == anchor.seq:
            anchor_hash = item.hash
        prev, expected = item.hash, expected + 1

    count = expected - 1
    if head is None:
        return bad(None, "head_invalid", "the signed head is missing (the meta data was deleted)")
    if not hmac.compare_digest(key.mac(head_signed_bytes(log_id, head.seq, head.hash)), head.mac):
        if not key_ok:
            return bad(
                None,
                "wrong_key",
                f"the log was written with key id {stored_key_id}, this key's id is {key.key_id}",
            )
        return bad(
            None,
            "head_invalid",
            f"the signed head (naming entry {head.seq}) does not verify: it was replaced",
        )
    if head.seq > count:
        return bad(
            count + 1,
            "truncated",
            f"the signed head names entry {head.seq} but the log ends at {count}: "
            f"entries {count + 1}..{head.seq} were deleted",
        )
    if head.seq < count:
        return bad(
            head.seq + 1,
            "head_mismatch",
            f"the signed head names entry {head.seq} but valid entries run to {count} "
            "(the head was replaced with an older one)",
        )
    if head.hash != prev:
        return bad(count, "head_mismatch", f"the signed head's hash is not entry {count}'s hash")
    if not key_ok:
        return bad(None, "meta_edited", f"the stored key id {stored_key_id!r} was changed")
    if anchor is not None and anchor_hash != anchor.hash:
        why = (
            f"the log ends at {count}, before the anchor's entry (rolled back to an older copy?)"
            if anchor.seq > count
            else f"entry {anchor.seq}'s hash differs from the anchor's"
        )
        return bad(anchor.seq, "anchor_mismatch", why)
    return VerifyResult(True, count, count, prev)


def _classify(
    item: ChainItem,
    *,
    following: ChainItem | None,
    prev: str,
    key: AuditKey,
    head: SignedHead | None,
    find_hash: Callable[[str], int | None],
    genesis: str,
    bad: Callable[[int | None, Problem, str], VerifyResult],
) -> VerifyResult:
    """Why `item`'s MAC fails: inserted, moved, or edited in place."""
    seq = item.seq
    if head is not None and seq > head.seq:
        return bad(
            seq, "inserted", f"entry {seq} comes after the signed head ({head.seq}) and is forged"
        )
    if following is not None and following.prev_hash == prev:
        return bad(
            seq,
            "inserted",
            f"entry {seq} was inserted: the entry after it links straight to entry {seq - 1}",
        )
    origin = 0 if item.prev_hash == genesis else find_hash(item.prev_hash)
    if origin is not None and origin + 1 != seq and _signed_as(item, origin + 1, key):
        return bad(
            seq,
            "reordered",
            f"entry {seq} holds the entry written as {origin + 1} (entries were reordered)",
        )
    if origin is None and item.prev_hash != prev:
        # Its predecessor is gone. Deleting entries and renumbering the rest leaves authentic
        # entries at lower seqs: find out how far this one moved.
        for written_as in range(seq + 1, seq + 1 + _RENUMBER_SEARCH):
            if _signed_as(item, written_as, key):
                return bad(
                    seq,
                    "missing",
                    f"entry {seq} holds the entry written as {written_as}: "
                    f"{written_as - seq} entries were deleted and the rest renumbered",
                )
    return bad(
        seq,
        "edited",
        f"entry {seq}'s MAC does not verify: it was changed after it was written, or forged",
    )


def _signed_as(item: ChainItem, seq: int, key: AuditKey) -> bool:
    """Whether `item`'s MAC is the one it would have had at position `seq`."""
    return hmac.compare_digest(key.mac(item._replace(seq=seq).signed_bytes()), item.hash)
