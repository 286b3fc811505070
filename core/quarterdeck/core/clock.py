"""Clocks. Decision logic never calls time.time(): it is handed a Clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds. For the simulator: seconds since scenario start; for real targets: Unix time."""
        ...


class WallClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; tests and the simulator drive it."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def set(self, t: float) -> None:
        self._t = t

    def advance(self, seconds: float) -> None:
        self._t += seconds
