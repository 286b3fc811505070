"""Vector and matrix selectors: label matching, lookback, offset and `@` over a series store."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import promql_parser as pp

from quarterdeck.sim.wire.promql.errors import PromQLError, unsupported
from quarterdeck.sim.wire.promql.values import (
    METRIC_NAME,
    FloatArray,
    Grid,
    Matrix,
    RawSeries,
    StepSeries,
    Vector,
)


class StoredSeries(Protocol):
    """What the simulator's SeriesStore hands out: labels (without `__name__`) and samples."""

    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def t(self) -> Any: ...  # sim seconds, ascending
    @property
    def v(self) -> Any: ...


class SeriesSource(Protocol):
    """The read side of `quarterdeck.sim.series.SeriesStore` that PromQL needs."""

    def names(self) -> Iterable[str]: ...
    def select(self, name: str, matchers: Any = ...) -> Sequence[StoredSeries]: ...


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        # Prometheus anchors label regexes at both ends.
        return re.compile(f"(?:{pattern})\\Z", re.DOTALL)
    except re.error as e:
        raise PromQLError(f"invalid regular expression {pattern!r}: {e}") from e


_OPS = (
    (pp.MatchOp.Equal, "="),
    (pp.MatchOp.NotEqual, "!="),
    (pp.MatchOp.Re, "=~"),
    (pp.MatchOp.NotRe, "!~"),
)  # MatchOp isn't hashable


def _op_text(op: pp.MatchOp) -> str:
    for known, text in _OPS:
        if op == known:
            return text
    raise unsupported(f"label matcher operator {op}")


def matcher_matches(m: pp.Matcher, value: str) -> bool:
    """One label matcher against a label's value; a missing label has the value ""."""
    op = m.op
    if op == pp.MatchOp.Equal:
        return value == m.value
    if op == pp.MatchOp.NotEqual:
        return value != m.value
    if op == pp.MatchOp.Re:
        return _regex(m.value).match(value) is not None
    if op == pp.MatchOp.NotRe:
        return _regex(m.value).match(value) is None
    raise unsupported(f"label matcher {m}")


def select_raw(store: SeriesSource, vs: pp.VectorSelector) -> list[RawSeries]:
    """Every stored series the selector's name and matchers pick, with `__name__` added."""
    if vs.matchers.or_matchers:
        raise unsupported("`or` inside label matchers")
    matchers = list(vs.matchers.matchers)
    names = [vs.name] if vs.name else list(store.names())
    # The store filters by label too (cheaper: it then reads only the matching columns); the
    # check below stays authoritative, and covers `__name__` matchers.
    for m in matchers:
        if m.op in (pp.MatchOp.Re, pp.MatchOp.NotRe):
            _regex(m.value)  # a bad regex is the query's fault: bad_data, not a crash
    pushed = [(m.name, _op_text(m.op), m.value) for m in matchers if m.name != METRIC_NAME]
    out: list[RawSeries] = []
    for name in names:
        for s in store.select(name, pushed):
            labels = {METRIC_NAME: name, **{k: str(v) for k, v in s.labels.items()}}
            if all(matcher_matches(m, labels.get(m.name, "")) for m in matchers):
                t = np.asarray(s.t, dtype=np.float64)
                v = np.asarray(s.v, dtype=np.float64)
                out.append(RawSeries(labels, t, v))
    return out


def _seconds(d: Any) -> float:
    return float(d.total_seconds()) if d is not None else 0.0


def reference_times(vs: pp.VectorSelector, grid: Grid) -> FloatArray:
    """Per step, the time the selector looks at: the step (or its `@` time) minus `offset`."""
    return _reference(vs.at, vs.offset, grid)


def subquery_reference_times(sq: pp.SubqueryExpr, grid: Grid) -> FloatArray:
    """Per step, the end of a subquery's window: the step (or its `@` time) minus `offset`."""
    return _reference(sq.at, sq.offset, grid)


def _reference(at: pp.AtModifier | None, offset: Any, grid: Grid) -> FloatArray:
    if at is None:
        base = grid.times
    elif at.type == pp.AtModifierType.Start:
        base = np.full(grid.n, grid.start)
    elif at.type == pp.AtModifierType.End:
        base = np.full(grid.n, grid.end)
    elif at.at is not None:
        base = np.full(grid.n, at.at.timestamp() - grid.epoch)
    else:
        raise unsupported(f"@ modifier {at}")
    return np.asarray(base - _seconds(offset), dtype=np.float64)


def instant_selector(store: SeriesSource, vs: pp.VectorSelector, grid: Grid) -> Vector:
    """The newest sample at or before each reference time, if within the lookback delta."""
    ref = reference_times(vs, grid)
    out: list[StepSeries] = []
    for raw in select_raw(store, vs):
        if raw.t.size == 0:
            continue
        idx = np.searchsorted(raw.t, ref, side="right") - 1
        safe = np.clip(idx, 0, raw.t.size - 1)
        ts = raw.t[safe]
        ok = (idx >= 0) & (ts >= ref - grid.lookback)
        if ok.any():
            out.append(StepSeries(dict(raw.labels), raw.v[safe], ok, ts))
    return Vector(out)


def matrix_selector(store: SeriesSource, ms: pp.MatrixSelector, grid: Grid) -> Matrix:
    vs = ms.vector_selector
    return Matrix(select_raw(store, vs), _seconds(ms.range), reference_times(vs, grid))


def window_bounds(raw: RawSeries, m: Matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per step, [lo, hi) indices of the samples inside the left-closed window."""
    lo = np.searchsorted(raw.t, m.ends - m.range, side="left")
    hi = np.searchsorted(raw.t, m.ends, side="right")
    return lo, hi
