"""The `none` controller: never acts. The floor every other controller is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from quarterdeck.core.models import ActionProposal
from quarterdeck.sim.controllers.base import ControllerStats

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator


class NoneController:
    name = "none"

    def start(self, sim: Simulator) -> None:
        return None

    def decide(self, sim: Simulator) -> Sequence[ActionProposal]:
        return ()

    def stats(self) -> ControllerStats:
        return ControllerStats()
