"""Per-tick request accounting for a block of ticks in which no pod, weight or slowdown changes.

Everything is vectorised over (ticks, lanes); a lane is one (service, version) pair. The result is
the per-tick increment of every counter the simulator keeps, in one array laid out by `COL_*`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quarterdeck.sim.latency import N_BUCKETS, bucket_counts, mean_response, wait_parameters

F64 = NDArray[np.float64]

# Columns of a counter row: offered, code 200, code 500, code 503, latency sum (s), then the
# cumulative histogram buckets of served requests (the last, +Inf, is the served count).
COL_OFFERED = 0
COL_OK = 1
COL_ERR = 2
COL_DROP = 3
COL_SUM = 4
COL_B0 = 5
N_COLS = COL_B0 + N_BUCKETS
COL_SERVED = N_COLS - 1


@dataclass
class LaneState:
    """What the lanes look like between two changes (recomputed by the engine when dirty)."""

    svc: NDArray[np.intp]  # service index of each lane
    cap_rps: F64  # requests/s one ready replica serves (capacity_rps × capacity_factor)
    service_s: F64  # service time at low load (base_latency × latency_factor), seconds
    error_ratio: F64
    ready: F64  # ready pods
    share: F64  # fraction of the service's traffic routed to the lane
    slowdown: F64  # per service


def block_increments(offered: F64, lanes: LaneState, tick: float) -> tuple[F64, F64]:
    """Counter increments per tick and lane: shape (k, L, N_COLS); and lane capacity (L,)."""
    slow = lanes.slowdown[lanes.svc]
    cap = lanes.ready * lanes.cap_rps / slow
    service_s = lanes.service_s * slow
    servers = cap * service_s
    rps = offered[:, lanes.svc] * lanes.share  # (k, L)
    served = np.minimum(rps, cap)
    p_wait, rate = wait_parameters(served, cap, servers)
    k, n_lanes = rps.shape
    out = np.empty((k, n_lanes, N_COLS))
    served_n = served * tick
    out[:, :, COL_OFFERED] = rps * tick
    out[:, :, COL_OK] = served_n * (1.0 - lanes.error_ratio)
    out[:, :, COL_ERR] = served_n * lanes.error_ratio
    out[:, :, COL_DROP] = (rps - served) * tick
    out[:, :, COL_SUM] = served_n * mean_response(service_s, p_wait, rate)
    out[:, :, COL_B0:COL_SERVED] = bucket_counts(service_s, p_wait, rate, served_n)
    out[:, :, COL_SERVED] = served_n
    return out, cap
