"""The one list of what can be recorded in the audit log.

Each kind is one step of Quarterdeck's work. The payload is free-form JSON, but these are the keys
writers are expected to use, so auditors can read entries of one kind the same way:

- ``request``: who asked what, over which channel (``{"channel": "chat", "text": "..."}``).
- ``observation``: signals an agent read (``{"signal": ..., "value": ..., "observed_at": ...}``).
- ``reasoner_call``: one call to a reasoning backend (``{"backend", "model", "prompt_tokens",
  "completion_tokens", "total_tokens"}``; token counts ``null`` when the backend does not say).
- ``tool_call``: an agent-facing tool call and its ``ToolResult``.
- ``proposal``: an ``ActionProposal``.
- ``verdict``: the guard's ``Verdict`` for a proposal.
- ``approval``: a human's approve/reject (``{"decision": "approved", "by": ..., "comment": ...}``).
- ``execution``: an action applied (or its failure) and the outcome.
- ``verification``: whether the signals moved as expected after an execution.
- ``loop``: the autonomous loop's own bookkeeping (mode changes, ticks that decided nothing).
- ``note``: anything else worth keeping (operator comments, start/stop of a run).
"""

from __future__ import annotations

from typing import Literal, get_args

AuditKind = Literal[
    "request",
    "observation",
    "reasoner_call",
    "tool_call",
    "proposal",
    "verdict",
    "approval",
    "execution",
    "verification",
    "loop",
    "note",
]

AUDIT_KINDS: tuple[AuditKind, ...] = get_args(AuditKind)


def check_kind(kind: str) -> AuditKind:
    """`kind` as an `AuditKind`; raises ValueError naming the allowed kinds otherwise."""
    for k in AUDIT_KINDS:
        if kind == k:
            return k
    raise ValueError(f"unknown audit kind {kind!r}; expected one of: {', '.join(AUDIT_KINDS)}")
