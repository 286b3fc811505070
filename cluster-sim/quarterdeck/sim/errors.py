"""Errors the simulator raises. Everything derives from `SimError` so callers can catch one type."""

from __future__ import annotations


class SimError(Exception):
    """Base of every simulator error."""


class NotFound(SimError):
    """A read named a service, revision or pod that does not exist."""


class InvalidAction(SimError):
    """An action the simulator refuses, with the reason (unknown version, no pods, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
