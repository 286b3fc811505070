"""The protocol every benchmark contender implements (none, hpa, baseline, oracle, agent).

A controller reads the simulator and returns proposals; it never mutates the simulator. The
runner applies what it returns (through `Simulator.apply`) and counts actions by kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from quarterdeck.core.models import ActionProposal

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator


@dataclass(frozen=True)
class ControllerStats:
    """Guard outcomes a controller saw: proposals denied, and approvals it asked for."""

    denied: int = 0
    approvals_requested: int = 0


class Controller(Protocol):
    name: str

    def start(self, sim: Simulator) -> None:
        """Called once at t = 0, before the first tick (the oracle reads the future here)."""
        ...

    def decide(self, sim: Simulator) -> Sequence[ActionProposal]:
        """Called every `controller_interval`; returns what to apply now (maybe nothing)."""
        ...

    def stats(self) -> ControllerStats:
        """Guard outcomes so far."""
        ...
