"""Range functions over every series of a matrix at once.

A `RawBlock` holds the samples of all selected series on shared times with a presence mask, so
a series' window at each step is the same rows for all series; what differs per series is which
of those rows hold its samples. Per row and series we precompute the last sample at or before
it and the first at or after it, and running sums, and read every window off those: its first
and last sample, its sample count, its sum. The arithmetic per (step, series) is then exactly
what `rangefuncs` does for one series (the same operations in the same order).

Results are [steps, series]; the caller processes wide blocks in column slices to bound memory,
and never passes a block without rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from quarterdeck.sim.wire.promql.selectors import first_present, last_present
from quarterdeck.sim.wire.promql.values import BoolArray, FloatArray, Matrix, RawBlock

IntArray = NDArray[np.intp]


@dataclass
class Windows:
    """The windows of every step over a block: rows [lo, hi) per step, shared by all series."""

    block: RawBlock
    ends: FloatArray  # [steps]
    range: float

    @cached_property
    def lo(self) -> IntArray:
        return np.searchsorted(self.block.t, self.ends - self.range, side="left")

    @cached_property
    def hi(self) -> IntArray:
        return np.searchsorted(self.block.t, self.ends, side="right")

    @cached_property
    def dense(self) -> bool:
        """Whether every series has a sample at every row (the usual case in the simulator)."""
        return bool(self.block.ok.all())

    @cached_property
    def single(self) -> bool:
        """One step (an instant query): its window's rows can simply be sliced."""
        return self.ends.size == 1

    @cached_property
    def count(self) -> IntArray:
        """[steps, series] samples inside each window."""
        if self.single:
            lo, hi = int(self.lo[0]), int(self.hi[0])
            return np.asarray(self.block.ok[lo:hi].sum(axis=0)[None, :], dtype=np.intp)
        cum = np.zeros((self.block.t.size + 1, self.block.width), dtype=np.intp)
        np.cumsum(self.block.ok, axis=0, out=cum[1:])
        return np.asarray(cum[self.hi] - cum[self.lo], dtype=np.intp)

    def _clip(self, rows: IntArray) -> IntArray:
        return np.minimum(np.maximum(rows, 0), self.block.t.size - 1)  # np.clip is slower

    @cached_property
    def last_present(self) -> IntArray:
        """[rows, series] the last row at or before each row holding the series' sample (-1)."""
        return last_present(self.block.ok)

    @cached_property
    def first(self) -> IntArray:
        """[steps, series] row of the first sample in the window (valid where count > 0)."""
        if self.dense:
            return np.broadcast_to(self._clip(self.lo)[:, None], self.count.shape)
        if self.single and self.hi[0] > self.lo[0]:
            lo, hi = int(self.lo[0]), int(self.hi[0])
            return np.asarray(lo + self.block.ok[lo:hi].argmax(axis=0)[None, :], dtype=np.intp)
        return self._clip(first_present(self.block.ok)[self._clip(self.lo)])

    @cached_property
    def last(self) -> IntArray:
        """[steps, series] row of the last sample in the window (valid where count > 0)."""
        if self.dense:
            return np.broadcast_to(self._clip(self.hi - 1)[:, None], self.count.shape)
        if self.single and self.hi[0] > self.lo[0]:
            lo, hi = int(self.lo[0]), int(self.hi[0])
            back = self.block.ok[lo:hi][::-1].argmax(axis=0)
            return np.asarray((hi - 1 - back)[None, :], dtype=np.intp)
        return self._clip(self.last_present[self._clip(self.hi - 1)])

    @cached_property
    def _cols(self) -> IntArray:
        return np.arange(self.block.width, dtype=np.intp)[None, :]

    def pick(self, a: np.ndarray, rows: IntArray) -> np.ndarray:
        """a[rows[step, k], k]: per step and series, the entry of `a` [rows, series] at a row."""
        return np.asarray(a[rows, self._cols])

    def values(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.pick(self.block.v, rows), dtype=np.float64)

    def times(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.block.t[rows], dtype=np.float64)

    def running(self, per_row: FloatArray) -> FloatArray:
        """[steps, series] sum of `per_row` (zero where absent) over each window's rows."""
        cum = np.zeros((self.block.t.size + 1, self.block.width))
        np.cumsum(np.where(self.block.ok, per_row, 0.0), axis=0, out=cum[1:])
        return np.asarray(cum[self.hi] - cum[self.lo], dtype=np.float64)


BlockFn = Callable[[Windows], tuple[FloatArray, BoolArray]]


def _reset_correction(w: Windows) -> FloatArray | None:
    """[rows, series] what counter resets up to each row took away: Σ of the previous sample's
    value over samples lower than their previous sample (as `rangefuncs`, per series); None if
    no counter was reset."""
    b = w.block
    if b.t.size < 2:
        return None
    if w.dense:
        prev_v = b.v[:-1]
        drops = b.v[1:] < prev_v
    else:
        prev = w.last_present[:-1]  # [rows-1, series] last sample before row r (r >= 1)
        prev_v = w.pick(b.v, np.maximum(prev, 0))
        drops = b.ok[1:] & (prev >= 0) & (b.v[1:] < prev_v)
    if not drops.any():
        return None
    lost = np.zeros(b.v.shape)
    lost[1:] = np.where(drops, prev_v, 0.0)
    return np.asarray(np.cumsum(lost, axis=0), dtype=np.float64)


