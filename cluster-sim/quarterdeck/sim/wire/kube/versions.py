"""`resourceVersion` and `generation` for objects rendered from the simulator's state.

The simulator keeps no per-object versions, so they are derived: an object's resourceVersion
changes exactly when its rendered content changes (a fingerprint is kept per object), drawn from
one counter that only grows, as etcd's revision does. `generation` likewise counts changes of
`spec`. A write that carries a stale `metadata.resourceVersion` is refused with 409 Conflict.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

Obj = dict[str, Any]


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class Versions:
    def __init__(self) -> None:
        self._counter = 1
        self._seen: dict[str, tuple[str, int]] = {}  # key -> (content fingerprint, version)
        self._specs: dict[str, tuple[str, int]] = {}  # key -> (spec fingerprint, generation)

    @property
    def latest(self) -> str:
        return str(self._counter)

    def stamp(self, obj: Obj) -> Obj:
        """Sets metadata.resourceVersion (and generation for objects with a spec) in place."""
        meta = obj["metadata"]
        key = f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}"
        if "spec" in obj and obj["kind"] not in ("Pod", "Node", "Namespace"):
            spec_print = _fingerprint(obj["spec"])
            previous = self._specs.get(key)
            generation = 1 if previous is None else previous[1]
            if previous is not None and previous[0] != spec_print:
                generation += 1
            self._specs[key] = (spec_print, generation)
            meta["generation"] = generation
            if obj["kind"] == "Deployment":
                obj["status"]["observedGeneration"] = generation
        meta.pop("resourceVersion", None)
        content = _fingerprint(obj)
        seen = self._seen.get(key)
        if seen is None or seen[0] != content:
            self._counter += 1
            seen = (content, self._counter)
            self._seen[key] = seen
        meta["resourceVersion"] = str(seen[1])
        return obj
