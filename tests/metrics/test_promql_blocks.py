"""The evaluator's whole-block kernels equal its series-by-series rules.

Range functions over a block of many series (counter resets, gaps, series that start late or
stop early, windows with 0, 1 or 2 samples) against `rangefuncs.RANGE_FUNCTIONS` applied to each
series alone; `histogram_quantile` over many histograms and steps against `bucket_quantile` per
histogram and step (absent buckets, duplicate bounds, falling and NaN counts, bounds <= 0,
no +Inf bucket, q outside [0, 1]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from quarterdeck.sim.wire.promql.buckets import Layout, bucket_quantile, group_quantiles
from quarterdeck.sim.wire.promql.rangeblock import BLOCK_FUNCTIONS, apply_block_function
from quarterdeck.sim.wire.promql.rangefuncs import RANGE_FUNCTIONS
from quarterdeck.sim.wire.promql.values import Matrix, RawBlock


def _counters(rng: np.random.Generator, rows: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Counters sampled every 5 s with jitter-free gaps, resets and late/early series."""
    v = np.cumsum(rng.uniform(0, 10, size=(rows, width)), axis=0)
    for k in range(width):
        if k % 3 == 0:  # a reset (restarted pod) somewhere
            at = int(rng.integers(1, rows))
            v[at:, k] -= v[at - 1, k] + rng.uniform(0, 1)
            v[at:, k] = np.abs(v[at:, k])
    ok = rng.random((rows, width)) > 0.25  # missing samples: gaps of one or more rows
    ok[: rows // 3, 1] = False  # starts late
    ok[rows // 2 :, 2] = False  # stops early
    ok[:, 4] = False  # never present
    ok[::, 5] = np.arange(rows) % 7 == 0  # sparse: windows with 0, 1 or 2 samples
    v = np.where(ok, v, np.nan)  # absent samples read NaN, as in the SeriesStore
    return v, ok


ENDS = {
    "range": np.arange(-20.0, 5.0 * 80 + 40.0, 3.5),  # before, across and after the samples
    "instant": np.array([201.0]),  # one step (sliced windows)
    "instant-late": np.array([500.0]),  # one step after every sample
}


@pytest.mark.parametrize("name", sorted(BLOCK_FUNCTIONS))
@pytest.mark.parametrize("window", [12.0, 30.0, 60.0])
@pytest.mark.parametrize("ends", sorted(ENDS))
@pytest.mark.parametrize("shape", ["gaps", "dense", "dense-no-reset"])
def test_block_range_functions_equal_per_series(name, window, ends, shape):
    rng = np.random.default_rng(7)
    rows, width = 80, 12
    t = 5.0 * np.arange(rows) + 1.0
    v, ok = _counters(rng, rows, width)
    if shape != "gaps":  # every series sampled at every row (the simulator's usual case)
        v = np.cumsum(rng.uniform(0, 10, size=(rows, width)), axis=0)
        if shape == "dense":
            v[40:, 3] -= v[39, 3]  # one reset
        ok = np.ones(v.shape, dtype=bool)
    labels = [{"k": str(k)} for k in range(width)]
    block = RawBlock.of_labels([{"__name__": "x", **lb} for lb in labels], t, v, ok)
    m = Matrix(block, window, ENDS[ends])
    got_v, got_ok = apply_block_function(name, m)
    for k, raw in enumerate(m.series):
        want_v, want_ok = RANGE_FUNCTIONS[name](raw, m)
        np.testing.assert_array_equal(got_ok[k], want_ok, err_msg=f"{name} presence, series {k}")
        # same operations in the same order: equal to the bit where present
        np.testing.assert_array_equal(
            got_v[k][want_ok], np.asarray(want_v)[want_ok], err_msg=f"{name} series {k}"
        )


def test_rate_with_reset_and_gap_over_many_series_equals_each_alone():
    t = np.arange(0.0, 125.0, 5.0)
    base = 3.0 * t
    reset = np.where(t < 60, 2.0 * t, 2.0 * (t - 60) + 10.0)  # restarted just before t = 60
    v = np.stack([base, reset, base + 7.0], axis=1)
    ok = np.ones(v.shape, dtype=bool)
    ok[10:14, 2] = False  # a 20 s gap in the third
    v[~ok] = np.nan
    block = RawBlock.of_labels([{"s": "a"}, {"s": "b"}, {"s": "c"}], t, v, ok)
    m = Matrix(block, 60.0, np.array([60.0, 62.5, 90.0, 120.0]))
    got_v, got_ok = apply_block_function("rate", m)
    assert got_ok.all()
    assert got_v[0] == pytest.approx(3.0)
    assert got_v[1] == pytest.approx(2.0)  # the reset is corrected, not a negative rate
    for k, raw in enumerate(m.series):
        want, _ = RANGE_FUNCTIONS["rate"](raw, m)
        np.testing.assert_array_equal(got_v[k], want)


@dataclass(frozen=True)
class Hist:
    """Bucket series of many histograms: per member its histogram, bound, values, presence."""

    group: np.ndarray
    bound: np.ndarray
    v: np.ndarray
    ok: np.ndarray
    n_groups: int

    def quantiles(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return group_quantiles(q, Layout.of(self.group, self.bound, self.n_groups), self.v, self.ok)


def _reference(q: np.ndarray, b: Hist) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros((b.n_groups, q.size))
    present = np.zeros(out.shape, dtype=bool)
    for g in range(b.n_groups):
        members = np.flatnonzero(b.group == g)
        for i in range(q.size):
            have = [(float(b.bound[m]), float(b.v[m, i])) for m in members if b.ok[m, i]]
            if have:
                out[g, i] = bucket_quantile(float(q[i]), have)
                present[g, i] = True
    return out, present


def _histograms(rng: np.random.Generator, steps: int, *, duplicates: bool) -> Hist:
    bounds = [-1.0, 0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, math.inf]
    group, bound, rows = [], [], []
    for g in range(40):
        mine = list(bounds) if g % 5 else bounds[:-1]  # every 5th has no +Inf bucket
        if duplicates and g % 4 == 1:
            mine.append(0.5)  # a duplicate bound (le="0.5" and le="0.50")
        if g % 7 == 3:
            mine = [0.0, math.inf]  # lowest bucket at 0
        rng.shuffle(mine)  # members arrive in any order
        for b in mine:
            group.append(g)
            bound.append(b)
            cum = np.clip(b if math.isfinite(b) else 3.0, 0.0, None) * 10.0
            rows.append(cum + rng.uniform(-2, 2, steps))  # noisy: counts may fall
    v = np.array(rows)
    v[rng.random(v.shape) < 0.02] = np.nan  # a NaN count here and there
    v[np.array(group) == 7] = 0.0  # no observations at all
    ok = rng.random(v.shape) > 0.15  # buckets missing at some steps
    ok[np.array(group) == 9] = False  # a histogram absent throughout
    return Hist(np.array(group), np.array(bound), v, ok, 40)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("duplicates", [True, False], ids=["equal-bounds", "distinct-bounds"])
def test_group_quantiles_equal_bucket_quantile(seed, duplicates):
    rng = np.random.default_rng(seed)
    steps = 30
    b = _histograms(rng, steps, duplicates=duplicates)
    q = rng.choice([0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 1.0, -0.5, 1.5, math.nan], size=steps)
    got, got_ok = b.quantiles(q)
    want, want_ok = _reference(q, b)
    np.testing.assert_array_equal(got_ok, want_ok)
    np.testing.assert_allclose(got[want_ok], want[want_ok], rtol=1e-12, atol=0, equal_nan=True)


def test_group_quantiles_with_nan_bound_fall_back_to_the_scalar_rule():
    q = np.array([0.5, 0.9])
    v = np.array([[1.0, 1.0], [4.0, 8.0], [10.0, 10.0], [10.0, 10.0]])
    b = Hist(
        np.array([0, 0, 0, 1]),
        np.array([0.1, math.nan, math.inf, math.inf]),
        v,
        np.ones(v.shape, dtype=bool),
        2,
    )
    got, ok = b.quantiles(q)
    want, want_ok = _reference(q, b)
    np.testing.assert_array_equal(ok, want_ok)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
