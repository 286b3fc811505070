"""Queueing latency, overload, and the offered-load curve (diurnal × spikes × noise)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.latency import LE, histogram_quantile
from tests.sim.conftest import scenario, sim


def _p95_at(load: float) -> float:
    s = sim(svc={"load": {"base_rps": load}})  # 2 replicas × 40 rps = 80 rps of capacity
    s.advance(120)
    p95 = s.window("ml", "api", 60).p95_ms
    assert p95 is not None
    return p95


def test_p95_rises_with_load_and_steeply_near_capacity():
    loads = [10, 30, 50, 65, 72, 78]
    p95 = [_p95_at(x) for x in loads]
    assert all(b > a for a, b in itertools.pairwise(p95)), p95
    assert p95[-1] > 5 * p95[0]
    # the last 8 % of utilisation costs more than the first 60 %
    assert p95[-1] - p95[-3] > p95[2] - p95[0]


def test_low_load_latency_is_about_the_service_time():
    s = sim(svc={"load": {"base_rps": 2}})
    s.advance(300)
    w = s.window("ml", "api", 60)
    assert w.p95_ms is not None
    assert 30 <= w.p95_ms <= 60
    assert w.error_ratio == 0.0


def test_load_above_capacity_fails_with_503():
    s = sim(svc={"load": {"base_rps": 120}})
    s.advance(300)
    w = s.window("ml", "api", 60)
    assert w.request_rate == pytest.approx(120, rel=1e-6)
    assert w.served_rate == pytest.approx(80, rel=1e-6)
    assert w.error_ratio == pytest.approx(40 / 120, rel=1e-6)
    last = {
        x.labels["code"]: x.v[-1]
        for x in s.series.select("qd_requests_total", [("service", "=", "api")])
    }
    assert last["503"] == pytest.approx(40 * 300, rel=1e-6)
    assert last["500"] == 0.0
    sample = s.sample("ml", "api")
    assert sample.dropped_rps == pytest.approx(40)
    assert sample.utilisation == pytest.approx(1.5)


def test_histogram_quantile_matches_on_known_buckets():
    # 100 observations: 50 below 10 ms, 50 between 10 and 15 ms → p95 at 90 % of that bucket
    cum = np.zeros(len(LE) + 1)
    i10 = int(np.flatnonzero(LE == 0.01)[0])
    cum[i10:] = 50
    cum[i10 + 1 :] = 100
    assert histogram_quantile(0.95, cum) == pytest.approx(0.01 + 0.005 * 0.9)
    assert np.isnan(histogram_quantile(0.95, np.zeros(len(LE) + 1)))


def _offered(s: Simulator) -> tuple[np.ndarray, np.ndarray]:
    [series] = s.series.select("qd_offered_load_rps", [("service", "=", "api")])
    return series.t, series.v


def test_diurnal_peaks_at_phase():
    s = sim(
        duration="2h",
        svc={
            "load": {"base_rps": 40, "diurnal": {"amplitude": 0.5, "period": "1h", "phase": "20m"}}
        },
    )
    s.advance(7200)
    t, v = _offered(s)
    # a sample at t holds the load of the tick that started at t - 1
    peak_t = t[1:][np.argmax(v[1 : 3600 // 5])] - 1
    assert abs(peak_t - 1200) <= 5
    assert v.max() == pytest.approx(60, rel=1e-3)
    assert v[1:].min() == pytest.approx(20, rel=1e-3)


def test_spikes_ramp_hold_and_multiply():
    spike = {"type": "load_spike", "service": "api", "ramp": "1m"}
    s = sim(
        svc={"replicas": 10},
        events=[
            {**spike, "at": "10m", "factor": 2.0, "duration": "20m"},
            {**spike, "at": "15m", "factor": 3.0, "duration": "5m"},
        ],
    )
    s.advance(3600)
    t, v = _offered(s)
    load = dict(zip(t - 1, v, strict=True))  # tick start → rps
    assert load[594] == pytest.approx(40)
    assert load[629] == pytest.approx(40 * (1 + 29 / 60))  # linear up the first ramp
    assert load[699] == pytest.approx(80)
    assert load[999] == pytest.approx(40 * 2 * 3)  # both spikes hold: they multiply
    assert load[1889] == pytest.approx(40 * (1 + 31 / 60))  # the first one falls back
    assert load[1924] == pytest.approx(40)  # both over (first ends at 10m + 1m + 20m + 1m)


def test_noise_is_seeded_and_has_the_configured_spread():
    noisy = {"load": {"base_rps": 40, "noise": 0.1}, "replicas": 10}
    a, b, c = (Simulator(scenario(svc=noisy), seed=x) for x in (1, 1, 2))
    for s in (a, b, c):
        s.advance(3600)
    va, vb, vc = (_offered(s)[1][1:] for s in (a, b, c))
    assert np.array_equal(va, vb)
    assert not np.array_equal(va, vc)
    assert np.std(va / 40 - 1) == pytest.approx(0.1, rel=0.15)
    assert np.mean(va) == pytest.approx(40, rel=0.02)


def test_noise_is_floored_at_zero():
    s = sim(svc={"load": {"base_rps": 40, "noise": 3.0}})
    s.advance(600)
    v = _offered(s)[1]
    assert v.min() == 0.0
    assert (v >= 0).all()


def test_load_forecast_is_the_noise_free_future():
    spike = {"at": "10m", "type": "load_spike", "service": "api", "factor": 2.0, "ramp": "1m",
             "duration": "5m"}  # fmt: skip
    diurnal = {"amplitude": 0.3, "period": "1h", "phase": "5m"}
    s = sim(svc={"replicas": 6, "load": {"base_rps": 40, "diurnal": diurnal}}, events=[spike])
    t, rps = s.load_forecast("ml", "api", 0, 3600)
    assert len(t) == 3600
    assert t[0] == 0.0
    s.advance(3600)
    st, sv = _offered(s)
    assert np.allclose(rps[(st[1:] - 1).astype(int)], sv[1:], rtol=1e-12)
