"""`MetricsSource` on an in-process Simulator: the same PromQL, evaluated on its series store.

It runs the very evaluator that serves the simulator's Prometheus HTTP API, without HTTP or
JSON in between, so its answers equal the HTTP facade's and it costs microseconds, not
milliseconds (the benchmark and the agent loop use it). Times are sim seconds.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from quarterdeck.sim.wire.promql import (
    PromQLError,
    QueryResult,
    SeriesSource,
    instant_query,
    range_query,
)
from quarterdeck.sim.world import holding_sim_lock
from quarterdeck.tools.metrics.base import QueryError, RangeSeries, Sample, fresh

DEFAULT_MAX_AGE_S = 120.0


class _Sim(Protocol):
    @property
    def series(self) -> SeriesSource: ...
    @property
    def epoch(self) -> float: ...
    @property
    def now(self) -> float: ...
    @property
    def lock(self) -> AbstractContextManager[Any]: ...


class SimMetricsSource:
    kind = "sim"

    def __init__(self, sim: _Sim, *, max_age_s: float = DEFAULT_MAX_AGE_S) -> None:
        self.sim = sim
        self.max_age_s = max_age_s

    def now(self) -> float:
        return float(self.sim.now)

    @holding_sim_lock
    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        when = self.now() if at is None else at
        try:
            result = instant_query(self.sim.series, promql, when, epoch=self.sim.epoch)
        except PromQLError as e:
            raise QueryError(e.message, error_type=e.error_type) from e
        return fresh(_samples(result), when, self.max_age_s)

    @holding_sim_lock
    def query_range(self, promql: str, start: float, end: float, step: float) -> list[RangeSeries]:
        if not step > 0 or not math.isfinite(step):
            raise QueryError(f"step must be a positive number of seconds, got {step!r}")
        try:
            result = range_query(self.sim.series, promql, start, end, step, epoch=self.sim.epoch)
        except PromQLError as e:
            raise QueryError(e.message, error_type=e.error_type) from e
        out = []
        for s in result.series:
            # ms like the HTTP API, so both adapters report the same times
            times = np.round(s.t, 3).tolist()
            out.append(RangeSeries(dict(s.labels), tuple(zip(times, s.v.tolist(), strict=True))))
        return out

    def is_online(self) -> bool:
        return True


def _samples(result: QueryResult) -> list[Sample]:
    if result.result_type == "string":
        raise QueryError("the query returned a string, not a number")
    if result.result_type == "matrix":
        raise QueryError("the query returned a range vector; use query_range")
    return [Sample(dict(s.labels), float(s.v[0]), float(s.t[0])) for s in result.series]
