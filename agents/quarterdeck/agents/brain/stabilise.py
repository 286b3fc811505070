"""Scale-down stabilisation: the replicas each service's load needed over a sliding window
(`RecentNeeds`), and the load per replica at which its p95 last came near the SLO (`HotLoads`).

A scale-down goes no lower than the most any recent reading needed (the HPA's scale-down
stabilisation window), so one low reading at the edge of a replica does not give back capacity
the next reading needs again. The caller says which readings count and feeds it its clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class RecentNeeds:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[str, list[tuple[float, int]]] = {}  # service → (t, needed), oldest first

    def note(self, service: str, now: float, need: int | None) -> None:
        """Record `need` (None: nothing to record) and forget readings older than the window."""
        seen = self._seen.setdefault(service, [])
        if need is not None:
            seen.append((now, need))
        seen[:] = [(t, n) for t, n in seen if now - t <= self.window_s]

    def floor(self, service: str) -> int | None:
        """The most replicas a reading in the window needed; None without readings."""
        return max((n for _, n in self._seen.get(service, ())), default=None)

    def readings(self) -> dict[str, list[tuple[float, int]]]:
        """Every service's readings in the window, oldest first (what a store keeps)."""
        return {s: list(seen) for s, seen in self._seen.items() if seen}

    def restore(self, readings: dict[str, list[tuple[float, int]]]) -> None:
        """Take back `readings()` from before a restart."""
        self._seen = {s: sorted(seen) for s, seen in readings.items()}

    def held(self, service: str, now: float) -> bool:
        """Whether the readings in the window go back the whole window."""
        seen = self._seen.get(service)
        return seen is not None and bool(seen) and now - seen[0][0] >= self.window_s - 1e-9


class HotLoads:
    """The load per ready replica at which each service's p95 last came near its SLO.

    The utilisation band sizes by load alone, but with few replicas queueing makes p95 climb
    well before the utilisation looks high. The latency rule then adds a replica, the band
    finds the service idle and gives it back, and the service flaps (3 → 5 → 3 every few
    minutes). Remembering how much load per replica was too much keeps a scale-down above it
    while the memory lasts; more replicas pool the queue, so the figure learned at a count is
    conservative for any smaller one. After `memory_s` without a hot reading the figure is
    forgotten: the service may be given back a replica once, and runs hot again if it still is.
    """

    def __init__(self, memory_s: float, margin: float = 0.9) -> None:
        self.memory_s = memory_s
        self.margin = margin  # a scale-down keeps the load per replica under this share of it
        self._hot: dict[str, tuple[float, float]] = {}  # service → (t, load per replica)

    def note(self, service: str, now: float, per_replica: float) -> None:
        """p95 came near the SLO with `per_replica` req/s on each ready replica (a figure that
        is not a positive number — it may come from an LLM's diagnosis — is ignored)."""
        if not math.isfinite(per_replica) or per_replica <= 0:
            return
        seen = self._hot.get(service)
        fresh = seen is not None and now - seen[0] <= self.memory_s
        # The lowest figure seen while the memory lasts is the one to stay under.
        low = min(per_replica, seen[1]) if fresh and seen is not None else per_replica
        self._hot[service] = (now, low)

    def note_diagnosis(
        self, service: str, now: float, cause: str | None, details: Mapping[str, Any]
    ) -> None:
        """Note the hot reading a `load` diagnosis carries (`details.hot_load_per_replica`)."""
        hot = details.get("hot_load_per_replica")
        if cause == "load" and isinstance(hot, int | float):
            self.note(service, now, float(hot))

    def floor_for(self, service: str, now: float, details: Mapping[str, Any]) -> int | None:
        """`floor` at a diagnosis' projected load (`details.projected_load_rps`)."""
        load = details.get("projected_load_rps")
        return self.floor(service, now, float(load) if isinstance(load, int | float) else None)

    def readings(self) -> dict[str, tuple[float, float]]:
        """service → (t, load per replica) of its last hot reading (what a store keeps)."""
        return dict(self._hot)

    def restore(self, readings: dict[str, tuple[float, float]]) -> None:
        """Take back `readings()` from before a restart."""
        self._hot = dict(readings)

    def floor(self, service: str, now: float, load: float | None) -> int | None:
        """The fewest replicas that keep `load` under the remembered figure; None without one
        (or without a load)."""
        seen = self._hot.get(service)
        if load is None or seen is None or now - seen[0] > self.memory_s:
            return None
        replicas = load / (seen[1] * self.margin)
        return max(1, math.ceil(replicas - 1e-9)) if math.isfinite(replicas) else None
