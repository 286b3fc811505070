"""Offered load, exactly as SCENARIOS.md defines it: base_rps × diurnal × spikes × noise.

Tick `i` covers [i·tick, (i+1)·tick) and its load is evaluated at its start. Noise is drawn from the
simulator's seeded numpy Generator in fixed chunks of rows (one value per service per tick), so the
values do not depend on how the engine groups ticks into blocks, and a fork continues the same
stream.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from quarterdeck.sim.scenario import LoadSpike, Scenario

F64 = NDArray[np.float64]
NOISE_CHUNK = 4096


def spike_multiplier(t: F64, at: float, ramp: float, hold: float, factor: float) -> F64:
    """1 → factor linearly over `ramp` from `at`, `factor` for `hold`, back to 1 over `ramp`."""
    up = np.clip((t - at) / ramp, 0.0, 1.0) if ramp > 0 else (t >= at).astype(np.float64)
    fall_start = at + ramp + hold
    if ramp > 0:
        down = np.clip((t - fall_start) / ramp, 0.0, 1.0)
    else:
        down = (t >= fall_start).astype(np.float64)
    shape = np.minimum(up, 1.0 - down)
    out: F64 = 1.0 + (factor - 1.0) * shape
    return out


class LoadModel:
    """Computes offered requests/s per service for blocks of ticks."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        svcs = scenario.services
        self.tick = scenario.tick
        self.n = len(svcs)
        self.base = np.array([s.load.base_rps for s in svcs], dtype=np.float64)
        self.noise = np.array([s.load.noise for s in svcs], dtype=np.float64)
        self.amp = np.array([s.load.diurnal.amplitude if s.load.diurnal else 0.0 for s in svcs])
        self.period = np.array([s.load.diurnal.period if s.load.diurnal else 1.0 for s in svcs])
        self.phase = np.array([s.load.diurnal.phase if s.load.diurnal else 0.0 for s in svcs])
        index = {s.key: i for i, s in enumerate(svcs)}
        # (service index, at, ramp, hold, factor), sorted by start for a cheap overlap test.
        self.spikes: list[tuple[int, float, float, float, float]] = sorted(
            (
                (index[scenario.find_service(e.service).key], e.at, e.ramp, e.duration, e.factor)
                for e in scenario.events
                if isinstance(e, LoadSpike)
            ),
            key=lambda x: x[1],
        )
        self.rng = rng
        self._chunk_start = 0
        self._chunk: F64 = rng.standard_normal((NOISE_CHUNK, self.n))

    def expected(self, t: F64, only: int | None = None) -> F64:
        """Noise-free load (rps) at times `t` (shape (K,)): shape (K, S), or (K, 1) with just
        service `only`."""
        tt = t[:, None]
        sel = slice(None) if only is None else slice(only, only + 1)
        phase, period = self.phase[sel], self.period[sel]
        diurnal = 1.0 + self.amp[sel] * np.cos(2.0 * np.pi * (tt - phase) / period)
        out: F64 = self.base[sel] * diurnal
        if self.spikes:
            t0, t1 = float(t[0]), float(t[-1])
            for svc, at, ramp, hold, factor in self.spikes:
                if at > t1:
                    break
                if at + 2 * ramp + hold < t0 or (only is not None and svc != only):
                    continue
                out[:, 0 if only is not None else svc] *= spike_multiplier(
                    t, at, ramp, hold, factor
                )
        return out

    def _noise_rows(self, i0: int, k: int) -> F64:
        rows: list[F64] = []
        i = i0
        while i < i0 + k:
            while i >= self._chunk_start + NOISE_CHUNK:
                self._chunk_start += NOISE_CHUNK
                self._chunk = self.rng.standard_normal((NOISE_CHUNK, self.n))
            lo = i - self._chunk_start
            hi = min(NOISE_CHUNK, lo + (i0 + k - i))
            rows.append(self._chunk[lo:hi])
            i += hi - lo
        return rows[0] if len(rows) == 1 else np.concatenate(rows, axis=0)

    def offered(self, i0: int, k: int) -> F64:
        """Offered rps for ticks i0 … i0+k−1: shape (k, S). Consumes noise in tick order."""
        t = (np.arange(i0, i0 + k, dtype=np.float64)) * self.tick
        z = self._noise_rows(i0, k)
        out: F64 = self.expected(t) * np.maximum(1.0 + self.noise * z, 0.0)
        return out
