"""`histogram_quantile` over classic `le` buckets, as Prometheus 2.x computes it.

Buckets of one histogram are the series that share every label but `le` (and the metric name).
Per step: sort by upper bound, merge equal bounds, force counts monotonic, find the bucket
holding rank = φ × total, and interpolate linearly inside it (the lowest bucket starts at 0;
a rank in the +Inf bucket answers the highest finite bound).

`buckets.bucket_quantile` is that rule for one histogram at one step; `buckets.group_quantiles`
applies it to every histogram at every step at once, along a `buckets.Layout` (which bucket
series goes where) worked out once per set of label sets.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from quarterdeck.sim.wire.promql.buckets import Layout, group_quantiles
from quarterdeck.sim.wire.promql.memo import IdentityMemo
from quarterdeck.sim.wire.promql.values import (
    METRIC_NAME,
    Block,
    FloatArray,
    Vector,
    vector_of_block,
)


def _upper_bound(text: str) -> float | None:
    try:
        return float(text)  # accepts "+Inf", "Inf", "1e-3"
    except ValueError:
        return None


def histogram_quantile(q: FloatArray, vec: Vector) -> Vector:
    b = vec.block(q.shape[0])
    rows, layout, labels = _HISTOGRAMS.get(b.labels, None, lambda: _histograms(b.labels))
    if not labels:
        return Vector()
    value, present = group_quantiles(q, layout, b.v[rows], b.ok[rows])
    return vector_of_block(Block(labels, value, present), unique=True)


Histograms = tuple[NDArray[np.intp], Layout, list[dict[str, str]]]
_HISTOGRAMS: IdentityMemo[Histograms] = IdentityMemo()


def _histograms(series: list[dict[str, str]]) -> Histograms:
    """(bucket rows, histogram of each, upper bound of each, labels of each histogram)."""
    groups: dict[frozenset[tuple[str, str]], int] = {}
    labels: list[dict[str, str]] = []
    rows: list[int] = []
    member_group: list[int] = []
    bounds: list[float] = []
    for k, lb in enumerate(series):
        bound = _upper_bound(lb.get("le", ""))
        if bound is None:
            continue  # Prometheus ignores series without a parseable `le`
        rest = dict(lb)
        del rest["le"]
        rest.pop(METRIC_NAME, None)
        key = frozenset(rest.items())
        g = groups.get(key)
        if g is None:
            g = groups[key] = len(labels)
            labels.append(rest)  # the histogram's labels: all but `le` and the name
        rows.append(k)
        member_group.append(g)
        bounds.append(bound)
    group = np.array(member_group, dtype=np.intp)
    layout = Layout.of(group, np.array(bounds, dtype=np.float64), len(labels))
    return np.array(rows, dtype=np.intp), layout, labels