def extrapolate(
    result: FloatArray,
    *,
    first_v: FloatArray,
    first_t: FloatArray,
    last_t: FloatArray,
    n: np.ndarray,
    ok: np.ndarray,
    ends: FloatArray,
    range_s: float,
    counter: bool,
    rate: bool,
) -> tuple[FloatArray, np.ndarray]:
    """Prometheus' extrapolation of a window's first-to-last change to the window's edges
    (`extrapolatedRate`), elementwise: every series' steps at once here, one series' steps in
    `rangefuncs` (the reference the block path is tested against). `result` is last − first
    (plus counter-reset corrections), `n` the samples in each window, `ends` the window ends
    (broadcast against the rest)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        to_start = first_t - (ends - range_s)
        to_end = ends - last_t
        sampled = last_t - first_t
        avg_gap = sampled / np.maximum(n - 1, 1)
        if counter:
            # A counter can't have been below zero: don't extrapolate past the time it was 0.
            to_zero = sampled * (first_v / result)
            use_zero = (result > 0) & (first_v >= 0) & (to_zero < to_start)
            to_start = np.where(use_zero, to_zero, to_start)
        threshold = avg_gap * 1.1
        interval = (
            sampled
            + np.where(to_start < threshold, to_start, avg_gap / 2)
            + np.where(to_end < threshold, to_end, avg_gap / 2)
        )
        result = result * (interval / sampled)
        if rate:
            result = result / range_s
    ok = ok & (sampled > 0)
    return np.where(ok, result, 0.0), ok


def extrapolated(w: Windows, *, counter: bool, rate: bool) -> tuple[FloatArray, BoolArray]:
    n = w.count
    ok = n >= 2
    first, last = w.first, w.last
    first_v, last_v = w.values(first), w.values(last)
    first_t, last_t = w.times(first), w.times(last)
    result = last_v - first_v
    if counter:
        corr = _reset_correction(w)
        if corr is None:
            result = result + 0.0 - 0.0  # what adding no correction does, to the bit
        else:
            result = result + w.pick(corr, last) - w.pick(corr, first)
    return extrapolate(
        result, first_v=first_v, first_t=first_t, last_t=last_t, n=n, ok=ok,
        ends=w.ends[:, None], range_s=w.range, counter=counter, rate=rate,
    )  # fmt: skip


def instant_rate(w: Windows, *, rate: bool) -> tuple[FloatArray, BoolArray]:
    ok = w.count >= 2
    last = w.last
    if w.block.t.size < 2:
        return np.zeros(last.shape), ok & False
    # the sample before the window's last one (inside the window wherever ok)
    prev = np.maximum(w.pick(w.last_present, np.maximum(last - 1, 0)), 0)
    lv, pv = w.values(last), w.values(prev)
    if rate:
        diff = np.where(lv < pv, lv, lv - pv)  # a reset: the counter restarted from zero
        with np.errstate(divide="ignore", invalid="ignore"):
            out = diff / (w.times(last) - w.times(prev))
    else:
        out = lv - pv
    return np.where(ok, out, 0.0), ok


def _sum_ot(w: Windows) -> tuple[FloatArray, BoolArray]:
    return w.running(w.block.v), w.count > 0


def _count_ot(w: Windows) -> tuple[FloatArray, BoolArray]:
    return w.count.astype(np.float64), w.count > 0


def _avg_ot(w: Windows) -> tuple[FloatArray, BoolArray]:
    s, n = w.running(w.block.v), w.count
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), 0.0), n > 0


def _last_ot(w: Windows) -> tuple[FloatArray, BoolArray]:
    return w.values(w.last), w.count > 0


def _present_ot(w: Windows) -> tuple[FloatArray, BoolArray]:
    return np.ones(w.count.shape), w.count > 0


BLOCK_FUNCTIONS: dict[str, BlockFn] = {
    "rate": lambda w: extrapolated(w, counter=True, rate=True),
    "increase": lambda w: extrapolated(w, counter=True, rate=False),
    "delta": lambda w: extrapolated(w, counter=False, rate=False),
    "irate": lambda w: instant_rate(w, rate=True),
    "idelta": lambda w: instant_rate(w, rate=False),
    "sum_over_time": _sum_ot,
    "count_over_time": _count_ot,
    "avg_over_time": _avg_ot,
    "last_over_time": _last_ot,
    "present_over_time": _present_ot,
}

CELLS_PER_SLICE = 262_144  # bounds the [rows or steps, series] temporaries of one slice


def apply_block_function(name: str, m: Matrix) -> tuple[FloatArray, BoolArray]:
    """[series, steps] values and presence of a `BLOCK_FUNCTIONS` function over a matrix."""
    fn = BLOCK_FUNCTIONS[name]
    b = m.block
    if b.t.size == 0:  # no samples in any window
        return np.zeros((b.width, m.ends.size)), np.zeros((b.width, m.ends.size), dtype=bool)
    per = max(1, CELLS_PER_SLICE // max(b.t.size, m.ends.size, 1))
    out_v = np.empty((b.width, m.ends.size))
    out_ok = np.empty((b.width, m.ends.size), dtype=bool)
    for start in range(0, b.width, per):
        cols = slice(start, start + per)
        v, ok = fn(Windows(b.columns(cols), m.ends, m.range))
        out_v[cols] = v.T
        out_ok[cols] = ok.T
    return out_v, out_ok
