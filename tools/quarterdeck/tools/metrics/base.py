"""The `MetricsSource` interface, the values it returns, and the errors it raises.

Two methods answer PromQL (Flagger's metric providers need no more), one says whether the
source answers at all. Times are *clock seconds*: sim seconds for the simulator, Unix seconds
for a real Prometheus (the adapter's `epoch` maps between them when a Prometheus client talks to
`quarterdeck sim serve`).

Stale data is no data: a sample older than the source's `max_age_s` relative to the query time
is dropped, never passed on as a value (and an absent series is never reported as zero). Errors
are raised, never turned into an empty answer: an unreachable Prometheus must not look like a
quiet service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of an instant query: a vector element, or a scalar (no labels)."""

    labels: Mapping[str, str]
    value: float
    timestamp: float  # clock seconds


@dataclass(frozen=True, slots=True)
class RangeSeries:
    """One series of a range query: (clock seconds, value) points, oldest first."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...] = field(default=())

    @property
    def last(self) -> tuple[float, float] | None:
        return self.points[-1] if self.points else None


class MetricsError(Exception):
    """Base of every error a `MetricsSource` raises; `str()` says what went wrong."""


class MetricsUnavailable(MetricsError):
    """The source did not answer: refused, timed out, or 5xx/429 after bounded retries."""


class QueryError(MetricsError):
    """The source refused the query (Prometheus `status: error`, e.g. `bad_data`)."""

    def __init__(self, message: str, error_type: str = "bad_data") -> None:
        super().__init__(message)
        self.error_type = error_type


@runtime_checkable
class MetricsSource(Protocol):
    """Answers PromQL about the services, from a Prometheus server or the simulator."""

    kind: str  # "sim" | "prometheus"
    max_age_s: float  # samples older than this (relative to the query time) are dropped

    def now(self) -> float:
        """The source's clock, in clock seconds: the default query time."""
        ...

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        """An instant query at `at` (default: now). Fresh samples only; [] means no data."""
        ...

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[RangeSeries]:
        """A range query evaluated every `step` seconds from `start` to `end`."""
        ...

    def is_online(self) -> bool:
        """True if the source answers a trivial query; never raises."""
        ...


def fresh(samples: list[Sample], reference: float, max_age_s: float) -> list[Sample]:
    """The samples no older than `max_age_s` before `reference`; NaN-free is not implied."""
    return [s for s in samples if reference - s.timestamp <= max_age_s]
