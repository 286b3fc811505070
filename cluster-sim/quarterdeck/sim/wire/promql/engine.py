"""Parse PromQL with `promql-parser` and evaluate its AST over a series store.

Public entry points: `instant_query` and `range_query`. Times are sim seconds; `epoch` maps
them to the Unix seconds that `time()` and `@` speak. Anything outside the supported subset
raises `PromQLError("bad_data")` instead of returning a guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import promql_parser as pp

from quarterdeck.sim.wire.promql.aggregate import aggregate, aggregate_with_param
from quarterdeck.sim.wire.promql.binops import binary
from quarterdeck.sim.wire.promql.errors import PromQLError, unsupported
from quarterdeck.sim.wire.promql.histogram import histogram_quantile
from quarterdeck.sim.wire.promql.rangefuncs import (
    RANGE_FUNCTIONS,
    apply_range_function,
    quantile_over_time,
)
from quarterdeck.sim.wire.promql.selectors import (
    SeriesSource,
    concat_blocks,
    instant_selector,
    matrix_selector,
    select_raw,
    subquery_reference_times,
    window_bounds,
)
from quarterdeck.sim.wire.promql.values import (
    Block,
    FloatArray,
    Grid,
    Matrix,
    RawBlock,
    Scalar,
    StepSeries,
    String,
    Value,
    Vector,
    build_vector,
    drop_name,
    drop_names,
    label_key,
    vector_of_block,
)

MAX_POINTS = 11_000  # Prometheus refuses range queries with more points per series
DEFAULT_SUBQUERY_STEP = 60.0  # Prometheus's default global evaluation_interval
MAX_SUBQUERY_POINTS = 1_000_000


@dataclass(frozen=True)
class ResultSeries:
    """One series of a result; `t` in sim seconds. Instant vectors hold one point each.
    `labels` is the caller's own copy (the evaluator shares label sets internally)."""

    labels: dict[str, str]
    t: FloatArray
    v: FloatArray


@dataclass(frozen=True)
class QueryResult:
    result_type: Literal["vector", "matrix", "scalar", "string"]
    series: list[ResultSeries]  # "scalar"/"string": one series with no labels (its time)
    string: str | None = None


def parse(query: str) -> pp.Expr:
    if not query.strip():
        raise PromQLError("empty query")
    return _parse(query)


@lru_cache(maxsize=16384)
def _parse(query: str) -> pp.Expr:
    """Parsed once per distinct query (the loop asks the same ones every step); the evaluator
    never changes a syntax tree."""
    try:
        return pp.parse(query)
    except ValueError as e:
        raise PromQLError(f"parse error: {e}") from e


def _elementwise(fn: Callable[[FloatArray], FloatArray]) -> Callable[[Vector], Vector]:
    def apply(vec: Vector) -> Vector:
        with np.errstate(all="ignore"):
            return build_vector(
                StepSeries(drop_name(s.labels), np.asarray(fn(s.v), dtype=np.float64), s.ok)
                for s in vec.series
            )

    return apply


def _round_half_up(v: FloatArray) -> FloatArray:
    return np.floor(v + 0.5)  # Go's math.Floor(v*1/to + 0.5): ties round up, unlike numpy


ELEMENTWISE: dict[str, Callable[[Vector], Vector]] = {
    "abs": _elementwise(np.abs),
    "ceil": _elementwise(np.ceil),
    "floor": _elementwise(np.floor),
    "exp": _elementwise(np.exp),
    "sqrt": _elementwise(np.sqrt),
    "ln": _elementwise(np.log),
    "log2": _elementwise(np.log2),
    "log10": _elementwise(np.log10),
}


