"""`histogram_quantile`'s bucket rule: `bucket_quantile` for one histogram at one step, and
`group_quantiles` for many histograms and steps at once.

Buckets are laid out as [histogram, slot, step]: each histogram's distinct upper bounds sorted
into slots (series with an equal bound summed into one slot), with a presence mask, since which
buckets exist can differ from step to step. "The previous bucket" is the previous *present*
slot, "the last bucket" the last present one; everything else is the scalar rule, with the same
floating-point operations in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quarterdeck.sim.wire.promql.values import BoolArray, FloatArray

IntArray = NDArray[np.intp]


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's bucketQuantile over (upper bound, cumulative count) pairs."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets)
    if not buckets or not math.isinf(buckets[-1][0]):
        return math.nan
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -math.inf
    for b in merged:  # counts of a cumulative histogram can't fall; scrape skew can make them
        if b[1] > highest:
            highest = b[1]
        elif b[1] < highest:
            b[1] = highest
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    idx = next((i for i in range(len(merged) - 1) if merged[i][1] >= rank), len(merged) - 1)
    if idx == len(merged) - 1:
        return merged[-2][0]
    if idx == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[idx][0], merged[idx][1]
    if idx > 0:
        start = merged[idx - 1][0]
        count -= merged[idx - 1][1]
        rank -= merged[idx - 1][1]
    return start + (end - start) * (rank / count)


CELLS_PER_SLICE = 2_000_000  # bounds the [histograms, slots, steps] arrays of one slice


@dataclass(frozen=True)
class Layout:
    """Where each bucket series goes: its histogram and slot. Members sorted by (histogram,
    bound) as `order`; `g`/`pos` are the sorted members' histogram and slot; `bounds` [histogram,
    slot] the slots' upper bounds. Depends only on the label sets, so it is worked out once."""

    group: IntArray  # per member (unsorted)
    n_groups: int
    order: IntArray
    g: IntArray
    pos: IntArray
    width: int
    bounds: FloatArray
    shared: bool  # some slot holds several members (equal bounds): they are summed
    weird: IntArray  # histograms with a NaN bound: they don't sort, the scalar rule does them
    bound: FloatArray  # per member (unsorted), for the scalar rule

    @classmethod
    def of(cls, group: IntArray, bound: FloatArray, n_groups: int) -> Layout:
        order = np.lexsort((bound, group))
        g, bd = group[order], bound[order]
        new_slot = np.ones(order.size, dtype=bool)
        new_slot[1:] = (g[1:] != g[:-1]) | (bd[1:] != bd[:-1])
        slot_id = np.cumsum(new_slot) - 1
        first_slot = np.zeros(n_groups, dtype=np.intp)
        starts = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]])[: g.size])
        first_slot[g[starts]] = slot_id[starts]  # the lowest slot of each histogram
        pos = slot_id - first_slot[g]
        width = int(pos.max()) + 1 if pos.size else 1
        bounds = np.full((n_groups, width), math.inf)
        bounds[g, pos] = bd
        weird = np.unique(group[np.isnan(bound)])
        shared = not bool(new_slot.all())
        return cls(group, n_groups, order, g, pos, width, bounds, shared, weird, bound)


