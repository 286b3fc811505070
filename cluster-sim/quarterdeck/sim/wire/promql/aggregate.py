"""Aggregation operators: `sum`, `avg`, `max`, `min`, `count`, `group`, `stddev`, `stdvar`,
and with a parameter `topk`, `bottomk`, `quantile`."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import promql_parser as pp

from quarterdeck.sim.wire.promql.errors import unsupported
from quarterdeck.sim.wire.promql.values import (
    METRIC_NAME,
    FloatArray,
    LabelKey,
    StepSeries,
    Vector,
    label_key,
)

# (values where present else NaN, presence) stacked per group -> aggregated values per step
Reducer = Callable[[FloatArray, np.ndarray], FloatArray]


def _sum(v: FloatArray, ok: np.ndarray) -> FloatArray:
    return np.asarray(np.where(ok, v, 0.0).sum(axis=0), dtype=np.float64)


def _count(v: FloatArray, ok: np.ndarray) -> FloatArray:
    return np.asarray(ok.sum(axis=0), dtype=np.float64)


def _avg(v: FloatArray, ok: np.ndarray) -> FloatArray:
    return _sum(v, ok) / np.maximum(_count(v, ok), 1.0)


def _stdvar(v: FloatArray, ok: np.ndarray) -> FloatArray:
    mean = _avg(v, ok)
    sq = np.where(ok, (v - mean) ** 2, 0.0).sum(axis=0)
    return np.asarray(sq / np.maximum(_count(v, ok), 1.0), dtype=np.float64)


def _max(v: FloatArray, ok: np.ndarray) -> FloatArray:
    # NaN loses to any number, as in Prometheus; absent entries are NaN here and ignored too.
    return np.asarray(np.fmax.reduce(np.where(ok, v, np.nan), axis=0), dtype=np.float64)


def _min(v: FloatArray, ok: np.ndarray) -> FloatArray:
    return np.asarray(np.fmin.reduce(np.where(ok, v, np.nan), axis=0), dtype=np.float64)


REDUCERS: dict[str, Reducer] = {
    "sum": _sum,
    "count": _count,
    "avg": _avg,
    "max": _max,
    "min": _min,
    "group": lambda v, ok: np.ones(v.shape[1]),
    "stdvar": _stdvar,
    "stddev": lambda v, ok: np.sqrt(_stdvar(v, ok)),
}


def _group_labels(labels: dict[str, str], modifier: pp.AggModifier | None) -> dict[str, str]:
    if modifier is None:
        return {}
    names = set(modifier.labels)
    if modifier.type == pp.AggModifierType.By:
        return {k: v for k, v in labels.items() if k in names and v != ""}
    return {k: v for k, v in labels.items() if k not in names and k != METRIC_NAME}


def aggregate(op: str, vec: Vector, modifier: pp.AggModifier | None) -> Vector:
    reducer = REDUCERS.get(op)
    if reducer is None:
        raise unsupported(f"aggregation {op!r}")
    groups: dict[LabelKey, tuple[dict[str, str], list[StepSeries]]] = {}
    for s in vec.series:
        labels = _group_labels(s.labels, modifier)
        groups.setdefault(label_key(labels), (labels, []))[1].append(s)
    out: list[StepSeries] = []
    for labels, members in groups.values():
        v = np.stack([m.v for m in members])
        ok = np.stack([m.ok for m in members])
        with np.errstate(all="ignore"):
            value = reducer(v, ok)
        present = np.asarray(ok.any(axis=0), dtype=bool)
        out.append(StepSeries(labels, np.asarray(value, dtype=np.float64), present))
    return Vector(out)


def quantile_of(q: float, values: FloatArray) -> float:
    """Prometheus's `quantile`: linear interpolation between closest ranks; NaN sorts first."""
    if values.size == 0:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    nans = np.isnan(values)
    ordered = np.concatenate([values[nans], np.sort(values[~nans])])
    rank = q * (ordered.size - 1)
    lower = max(0, math.floor(rank))
    upper = min(ordered.size - 1, lower + 1)
    weight = rank - math.floor(rank)
    return float(ordered[lower] * (1 - weight) + ordered[upper] * weight)


def aggregate_with_param(
    op: str, param: FloatArray, vec: Vector, modifier: pp.AggModifier | None
) -> Vector:
    """`topk`, `bottomk` (members keep their own labels) and `quantile` (one per group)."""
    if op not in ("topk", "bottomk", "quantile"):
        raise unsupported(f"aggregation {op!r}")
    groups: dict[LabelKey, tuple[dict[str, str], list[StepSeries]]] = {}
    for s in sorted(vec.series, key=lambda s: label_key(s.labels)):
        labels = _group_labels(s.labels, modifier)
        groups.setdefault(label_key(labels), (labels, []))[1].append(s)
    out: list[StepSeries] = []
    for labels, members in groups.values():
        v = np.stack([m.v for m in members])
        ok = np.stack([m.ok for m in members])
        if op == "quantile":
            value = np.array(
                [quantile_of(float(param[i]), v[ok[:, i], i]) for i in range(v.shape[1])]
            )
            out.append(StepSeries(labels, value, np.asarray(ok.any(axis=0), dtype=bool)))
            continue
        keep = _top(v, ok, param, largest=op == "topk")
        out.extend(StepSeries(m.labels, m.v, keep[j], m.ts) for j, m in enumerate(members))
    return Vector(out)


def _top(v: FloatArray, ok: np.ndarray, k: FloatArray, *, largest: bool) -> np.ndarray:
    """Per step, which members are among the k largest (smallest); NaN ranks last, ties go to
    the member seen first (members come sorted by labels)."""
    nan = np.isnan(v)
    category = np.where(~ok, 2, np.where(nan, 1, 0))
    key = np.where(ok & ~nan, -v if largest else v, 0.0)
    index = np.broadcast_to(np.arange(v.shape[0])[:, None], v.shape)
    order = np.lexsort((index, key, category), axis=0)
    rank = np.argsort(order, axis=0)
    limit = np.trunc(np.nan_to_num(k, nan=0.0))  # Go's int64(k)
    return ok & (rank < limit[None, :])