class Evaluator:
    def __init__(self, store: SeriesSource, grid: Grid) -> None:
        self.store = store
        self.grid = grid

    def eval(self, node: Any) -> Value:
        if isinstance(node, pp.NumberLiteral):
            return Scalar(np.full(self.grid.n, float(node.val)))
        if isinstance(node, pp.StringLiteral):
            return String(str(node.val))
        if isinstance(node, pp.ParenExpr):
            return self.eval(node.expr)
        if isinstance(node, pp.UnaryExpr):  # the parser folds unary plus away: this is minus
            inner = self.eval(node.expr)
            if isinstance(inner, Scalar):
                return Scalar(-inner.v)
            return _elementwise(np.negative)(self._vector(inner, "unary minus"))
        if isinstance(node, pp.VectorSelector):
            return instant_selector(self.store, node, self.grid)
        if isinstance(node, pp.MatrixSelector):
            return matrix_selector(self.store, node, self.grid)
        if isinstance(node, pp.BinaryExpr):
            lhs, rhs = self.eval(node.lhs), self.eval(node.rhs)
            return binary(str(node.op), lhs, rhs, node.modifier, self.grid.n)
        if isinstance(node, pp.AggregateExpr):
            op = str(node.op)
            if node.param is not None:
                if op not in ("topk", "bottomk", "quantile"):
                    raise unsupported(f"aggregation {op}()")
                param = self._scalar(self.eval(node.param), f"{op}()")
                vec = self._vector(self.eval(node.expr), f"{op}()")
                return aggregate_with_param(op, param, vec, node.modifier)
            vec = self._vector(self.eval(node.expr), f"{op}()")
            return aggregate(op, vec, node.modifier, self.grid.n)
        if isinstance(node, pp.Call):
            return self._call(node)
        if isinstance(node, pp.SubqueryExpr):
            return self._subquery(node)
        raise unsupported(f"expression {type(node).__name__}")

    def _subquery(self, node: pp.SubqueryExpr) -> Matrix:
        """`expr[range:step]`: `expr` evaluated every `step` on Unix-aligned times, as a matrix.

        The inner grid is the union of every outer step's window, so one vectorised evaluation
        serves them all; windows are then cut as for a matrix selector (left-closed, as 2.x).
        """
        rng = _seconds(node.range)
        step = _seconds(node.step) or DEFAULT_SUBQUERY_STEP
        ends = subquery_reference_times(node, self.grid)
        step_ms = round(step * 1000)
        first_ms = round((float(ends.min()) - rng + self.grid.epoch) * 1000)
        last_ms = round((float(ends.max()) + self.grid.epoch) * 1000)
        start_ms = first_ms - first_ms % step_ms
        if start_ms < first_ms:
            start_ms += step_ms
        n = (last_ms - start_ms) // step_ms + 1
        if n > MAX_SUBQUERY_POINTS:
            raise PromQLError(
                f"subquery needs {n:,} evaluations (max {MAX_SUBQUERY_POINTS:,}); raise its step",
                error_type="execution",
            )
        if n <= 0:
            return Matrix(concat_blocks([]), rng, ends)
        times = (start_ms + step_ms * np.arange(n, dtype=np.float64)) / 1000 - self.grid.epoch
        grid = Grid(times, self.grid.epoch, self.grid.lookback, self.grid.start, self.grid.end)
        inner = Evaluator(self.store, grid).eval(node.expr)
        if isinstance(inner, Scalar):
            inner = Vector([StepSeries({}, inner.v, np.ones(grid.n, dtype=bool))])
        if not isinstance(inner, Vector):
            raise PromQLError("subquery is only allowed on instant vector or scalar expressions")
        b = inner.block(grid.n)
        raw = RawBlock.of_labels([dict(lb) for lb in b.labels], times, b.v.T.copy(), b.ok.T.copy())
        return Matrix(raw, rng, ends)

    def _vector(self, v: Value, where: str) -> Vector:
        if not isinstance(v, Vector):
            raise PromQLError(f"{where} expects an instant vector")
        return v

    def _scalar(self, v: Value, where: str) -> FloatArray:
        if not isinstance(v, Scalar):
            raise PromQLError(f"{where} expects a scalar")
        return v.v

    def _call(self, node: pp.Call) -> Value:
        name = node.func.name
        args = list(node.args)
        if name in RANGE_FUNCTIONS:
            m = self.eval(args[0])
            if not isinstance(m, Matrix):
                raise unsupported(f"{name}() over a subquery")
            return apply_range_function(name, m)
        if name == "quantile_over_time":
            q = self._scalar(self.eval(args[0]), name)
            m = self.eval(args[1])
            if not isinstance(m, Matrix):
                raise unsupported(f"{name}() over a subquery")
            return quantile_over_time(q, m)
        if name in ELEMENTWISE:
            return ELEMENTWISE[name](self._vector(self.eval(args[0]), f"{name}()"))
        if name == "time":
            return Scalar(self.grid.times + self.grid.epoch)
        if name == "vector":
            s = self._scalar(self.eval(args[0]), "vector()")
            return Vector([StepSeries({}, s.copy(), np.ones(self.grid.n, dtype=bool))])
        if name == "scalar":
            return self._to_scalar(self._vector(self.eval(args[0]), "scalar()"))
        if name in ("clamp_min", "clamp_max", "clamp"):
            return self._clamp(name, args)
        if name == "round":
            return self._round(args)
        if name == "histogram_quantile":
            q = self._scalar(self.eval(args[0]), "histogram_quantile()")
            return histogram_quantile(q, self._vector(self.eval(args[1]), "histogram_quantile()"))
        if name == "timestamp":
            return self._timestamp(self._vector(self.eval(args[0]), "timestamp()"))
        if name == "absent":
            return self._absent(args[0])
        raise unsupported(f"function {name}()")

    def _to_scalar(self, vec: Vector) -> Scalar:
        out = np.full(self.grid.n, math.nan)
        if vec.series:
            ok = np.stack([s.ok for s in vec.series])
            v = np.stack([s.v for s in vec.series])
            single = ok.sum(axis=0) == 1
            picked = np.where(ok, v, 0.0).sum(axis=0)
            out = np.where(single, picked, math.nan)
        return Scalar(out)

    def _clamp(self, name: str, args: list[Any]) -> Vector:
        vec = self._vector(self.eval(args[0]), f"{name}()")
        bounds = [self._scalar(self.eval(a), f"{name}()") for a in args[1:]]
        lo = bounds[0] if name in ("clamp_min", "clamp") else np.full(self.grid.n, -math.inf)
        hi = bounds[-1] if name in ("clamp_max", "clamp") else np.full(self.grid.n, math.inf)
        out = []
        for s in vec.series:
            ok = s.ok & ~(lo > hi)  # clamp() with min > max returns nothing, as in Prometheus
            out.append(StepSeries(drop_name(s.labels), np.maximum(lo, np.minimum(hi, s.v)), ok))
        return build_vector(out)

    def _round(self, args: list[Any]) -> Vector:
        vec = self._vector(self.eval(args[0]), "round()")
        to = self._scalar(self.eval(args[1]), "round()") if len(args) > 1 else np.ones(self.grid.n)
        with np.errstate(all="ignore"):
            return build_vector(
                StepSeries(drop_name(s.labels), _round_half_up(s.v / to) * to, s.ok)
                for s in vec.series
            )

    def _timestamp(self, vec: Vector) -> Vector:
        b = vec.block(self.grid.n)
        if b.ts is None:  # some series are computed: their timestamp is the evaluation time
            out = []
            for s in vec.series:
                ts = s.ts if s.ts is not None else self.grid.times
                out.append(StepSeries(drop_name(s.labels), ts + self.grid.epoch, s.ok))
            return build_vector(out)
        labels, unique = drop_names(b.labels)
        return vector_of_block(Block(labels, b.ts + self.grid.epoch, b.ok), unique=unique)

    def _absent(self, arg: Any) -> Vector:
        vec = self._vector(self.eval(arg), "absent()")
        any_ok = np.zeros(self.grid.n, dtype=bool)
        for s in vec.series:
            any_ok |= s.ok
        labels: dict[str, str] = {}
        if isinstance(arg, pp.VectorSelector):
            for m in arg.matchers.matchers:
                if m.op == pp.MatchOp.Equal and m.name != "__name__":
                    labels[m.name] = m.value
        return Vector([StepSeries(labels, np.ones(self.grid.n), ~any_ok)])


