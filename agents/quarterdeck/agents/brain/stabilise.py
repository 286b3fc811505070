"""Scale-down stabilisation: the replicas each service's load needed over a sliding window.

A scale-down goes no lower than the most any recent reading needed (the HPA's scale-down
stabilisation window), so one low reading at the edge of a replica does not give back capacity
the next reading needs again. The caller says which readings count and feeds it its clock.
"""

from __future__ import annotations


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
