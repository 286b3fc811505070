"""Aggregation operators `sum`, `avg`, `max`, `min`, `count`, `group`, `stddev`, `stdvar`."""

from __future__ import annotations

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
