"""A per-step memory in front of a `MetricsSource`: the same instant query at the same moment of
the source's clock is answered once.

One observe step asks the same all-services query for several tools (health over 1m and 5m,
then details about a few services); on the simulator the clock stands still within a step, so
the answer cannot have changed. The memory is dropped as soon as the clock moves more than
`ttl_s` (default 0: only while it stands still; a real Prometheus' clock always moves, so there
nothing is reused unless a ttl is given). Errors are never remembered, and range queries pass
straight through.
"""

from __future__ import annotations

import threading

from quarterdeck.tools.metrics.base import MetricsSource, RangeSeries, Sample


class StepCache:
    """A `MetricsSource` that remembers instant answers while its source's clock stands still."""

    def __init__(self, source: MetricsSource, *, ttl_s: float = 0.0) -> None:
        self.source = source
        self.kind = source.kind
        self.max_age_s = source.max_age_s
        self.ttl_s = ttl_s
        self._stamp: float | None = None
        self._answers: dict[tuple[str, float | None], list[Sample]] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.source.now()

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        now = self.source.now()
        key = (promql, at)
        with self._lock:
            if self._stamp is None or not 0.0 <= now - self._stamp <= self.ttl_s:
                self._answers.clear()
                self._stamp = now
            hit = self._answers.get(key)
        if hit is not None:
            return list(hit)
        answer = self.source.query(promql, at)
        with self._lock:
            if self._stamp == now:
                self._answers[key] = list(answer)
        return answer

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[RangeSeries]:
        return self.source.query_range(promql, start, end, step)

    def is_online(self) -> bool:
        return self.source.is_online()
