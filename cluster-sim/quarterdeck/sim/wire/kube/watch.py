"""`?watch=true`: a stream of newline-delimited watch events (ADDED, MODIFIED, DELETED).

The simulator has no change feed, so the stream polls: every `poll_s` it re-renders the
collection on the event loop (between ticks) and emits an event for each object whose
resourceVersion moved, each new object and each one that went away. `kubectl rollout status`
and `kubectl get -w` need no more than that.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

Obj = dict[str, Any]
MAX_TIMEOUT_S = 1800.0


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _line(kind: str, obj: Obj) -> bytes:
    return (json.dumps({"type": kind, "object": obj}) + "\n").encode()


async def watch_events(
    produce: Callable[[], list[Obj]],
    *,
    since: str | None,
    timeout_s: float,
    present: Callable[[Obj], Obj] = lambda obj: obj,
    poll_s: float = 0.2,
) -> AsyncIterator[bytes]:
    """Events for the objects `produce()` returns, from resourceVersion `since` on (all of
    them as ADDED when `since` is empty or "0"); `present` shapes each object (e.g. a Table)."""
    floor = int(since) if since and since.isdigit() and since != "0" else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(timeout_s, 0.0), MAX_TIMEOUT_S)
    known: dict[str, Obj] = {}
    first = True
    while True:
        current = {_key(obj): obj for obj in produce()}
        for key, obj in current.items():
            version = int(obj["metadata"]["resourceVersion"])
            old = known.get(key)
            if old is None and first and floor is not None:
                if version > floor:
                    yield _line("MODIFIED", present(obj))
            elif old is None:
                yield _line("ADDED", present(obj))
            elif old["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                yield _line("MODIFIED", present(obj))
        for key in known.keys() - current.keys():
            yield _line("DELETED", present(known[key]))
        known, first = current, False
        if loop.time() >= deadline:
            return
        await asyncio.sleep(poll_s)