def group_quantiles(
    q: FloatArray, layout: Layout, v: FloatArray, ok: BoolArray
) -> tuple[FloatArray, BoolArray]:
    """Per histogram and step, the φ-quantile (`q` per step) of the bucket series `v`/`ok`
    [member, step] laid out by `layout`, and whether the histogram has any bucket then."""
    steps = q.shape[0]
    lay = layout
    out = np.zeros((lay.n_groups, steps))
    present = np.zeros((lay.n_groups, steps), dtype=bool)
    np.logical_or.at(present, lay.group, ok)
    counts = np.zeros((lay.n_groups, lay.width, steps))
    have = np.zeros((lay.n_groups, lay.width, steps), dtype=bool)
    sorted_ok = ok[lay.order]
    values = np.where(sorted_ok, v[lay.order], 0.0)
    if lay.shared:
        np.add.at(counts, (lay.g, lay.pos), values)
        np.logical_or.at(have, (lay.g, lay.pos), sorted_ok)
    else:  # one member per slot: place them (+ 0.0 as adding to zeros does to a -0.0)
        counts[lay.g, lay.pos] = values + 0.0
        have[lay.g, lay.pos] = sorted_ok
    per = max(1, CELLS_PER_SLICE // (lay.width * steps))
    for lo in range(0, lay.n_groups, per):
        part = slice(lo, lo + per)
        out[part] = _quantiles(q, lay.bounds[part], counts[part], have[part])
    if lay.weird.size:
        _scalar_fallback(out, q, lay, v, ok)
    return out, present


def _quantiles(
    q: FloatArray, bounds: FloatArray, counts: FloatArray, have: BoolArray
) -> FloatArray:
    n_groups, width, steps = counts.shape
    slots = np.arange(width, dtype=np.intp)[None, :, None]
    # counts of a cumulative histogram can't fall; scrape skew can make them: carry the highest
    # count so far forward (a NaN count stays NaN and doesn't count as the highest)
    finite = have & ~np.isnan(counts)
    highest = np.maximum.accumulate(np.where(finite, counts, -math.inf), axis=1)
    fixed = np.where(np.isnan(counts), np.nan, highest)
    n_present = have.sum(axis=1)  # [groups, steps]
    last = width - 1 - np.argmax(have[:, ::-1, :], axis=1)  # last present slot
    # per slot, the present slot before it (-1: none)
    seen = np.maximum.accumulate(np.where(have, slots, -1), axis=1)
    before = np.concatenate([np.full((n_groups, 1, steps), -1), seen[:, :-1]], axis=1)

    hist = np.arange(n_groups, dtype=np.intp)[:, None]
    step = np.arange(steps, dtype=np.intp)[None, :]

    def at(a: np.ndarray, idx: IntArray) -> np.ndarray:
        return np.asarray(a[hist, np.maximum(idx, 0), step])

    b3 = np.broadcast_to(bounds[:, :, None], counts.shape)
    observations = at(fixed, last)
    with np.errstate(invalid="ignore"):
        rank = q[None, :] * observations
        hit = have & (slots < last[:, None, :]) & (fixed >= rank[:, None, :])
    found = hit.any(axis=1)
    idx = np.where(found, np.argmax(hit, axis=1), last)
    prev = at(before, idx)
    start = np.where(prev >= 0, at(b3, prev), 0.0)
    end = at(b3, idx)
    count = at(fixed, idx)
    below = at(fixed, prev)
    with np.errstate(divide="ignore", invalid="ignore"):
        count = np.where(prev >= 0, count - below, count)
        rank = np.where(prev >= 0, rank - below, rank)
        inside = start + (end - start) * (rank / count)
    qq = q[None, :]
    # the scalar rule's early returns, first one first: applied last to first here
    out = np.where((prev < 0) & (end <= 0), end, inside)  # the lowest bucket, bound <= 0
    out = np.where(found, out, at(b3, prev))  # the rank is in the last bucket: the bound below
    out = np.where((n_present < 2) | (observations == 0) | ~np.isinf(at(b3, last)), np.nan, out)
    out = np.where(qq > 1, math.inf, out)
    out = np.where(qq < 0, -math.inf, out)
    return np.asarray(np.where(np.isnan(qq), np.nan, out), dtype=np.float64)


def _scalar_fallback(
    out: FloatArray, q: FloatArray, lay: Layout, v: FloatArray, ok: BoolArray
) -> None:
    for g in lay.weird.tolist():
        members = np.flatnonzero(lay.group == g)
        for i in range(q.shape[0]):
            present = [(float(lay.bound[m]), float(v[m, i])) for m in members if ok[m, i]]
            out[g, i] = bucket_quantile(float(q[i]), present) if present else 0.0