def _seconds(d: Any) -> float:
    return float(d.total_seconds()) if d is not None else 0.0


def _grid(times: FloatArray, epoch: float, lookback: float) -> Grid:
    return Grid(times=np.asarray(times, dtype=np.float64), epoch=epoch, lookback=lookback)


def instant_query(
    store: SeriesSource, query: str, at: float, *, epoch: float = 0.0, lookback: float = 300.0
) -> QueryResult:
    """Evaluate `query` at sim time `at`, as `/api/v1/query` does."""
    expr = parse(query)
    grid = _grid(np.array([at]), epoch, lookback)
    value = Evaluator(store, grid).eval(expr)
    t = np.array([at])
    if isinstance(value, Scalar):
        return QueryResult("scalar", [ResultSeries({}, t, value.v)])
    if isinstance(value, String):
        return QueryResult("string", [ResultSeries({}, t, np.array([math.nan]))], value.s)
    if isinstance(value, Matrix):
        out = []
        for raw in value.series:
            lo, hi = window_bounds(raw, value)
            if hi[0] > lo[0]:
                out.append(
                    ResultSeries(dict(raw.labels), raw.t[lo[0] : hi[0]], raw.v[lo[0] : hi[0]])
                )
        return QueryResult("matrix", _sorted(out))
    b = value.block(1)
    series = [
        ResultSeries(dict(labels), t, b.v[k, :1]) for k, labels in enumerate(b.labels) if b.ok[k, 0]
    ]
    return QueryResult("vector", _sorted(series))


