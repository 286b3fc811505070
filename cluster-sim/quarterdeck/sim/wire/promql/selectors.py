"""Vector and matrix selectors: label matching, lookback, offset and `@` over a series store.

A selector reads only the samples its windows can see, for all its series at once: from a
store with `select_block` (the simulator's SeriesStore: indexed, remembered selections, one
table of samples) directly, from any other store series by series, put on shared times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import promql_parser as pp
from numpy.typing import NDArray

from quarterdeck.sim.wire.promql.errors import PromQLError, unsupported
from quarterdeck.sim.wire.promql.values import (
    METRIC_NAME,
    Block,
    BoolArray,
    FloatArray,
    Grid,
    Matrix,
    RawBlock,
    RawSeries,
    Vector,
    vector_of_block,
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
    """The read side of `quarterdeck.sim.series.SeriesStore` that PromQL needs. A store that
    also has SeriesStore's `select_block(name, matchers, start, end)` is read through it."""

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


def select_block(
    store: SeriesSource, vs: pp.VectorSelector, start: float = -math.inf, end: float = math.inf
) -> RawBlock:
    """The stored series the selector's name and matchers pick, with their samples in
    [start, end], stacked over shared times."""
    if vs.matchers.or_matchers:
        raise unsupported("`or` inside label matchers")
    matchers = list(vs.matchers.matchers)
    names = [vs.name] if vs.name else list(store.names())
    for m in matchers:
        if m.op in (pp.MatchOp.Re, pp.MatchOp.NotRe):
            _regex(m.value)  # a bad regex is the query's fault: bad_data, not a crash
    # The store filters by label (cheaper: it then reads only the matching columns); the checks
    # here stay authoritative for regular expressions and cover `__name__` matchers.
    pushed = [(m.name, _op_text(m.op), m.value) for m in matchers if m.name != METRIC_NAME]
    named = [m for m in matchers if m.name == METRIC_NAME]
    labelled = [m for m in matchers if m.name != METRIC_NAME]
    regexes = [m for m in labelled if m.op in _REGEX_OPS]
    parts: list[RawBlock] = []
    for name in names:
        if not all(matcher_matches(m, name) for m in named):
            continue
        picked, indexed = _from_store(store, name, pushed, start, end)
        # A SeriesStore matched with the same operators; only its regex dialect may differ.
        recheck = regexes if indexed else labelled
        if recheck:
            picked = _recheck(picked, recheck)
        if picked.width:
            parts.append(picked)
    return concat_blocks(parts)


_REGEX_OPS = (pp.MatchOp.Re, pp.MatchOp.NotRe)


def _from_store(
    store: SeriesSource, name: str, pushed: list[tuple[str, str, str]], start: float, end: float
) -> tuple[RawBlock, bool]:
    """(the picked series, whether the store applied the label matchers itself)."""
    fast = getattr(store, "select_block", None)
    if fast is not None:
        b = fast(name, pushed, start, end)
        v = np.asarray(b.v, dtype=np.float64)
        return RawBlock(b.labels, [name] * len(b.labels), b.t, v, ~np.isnan(v)), True
    series = [
        (dict(s.labels), np.asarray(s.t, dtype=np.float64), np.asarray(s.v, dtype=np.float64))
        for s in store.select(name, pushed)
    ]
    return _stack(name, series, start, end), False


def _stack(
    name: str, series: list[tuple[dict[str, str], FloatArray, FloatArray]], lo: float, hi: float
) -> RawBlock:
    """Series each with its own sample times, put on the union of those times."""
    cut = [(lb, t[(t >= lo) & (t <= hi)], v[(t >= lo) & (t <= hi)]) for lb, t, v in series]
    t_all = np.unique(np.concatenate([t for _, t, _ in cut])) if cut else np.empty(0)
    v = np.full((t_all.size, len(cut)), np.nan)
    ok = np.zeros(v.shape, dtype=bool)
    for k, (_, t, vals) in enumerate(cut):
        rows = np.searchsorted(t_all, t)
        v[rows, k] = vals
        ok[rows, k] = True
    return RawBlock([lb for lb, _, _ in cut], [name] * len(cut), t_all, v, ok)


def _recheck(b: RawBlock, regexes: list[pp.Matcher]) -> RawBlock:
    seen: dict[tuple[int, str], bool] = {}

    def passes(labels: Mapping[str, str]) -> bool:
        for i, m in enumerate(regexes):
            have = labels.get(m.name, "")
            hit = seen.get((i, have))
            if hit is None:
                hit = seen[(i, have)] = matcher_matches(m, have)
            if not hit:
                return False
        return True

    keep = [k for k, lb in enumerate(b.bare) if passes(lb)]
    if len(keep) == b.width:
        return b
    idx = np.array(keep, dtype=np.intp)
    return RawBlock(
        [b.bare[k] for k in keep], [b.names[k] for k in keep], b.t, b.v[:, idx], b.ok[:, idx]
    )


