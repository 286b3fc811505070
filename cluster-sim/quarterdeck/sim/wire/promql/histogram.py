"""`histogram_quantile` over classic `le` buckets, as Prometheus 2.x computes it.

Buckets of one histogram are the series that share every label but `le` (and the metric name).
Per step: sort by upper bound, merge equal bounds, force counts monotonic, find the bucket
holding rank = φ × total, and interpolate linearly inside it (the lowest bucket starts at 0;
a rank in the +Inf bucket answers the highest finite bound).
"""

from __future__ import annotations

import math

import numpy as np

from quarterdeck.sim.wire.promql.values import (
    FloatArray,
    LabelKey,
    StepSeries,
    Vector,
    build_vector,
    drop_name,
    label_key,
)


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


def _upper_bound(text: str) -> float | None:
    try:
        return float(text)  # accepts "+Inf", "Inf", "1e-3"
    except ValueError:
        return None


def histogram_quantile(q: FloatArray, vec: Vector) -> Vector:
    groups: dict[LabelKey, tuple[dict[str, str], list[tuple[float, StepSeries]]]] = {}
    for s in vec.series:
        bound = _upper_bound(s.labels.get("le", ""))
        if bound is None:
            continue  # Prometheus ignores series without a parseable `le`
        labels = {k: v for k, v in drop_name(s.labels).items() if k != "le"}
        groups.setdefault(label_key(labels), (labels, []))[1].append((bound, s))
    out: list[StepSeries] = []
    n = q.shape[0]
    for labels, members in groups.values():
        v = np.zeros(n)
        ok = np.zeros(n, dtype=bool)
        for i in range(n):
            present = [(b, float(s.v[i])) for b, s in members if s.ok[i]]
            if present:
                v[i] = bucket_quantile(float(q[i]), present)
                ok[i] = True
        out.append(StepSeries(labels, v, ok))
    return build_vector(out)