def range_query(
    store: SeriesSource,
    query: str,
    start: float,
    end: float,
    step: float,
    *,
    epoch: float = 0.0,
    lookback: float = 300.0,
    max_points: int = MAX_POINTS,
) -> QueryResult:
    """Evaluate `query` at start, start+step, … ≤ end (sim seconds), as `/api/v1/query_range`."""
    if not step > 0:
        raise PromQLError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    if end < start:
        raise PromQLError("end timestamp must not be before start time")
    if (end - start) / step > max_points:
        raise PromQLError(
            f"exceeded maximum resolution of {max_points:,} points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    expr = parse(query)
    n = math.floor((end - start) / step + 1e-9) + 1
    times = start + step * np.arange(n, dtype=np.float64)
    value = Evaluator(store, _grid(times, epoch, lookback)).eval(expr)
    if isinstance(value, Scalar):
        return QueryResult("matrix", [ResultSeries({}, times, value.v)])
    if not isinstance(value, Vector):
        kind = "range vector" if isinstance(value, Matrix) else "string"
        raise PromQLError(
            f'invalid expression type "{kind}" for range query, must be Scalar or instant Vector'
        )
    series = [
        ResultSeries(dict(s.labels), times[s.ok], s.v[s.ok]) for s in value.series if s.ok.any()
    ]
    return QueryResult("matrix", _sorted(series))


def _sorted(series: list[ResultSeries]) -> list[ResultSeries]:
    return sorted(series, key=lambda s: label_key(s.labels))


def series_matching(
    store: SeriesSource, selector: str, *, start: float | None = None, end: float | None = None
) -> list[dict[str, str]]:
    """Label sets (with `__name__`) a `match[]` selector picks, for `/api/v1/series` & co.

    With `start`/`end` (sim seconds), only series with a sample in that interval.
    """
    expr = parse(selector)
    if not isinstance(expr, pp.VectorSelector):
        raise PromQLError(f"invalid match[] selector {selector!r}: must be a series selector")
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    out: list[dict[str, str]] = []
    for raw in select_raw(store, expr):
        if raw.t.size and ((raw.t >= lo) & (raw.t <= hi)).any():
            out.append(dict(raw.labels))
    return out


__all__ = [
    "MAX_POINTS",
    "PromQLError",
    "QueryResult",
    "ResultSeries",
    "instant_query",
    "parse",
    "range_query",
    "series_matching",
]
