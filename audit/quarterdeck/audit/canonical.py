"""Canonical JSON: one byte string per value, so hashes over entries are stable.

Keys sorted, no insignificant whitespace, UTF-8 (not ``\\u`` escapes), no NaN/Infinity (they are
not JSON). Floats use Python's shortest round-trip repr, so a value read back from SQLite or from
an export serialises to the same bytes it was hashed with.
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Any

from pydantic import BaseModel

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """`value` (plain JSON data) as canonical JSON text."""
    return _ENCODER.encode(value)


def _convert(value: Any) -> Any:
    """What the encoder calls for values JSON has no type for."""
    if isinstance(value, BaseModel):
        # mode="json": the shape the REST API shows, e.g. an ActionProposal with its action kind.
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=canonical_json)
    raise TypeError(f"cannot store a {type(value).__name__} in the audit log: {value!r:.80}")


_PAYLOAD_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=_convert,
)


def payload_json(payload: Any) -> str:
    """A payload (mapping or pydantic model, possibly holding models, enums, tuples, dataclasses)
    as canonical JSON text. Raises TypeError/ValueError saying what cannot be stored."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    try:
        return _PAYLOAD_ENCODER.encode(payload)
    except ValueError as e:  # NaN/Infinity, or a circular reference
        raise ValueError(f"payload is not storable as JSON: {e}") from None
    except TypeError as e:
        if "keys must be" in str(e) or "'<' not supported" in str(e):
            raise TypeError(f"payload keys must be strings: {e}") from None
        raise
