"""Functions over range vectors: rate/irate/increase/delta and the `*_over_time` family.

`rate`, `increase` and `delta` follow Prometheus 2.x's `extrapolatedRate`: counter resets are
corrected, and the increase seen between the first and last sample in the window is
extrapolated towards the window's edges — all the way if a sample lies within 1.1 average
sample intervals of the edge, else by half an interval, and for counters never below zero.

`RANGE_FUNCTIONS` states each function for one series. The common ones also have a whole-block
form in `rangeblock` (the same arithmetic for every series at once), which `apply_range_function`
uses; tests hold the two to the same answers, bit for bit. The rest run series by series.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from quarterdeck.sim.wire.promql.rangeblock import (
    BLOCK_FUNCTIONS,
    apply_block_function,
    extrapolate,
)
from quarterdeck.sim.wire.promql.selectors import window_bounds
from quarterdeck.sim.wire.promql.values import (
    Block,
    FloatArray,
    Matrix,
    RawSeries,
    StepSeries,
    Vector,
    build_vector,
    drop_name,
    vector_of_block,
)

RangeFn = Callable[[RawSeries, Matrix], tuple[FloatArray, np.ndarray]]


def _reset_correction(v: FloatArray) -> FloatArray:
    """corr[k] = what counter resets up to sample k took away (Σ v[j-1] where v[j] < v[j-1])."""
    lost = np.zeros_like(v)
    if v.size > 1:
        drops = v[1:] < v[:-1]
        lost[1:] = np.where(drops, v[:-1], 0.0)
    return np.cumsum(lost)


def _extrapolated(
    raw: RawSeries, m: Matrix, *, counter: bool, rate: bool
) -> tuple[FloatArray, np.ndarray]:
    lo, hi = window_bounds(raw, m)
    n = hi - lo
    ok = n >= 2
    if raw.t.size == 0:
        return np.zeros(m.ends.shape), ok
    first = np.clip(lo, 0, raw.t.size - 1)
    last = np.clip(hi - 1, 0, raw.t.size - 1)
    first_v, last_v = raw.v[first], raw.v[last]
    first_t, last_t = raw.t[first], raw.t[last]
    result = last_v - first_v
    if counter:
        corr = _reset_correction(raw.v)
        result = result + corr[last] - corr[first]
    return extrapolate(
        result,
        first_v=first_v,
        first_t=first_t,
        last_t=last_t,
        n=n,
        ok=ok,
        ends=m.ends,
        range_s=m.range,
        counter=counter,
        rate=rate,
    )


def _instant_rate(raw: RawSeries, m: Matrix, *, rate: bool) -> tuple[FloatArray, np.ndarray]:
    lo, hi = window_bounds(raw, m)
    ok = (hi - lo) >= 2
    if raw.t.size < 2:
        return np.zeros(m.ends.shape), ok & False
    last = np.clip(hi - 1, 1, raw.t.size - 1)
    prev = last - 1
    lv, pv = raw.v[last], raw.v[prev]
    if rate:
        diff = np.where(lv < pv, lv, lv - pv)  # a reset: the counter restarted from zero
        with np.errstate(divide="ignore", invalid="ignore"):
            out = diff / (raw.t[last] - raw.t[prev])
    else:
        out = lv - pv
    return np.where(ok, out, 0.0), ok


def _window_sums(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    lo, hi = window_bounds(raw, m)
    csum = np.concatenate(([0.0], np.cumsum(raw.v)))
    return csum[hi] - csum[lo], lo, hi


def _sum_ot(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray]:
    s, lo, hi = _window_sums(raw, m)
    return s, hi > lo


def _count_ot(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray]:
    lo, hi = window_bounds(raw, m)
    return (hi - lo).astype(np.float64), hi > lo


def _avg_ot(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray]:
    s, lo, hi = _window_sums(raw, m)
    n = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), 0.0), n > 0


def _last_ot(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray]:
    lo, hi = window_bounds(raw, m)
    if raw.t.size == 0:
        return np.zeros(m.ends.shape), hi > lo
    return raw.v[np.clip(hi - 1, 0, raw.t.size - 1)], hi > lo


def _present_ot(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray]:
    lo, hi = window_bounds(raw, m)
    return np.ones(m.ends.shape), hi > lo


def _reduce_ot(reduce: Callable[[FloatArray], float]) -> RangeFn:
    def fn(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray]:
        lo, hi = window_bounds(raw, m)
        out = np.zeros(m.ends.shape)
        for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
            if b > a:
                out[i] = reduce(raw.v[a:b])
        return out, hi > lo

    return fn


def _max(w: FloatArray) -> float:
    # Prometheus's max_over_time lets any number replace NaN; fmax does the same.
    return float(np.fmax.reduce(w))


def _min(w: FloatArray) -> float:
    return float(np.fmin.reduce(w))


def _stdvar(w: FloatArray) -> float:
    return float(np.mean((w - np.mean(w)) ** 2))  # population variance, as Prometheus


def _count_where(flags: Callable[[FloatArray], np.ndarray]) -> RangeFn:
    """Per window, how many consecutive sample pairs inside it have `flags` set."""

    def fn(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray]:
        lo, hi = window_bounds(raw, m)
        # cum[k] = flagged pairs (j-1, j) with j <= k; the window [lo, hi) holds j in lo+1..hi-1
        cum: FloatArray = np.concatenate(([0.0], np.cumsum(flags(raw.v))))
        top = cum.size - 1
        n = np.where(hi > lo, cum[np.clip(hi - 1, 0, top)] - cum[np.clip(lo, 0, top)], 0.0)
        return n, hi > lo

    return fn


def _changed(v: FloatArray) -> np.ndarray:
    # a change is a differing pair; NaN -> NaN is not a change
    same = (v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))
    return np.asarray(~same, dtype=bool)


def _dropped(v: FloatArray) -> np.ndarray:
    return np.asarray(v[1:] < v[:-1], dtype=bool)


def _deriv(raw: RawSeries, m: Matrix) -> tuple[FloatArray, np.ndarray]:
    """Least-squares slope per second over the window (x measured from its first sample)."""
    lo, hi = window_bounds(raw, m)
    out = np.zeros(m.ends.shape)
    for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        if b - a >= 2:
            x = raw.t[a:b] - raw.t[a]
            y = raw.v[a:b]
            n = float(b - a)
            cov = float(np.sum(x * y) - np.sum(x) * np.sum(y) / n)
            var = float(np.sum(x * x) - np.sum(x) ** 2 / n)
            out[i] = cov / var if var else math.nan
    return out, (hi - lo) >= 2


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "rate": lambda r, m: _extrapolated(r, m, counter=True, rate=True),
    "increase": lambda r, m: _extrapolated(r, m, counter=True, rate=False),
    "delta": lambda r, m: _extrapolated(r, m, counter=False, rate=False),
    "irate": lambda r, m: _instant_rate(r, m, rate=True),
    "idelta": lambda r, m: _instant_rate(r, m, rate=False),
    "sum_over_time": _sum_ot,
    "count_over_time": _count_ot,
    "avg_over_time": _avg_ot,
    "last_over_time": _last_ot,
    "present_over_time": _present_ot,
    "max_over_time": _reduce_ot(_max),
    "min_over_time": _reduce_ot(_min),
    "stdvar_over_time": _reduce_ot(_stdvar),
    "stddev_over_time": _reduce_ot(lambda w: math.sqrt(_stdvar(w))),
    "changes": _count_where(_changed),
    "resets": _count_where(_dropped),
    "deriv": _deriv,
}


def quantile_over_time(q: FloatArray, m: Matrix) -> Vector:
    from quarterdeck.sim.wire.promql.aggregate import quantile_of

    out: list[StepSeries] = []
    for raw in m.series:
        lo, hi = window_bounds(raw, m)
        v = np.zeros(m.ends.shape)
        for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
            if b > a:
                v[i] = quantile_of(float(q[i]), raw.v[a:b])
        out.append(StepSeries(drop_name(raw.labels), v, hi > lo))
    return build_vector(out)


def apply_range_function(name: str, m: Matrix) -> Vector:
    # Every range function but last_over_time changes what the value means: drop the name.
    keep_name = name == "last_over_time"
    labels = m.block.labels if keep_name else m.block.bare
    if name in BLOCK_FUNCTIONS:
        v, ok = apply_block_function(name, m)
    elif m.block.width:
        rows = [RANGE_FUNCTIONS[name](raw, m) for raw in m.series]
        v = np.stack([np.asarray(r[0], dtype=np.float64) for r in rows])
        ok = np.stack([np.asarray(r[1], dtype=bool) for r in rows])
    else:
        v, ok = np.empty((0, m.ends.size)), np.zeros((0, m.ends.size), dtype=bool)
    unique = keep_name or m.block.bare_unique()
    return vector_of_block(Block(labels, v, ok), unique=unique)
