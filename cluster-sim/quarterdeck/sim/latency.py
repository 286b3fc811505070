"""The queueing latency model and the fixed histogram buckets, vectorised with numpy.

Each (service, version) is a pool of `C = ready × capacity_rps × service_time` servers (an
M/M/c-style queue whose concurrency per replica is capacity_rps × service time). A request's
response time is

    R = 0.8·S + J + W

where S is the service time, J ~ Exp(mean 0.2·S) is the natural jitter (so the mean at low load is
S), and W is the queueing wait: with probability P_wait it is Exp(rate c·μ − λ), else 0. P_wait uses
Sakasegawa's approximation ρ^(√(2(C+1)) − 1), which works for a non-integer C and makes p95 climb
steeply as utilisation ρ nears 1. Load above capacity is not queued: it fails with 503 (the caller
splits it off before calling here), and ρ of the served part is capped at `RHO_MAX`.

The CDF is closed-form, so per-tick histograms are exact expectations and the p95 that
`histogram_quantile` computes from the Prometheus buckets equals the in-process one.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

# Upper bounds in seconds. The SLO thresholds used in scenarios (50, 75, 100, 120, 125, 150, 200 ms,
# 4 s) are bucket bounds, so comparing an interpolated p95 with them is exact at the boundary.
LE: F64 = np.array(
    [
        *(0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1),
        *(0.12, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0),
        *(4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0),
    ]
)
N_BUCKETS = len(LE) + 1  # + the +Inf bucket


def le_label(i: int) -> str:
    """The `le` label of bucket `i` as Prometheus writes it ("0.005", "1", "+Inf")."""
    if i >= len(LE):
        return "+Inf"
    return format(float(LE[i]), "g")


RHO_MAX = 0.99
MIN_FRACTION = 0.8  # share of the service time every request needs; the rest is jitter


def wait_parameters(served: F64, capacity: F64, servers: F64) -> tuple[F64, F64]:
    """P(wait) and the rate (1/s) of the exponential wait, for served load ≤ capacity."""
    safe_cap = np.where(capacity > 0, capacity, 1.0)
    rho = np.clip(served / safe_cap, 0.0, RHO_MAX)
    p_wait = rho ** (np.sqrt(2.0 * (servers + 1.0)) - 1.0)
    rate = safe_cap * (1.0 - rho)
    return p_wait, rate


def bucket_counts(service_s: F64, p_wait: F64, rate: F64, served: F64) -> F64:
    """served × P(R ≤ le) for every finite bucket: shape (k, L, len(LE)).

    `service_s` is per lane (L,); `p_wait`, `rate` and `served` per tick and lane (k, L). With
    a = exp(−αx), b = exp(−βx) and x = le − 0.8·S, the mixture CDF simplifies to
    1 − a − c·(a − b) with c = P_wait·α/(β − α): one exp per element, the rest per lane.
    """
    alpha = 1.0 / ((1.0 - MIN_FRACTION) * service_s)  # (L,)
    x = np.maximum(LE - MIN_FRACTION * service_s[:, None], 0.0)  # (L, B)
    e_a = np.exp(-alpha[:, None] * x)  # (L, B), fixed for the block
    # The hypo-exponential formula divides by (beta - alpha): keep them apart.
    beta = np.where(np.abs(rate - alpha) < 1e-6 * alpha, alpha * (1.0 + 1e-6), rate)
    c = p_wait * alpha / (beta - alpha)  # (k, L)
    out: F64 = beta[:, :, None] * x  # (k, L, B)
    np.negative(out, out=out)
    np.exp(out, out=out)  # b
    np.subtract(e_a, out, out=out)  # a − b
    out *= c[:, :, None]
    np.subtract(1.0 - e_a, out, out=out)
    np.clip(out, 0.0, 1.0, out=out)
    out *= served[:, :, None]
    return out


def bucket_cdf(service_s: F64, p_wait: F64, rate: F64) -> F64:
    """P(R ≤ le) for every finite bucket, for one lane per row: shape (k, L, len(LE))."""
    return bucket_counts(service_s, p_wait, rate, np.ones_like(p_wait))


def mean_response(service_s: F64, p_wait: F64, rate: F64) -> F64:
    """E[R] in seconds."""
    out: F64 = service_s + p_wait / np.where(rate > 0, rate, np.inf)
    return out


def histogram_quantile(q: float, cumulative: F64) -> F64:
    """Prometheus' histogram_quantile over cumulative bucket counts (last axis, +Inf last).

    Linear interpolation inside the bucket holding the rank; the +Inf bucket answers the highest
    finite bound; NaN where there are no observations. Result in seconds.
    """
    cum = np.asarray(cumulative, dtype=np.float64)
    total = cum[..., -1]
    rank = q * total
    idx = np.argmax(cum >= rank[..., None] - 1e-12 * np.maximum(total, 1.0)[..., None], axis=-1)
    finite = idx < len(LE)
    i_fin = np.minimum(idx, len(LE) - 1)
    upper = LE[i_fin]
    lower = np.where(idx > 0, LE[np.maximum(i_fin - 1, 0)], 0.0)
    flat = cum.reshape(-1, cum.shape[-1])
    rows = np.arange(flat.shape[0])
    at = flat[rows, idx.reshape(-1)].reshape(idx.shape)
    below = np.where(
        idx > 0, flat[rows, np.maximum(idx - 1, 0).reshape(-1)].reshape(idx.shape), 0.0
    )
    span = at - below
    frac = np.where(span > 0, (rank - below) / np.where(span > 0, span, 1.0), 1.0)
    value = lower + (upper - lower) * np.clip(frac, 0.0, 1.0)
    value = np.where(finite, value, LE[-1])
    out: F64 = np.where(total > 0, value, np.nan)
    return out


_LE_LIST: list[float] = LE.tolist()


def quantile_1d(q: float, cumulative: F64) -> float:
    """`histogram_quantile` for one histogram, in plain Python: the same numbers, ~10× faster
    than the vectorised form on a single row (reads call it on every request)."""
    c: list[float] = np.asarray(cumulative, dtype=np.float64).tolist()
    total = c[-1]
    if not total > 0:
        return math.nan
    rank = q * total
    idx = bisect.bisect_left(c, rank - 1e-12 * max(total, 1.0))
    if idx >= len(_LE_LIST):
        return _LE_LIST[-1]
    upper = _LE_LIST[idx]
    lower = _LE_LIST[idx - 1] if idx > 0 else 0.0
    below = c[idx - 1] if idx > 0 else 0.0
    span = c[idx] - below
    frac = (rank - below) / span if span > 0 else 1.0
    return lower + (upper - lower) * min(max(frac, 0.0), 1.0)
