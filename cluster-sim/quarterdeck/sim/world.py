"""`holding_sim_lock`: run an adapter method over a `Simulator` as one step of its world.

Readers that work on the simulator from another thread than the one advancing it (agents
thinking in worker threads while `quarterdeck serve` drives the clock) must see it between
ticks, not halfway through one: each adapter call holds the simulator's lock for its length.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class _HasLock(Protocol):
    @property
    def lock(self) -> AbstractContextManager[Any]: ...


class _OverSim(Protocol):
    @property
    def sim(self) -> _HasLock: ...


S = TypeVar("S", bound=_OverSim)


def holding_sim_lock(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    @functools.wraps(method)
    def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.sim.lock:
            return method(self, *args, **kwargs)

    return call