def concat_blocks(parts: list[RawBlock]) -> RawBlock:
    """Blocks side by side; put on the union of their times if those differ."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return RawBlock([], [], np.empty(0), np.empty((0, 0)), np.zeros((0, 0), dtype=bool))
    t = parts[0].t
    if all(np.array_equal(p.t, t) for p in parts):
        v = np.concatenate([p.v for p in parts], axis=1)
        ok = np.concatenate([p.ok for p in parts], axis=1)
    else:
        t = np.unique(np.concatenate([p.t for p in parts]))
        v = np.full((t.size, sum(p.width for p in parts)), np.nan)
        ok = np.zeros(v.shape, dtype=bool)
        col = 0
        for p in parts:
            rows = np.searchsorted(t, p.t)
            v[rows, col : col + p.width] = p.v
            ok[rows, col : col + p.width] = p.ok
            col += p.width
    bare = [lb for p in parts for lb in p.bare]
    names = [n for p in parts for n in p.names]
    return RawBlock(bare, names, t, v, ok)


def select_raw(store: SeriesSource, vs: pp.VectorSelector) -> list[RawSeries]:
    """Every stored series the selector picks, with `__name__` added, series by series."""
    b = select_block(store, vs)
    return [b.column(k) for k in range(b.width)]


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


CELLS_PER_SLICE = 262_144  # bounds the [rows or steps, series] temporaries of one slice


def instant_selector(store: SeriesSource, vs: pp.VectorSelector, grid: Grid) -> Vector:
    """The newest sample at or before each reference time, if within the lookback delta."""
    ref = reference_times(vs, grid)
    b = select_block(store, vs, float(ref.min()) - grid.lookback, float(ref.max()))
    if b.width == 0 or b.t.size == 0:
        return Vector()
    at = np.searchsorted(b.t, ref, side="right") - 1  # [steps] newest row at or before ref
    v = np.empty((b.width, ref.size))
    ok = np.empty((b.width, ref.size), dtype=bool)
    ts = np.empty((b.width, ref.size))
    per = max(1, CELLS_PER_SLICE // max(b.t.size, ref.size))
    for k in range(0, b.width, per):
        cols = slice(k, k + per)
        _newest(b.columns(cols), at, ref, grid.lookback, (v[cols], ok[cols], ts[cols]))
    return vector_of_block(Block(b.labels, v, ok, ts), unique=True)


def _newest(
    b: RawBlock,
    at: NDArray[np.intp],
    ref: FloatArray,
    lookback: float,
    out: tuple[FloatArray, BoolArray, FloatArray],
) -> None:
    """Writes [series, steps] value, presence and time of each series' newest sample at `at`."""
    rows = b.t.size
    newest = last_present(b.ok)  # [rows, series]
    idx = newest[np.minimum(np.maximum(at, 0), rows - 1)]  # [steps, series]
    idx = np.where((at >= 0)[:, None], idx, -1)
    safe = np.maximum(idx, 0)
    ts = b.t[safe]
    out[1][:] = ((idx >= 0) & (ts >= (ref - lookback)[:, None])).T
    out[0][:] = np.take_along_axis(b.v, safe, axis=0).T
    out[2][:] = ts.T


def last_present(ok: BoolArray) -> NDArray[np.intp]:
    """Per row and column, the last row at or before it where the column has a sample (-1)."""
    rows = np.arange(ok.shape[0], dtype=np.intp)[:, None]
    return np.asarray(np.maximum.accumulate(np.where(ok, rows, -1), axis=0), dtype=np.intp)


def first_present(ok: BoolArray) -> NDArray[np.intp]:
    """Per row and column, the first row at or after it where the column has a sample (rows)."""
    n = ok.shape[0]
    rows = np.arange(n, dtype=np.intp)[:, None]
    flipped = np.where(ok, rows, n)[::-1]
    return np.asarray(np.minimum.accumulate(flipped, axis=0)[::-1], dtype=np.intp)


def matrix_selector(store: SeriesSource, ms: pp.MatrixSelector, grid: Grid) -> Matrix:
    vs = ms.vector_selector
    ends = reference_times(vs, grid)
    rng = _seconds(ms.range)
    return Matrix(select_block(store, vs, float(ends.min()) - rng, float(ends.max())), rng, ends)


def window_bounds(raw: RawSeries, m: Matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per step, [lo, hi) indices of the samples inside the left-closed window."""
    lo = np.searchsorted(raw.t, m.ends - m.range, side="left")
    hi = np.searchsorted(raw.t, m.ends, side="right")
    return lo, hi
