"""PromQL values evaluated over a whole grid of evaluation times at once.

Prometheus evaluates a range query step by step; here every value carries one array slot per
step, so `rate(x[1m])` over 11,000 steps is a handful of numpy operations, not 11,000 passes.
An instant query is simply a grid of one step.

A series in an instant vector has a value *and* a presence mask per step: a series absent at a
step (no sample within the lookback window) is not the same as a sample whose value is NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from quarterdeck.sim.wire.promql.errors import PromQLError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
LabelKey = tuple[tuple[str, str], ...]

METRIC_NAME = "__name__"


def label_key(labels: Mapping[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def drop_name(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != METRIC_NAME}


@dataclass(frozen=True)
class Grid:
    """Where and how to evaluate: the step times (sim seconds) and the query's settings."""

    times: FloatArray
    epoch: float  # Unix seconds at sim time 0: time() and `@` speak Unix seconds
    lookback: float = 300.0  # Prometheus's default --query.lookback-delta
    # the whole query's start and end, for `@ start()` / `@ end()` inside a subquery's grid
    query_start: float | None = None
    query_end: float | None = None

    @property
    def n(self) -> int:
        return int(self.times.shape[0])

    @property
    def start(self) -> float:
        return float(self.times[0]) if self.query_start is None else self.query_start

    @property
    def end(self) -> float:
        return float(self.times[-1]) if self.query_end is None else self.query_end


@dataclass
class StepSeries:
    """One series of an instant vector, across every step of the grid."""

    labels: dict[str, str]
    v: FloatArray
    ok: BoolArray
    # Timestamps (sim seconds) of the raw samples a selector picked; None for computed values,
    # whose timestamp is the evaluation time (what `timestamp()` reports, as in Prometheus).
    ts: FloatArray | None = None


@dataclass
class Vector:
    series: list[StepSeries] = field(default_factory=list)


@dataclass
class Scalar:
    v: FloatArray


@dataclass(frozen=True)
class RawSeries:
    labels: dict[str, str]
    t: FloatArray
    v: FloatArray


@dataclass
class Matrix:
    """A range vector from `selector[range]`: raw samples plus, per step, the window's end.

    Windows are left-closed `[end - range, end]`, as in Prometheus 2.x (the version the
    integration tests run); with samples every second a 60 s window then holds exactly the
    increase over the last 60 s.
    """

    series: list[RawSeries]
    range: float
    ends: FloatArray


@dataclass(frozen=True)
class String:
    s: str


Value = Vector | Scalar | Matrix | String


def build_vector(items: Iterable[StepSeries]) -> Vector:
    """A vector from series whose labels may now collide (e.g. after dropping `__name__`).

    Series sharing a label set are merged where they are present at different steps; present
    at the same step, Prometheus fails the query, and so do we.
    """
    merged: dict[LabelKey, StepSeries] = {}
    for s in items:
        if not s.ok.any():
            continue
        key = label_key(s.labels)
        have = merged.get(key)
        if have is None:
            merged[key] = StepSeries(dict(s.labels), s.v.copy(), s.ok.copy(), s.ts)
            continue
        if (have.ok & s.ok).any():
            raise PromQLError(
                "vector cannot contain metrics with the same labelset", error_type="execution"
            )
        have.v = np.where(s.ok, s.v, have.v)
        if have.ts is not None and s.ts is not None:
            have.ts = np.where(s.ok, s.ts, have.ts)
        else:
            have.ts = None
        have.ok = have.ok | s.ok
    return Vector(list(merged.values()))
