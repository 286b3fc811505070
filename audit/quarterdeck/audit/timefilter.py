"""Filter times as people type them: ISO-8601 (``2026-11-24T15:00:00Z``) or "ago" (``90m``, ``1h``).

A bare number is Unix seconds. A time without a zone is taken as UTC, since the log stores UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from quarterdeck.core.durations import parse_duration

_RELATIVE = re.compile(r"^\d+(?:\.\d+)?(ms|s|m|h|d)")


def parse_time(text: str, now: float) -> float:
    """Unix seconds for `text`; relative durations count back from `now`. Raises ValueError."""
    s = text.strip()
    if not s:
        raise ValueError("empty time")
    if s == "now":
        return now
    if _RELATIVE.match(s):
        return now - parse_duration(s)
    try:
        return float(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use ISO-8601 like 2026-11-24T15:00:00Z, or an age like 1h)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
