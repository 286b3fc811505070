"""Aggregation operators: `sum`, `avg`, `max`, `min`, `count`, `group`, `stddev`, `stdvar`,
and with a parameter `topk`, `bottomk`, `quantile`."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable

import numpy as np
import promql_parser as pp
from numpy.typing import NDArray

from quarterdeck.sim.wire.promql.errors import unsupported
from quarterdeck.sim.wire.promql.memo import IdentityMemo
from quarterdeck.sim.wire.promql.values import (
    METRIC_NAME,
    Block,
    BoolArray,
    FloatArray,
    LabelKey,
    StepSeries,
    Vector,
    label_key,
)

IntArray = NDArray[np.intp]


def _sum(v: FloatArray, ok: BoolArray, g: IntArray, n_groups: int) -> FloatArray:
    out = np.zeros((n_groups, v.shape[1]))
    np.add.at(out, g, np.where(ok, v, 0.0))  # in member order, as Prometheus adds them up
    return out


def _count(v: FloatArray, ok: BoolArray, g: IntArray, n_groups: int) -> FloatArray:
    out = np.zeros((n_groups, v.shape[1]))
    np.add.at(out, g, ok.astype(np.float64))
    return out


def _avg(v: FloatArray, ok: BoolArray, g: IntArray, n_groups: int) -> FloatArray:
    return _sum(v, ok, g, n_groups) / np.maximum(_count(v, ok, g, n_groups), 1.0)


def _stdvar(v: FloatArray, ok: BoolArray, g: IntArray, n_groups: int) -> FloatArray:
    mean = _avg(v, ok, g, n_groups)
    sq = _sum((v - mean[g]) ** 2, ok, g, n_groups)
    return sq / np.maximum(_count(v, ok, g, n_groups), 1.0)


def _extreme(ufunc: np.ufunc) -> Reducer:
    def reduce(v: FloatArray, ok: BoolArray, g: IntArray, n_groups: int) -> FloatArray:
        # NaN loses to any number, as in Prometheus; absent entries are NaN here and ignored too.
        out = np.full((n_groups, v.shape[1]), np.nan)
        ufunc.at(out, g, np.where(ok, v, np.nan))
        return out

    return reduce


# (values, presence [members, steps], group of each member, number of groups) -> [groups, steps]
Reducer = Callable[[FloatArray, BoolArray, IntArray, int], FloatArray]

REDUCERS: dict[str, Reducer] = {
    "sum": _sum,
    "count": _count,
    "avg": _avg,
    "max": _extreme(np.fmax),
    "min": _extreme(np.fmin),
    "group": lambda v, ok, g, n: np.ones((n, v.shape[1])),
    "stdvar": _stdvar,
    "stddev": lambda v, ok, g, n: np.sqrt(_stdvar(v, ok, g, n)),
}


def _grouper(modifier: pp.AggModifier | None) -> Callable[[dict[str, str]], dict[str, str]]:
    """A row's labels -> its group's labels (`by`: the listed non-empty ones; `without`: all
    but the listed ones and the name)."""
    if modifier is None:
        return lambda labels: {}
    names = set(modifier.labels)  # read once: the parser builds the list on every access
    if modifier.type == pp.AggModifierType.By:
        return lambda labels: {k: v for k, v in labels.items() if k in names and v != ""}
    return lambda labels: {k: v for k, v in labels.items() if k not in names and k != METRIC_NAME}


Groups = tuple[IntArray, list[dict[str, str]]]
_GROUPS: IdentityMemo[Groups] = IdentityMemo()


def group_rows(rows: list[dict[str, str]], modifier: pp.AggModifier | None) -> Groups:
    """The group of each row (numbered in order of first appearance) and each group's labels
    (remembered per list of label sets: neither may be changed)."""
    key = None if modifier is None else (str(modifier.type), tuple(modifier.labels))
    return _GROUPS.get(rows, key, lambda: _group_rows(rows, modifier))


def _group_rows(rows: list[dict[str, str]], modifier: pp.AggModifier | None) -> Groups:
    group_labels = _grouper(modifier)
    keys: list[Hashable]
    if modifier is None:
        keys = [()] * len(rows)
    elif modifier.type == pp.AggModifierType.By:
        names = list(dict.fromkeys(modifier.labels))  # a missing label is the same as ""
        keys = [tuple([lb.get(k, "") for k in names]) for lb in rows]
    else:
        keys = [label_key(group_labels(lb)) for lb in rows]
    index: dict[Hashable, int] = {}
    labels: list[dict[str, str]] = []
    g = np.empty(len(rows), dtype=np.intp)
    for k, key in enumerate(keys):
        i = index.get(key)
        if i is None:
            i = index[key] = len(labels)
            labels.append(group_labels(rows[k]))
        g[k] = i
    g.setflags(write=False)
    return g, labels


def aggregate(op: str, vec: Vector, modifier: pp.AggModifier | None, steps: int) -> Vector:
    reducer = REDUCERS.get(op)
    if reducer is None:
        raise unsupported(f"aggregation {op!r}")
    b = vec.block(steps)
    if not b.labels:
        return Vector()
    g, labels = group_rows(b.labels, modifier)
    with np.errstate(all="ignore"):
        value = np.asarray(reducer(b.v, b.ok, g, len(labels)), dtype=np.float64)
    present = np.zeros((len(labels), b.ok.shape[1]), dtype=bool)
    np.logical_or.at(present, g, b.ok)
    return Vector(block=Block(labels, value, present))


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
    group_labels = _grouper(modifier)
    groups: dict[LabelKey, tuple[dict[str, str], list[StepSeries]]] = {}
    for s in sorted(vec.series, key=lambda s: label_key(s.labels)):
        labels = group_labels(s.labels)
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
