"""Forks are independent; runs are reproducible; block grouping does not change results."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from quarterdeck.core.models import ScaleAction, Target
from quarterdeck.sim.controllers import make
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.runner import run
from tests.sim.conftest import scenario, sim

API = Target(namespace="ml", service="api")
EVENTS = [
    {
        "at": "5m",
        "type": "load_spike",
        "service": "api",
        "factor": 2.5,
        "ramp": "1m",
        "duration": "10m",
    },
    {"at": "20m", "type": "deploy", "service": "api", "version": "v2"},
    {"at": "30m", "type": "pod_crash", "service": "api", "count": 1},
]
NOISY = {"load": {"base_rps": 40, "noise": 0.08}}


def test_advancing_a_fork_leaves_the_original_byte_identical():
    s = sim(svc=NOISY, events=EVENTS)
    s.advance(600)
    before = pickle.dumps(s)
    f = s.fork()
    f.apply(API, ScaleAction(replicas=6))
    f.advance(1800)
    assert pickle.dumps(s) == before
    assert f.now == 2400
    assert s.now == 600
    assert f.service("ml", "api").spec_replicas == 6
    assert s.service("ml", "api").spec_replicas == 2
    assert len(f.series.times()) > len(s.series.times())


def test_a_fork_continues_the_same_random_stream():
    s = sim(svc=NOISY, events=EVENTS)
    s.advance(600)
    f = s.fork()
    s.advance(900)
    f.advance(900)
    assert s.window("ml", "api", 300) == f.window("ml", "api", 300)
    assert pickle.dumps(s.metrics.summary()) == pickle.dumps(f.metrics.summary())


def test_results_do_not_depend_on_how_time_is_advanced():
    a = sim(svc=NOISY, events=EVENTS)
    b = sim(svc=NOISY, events=EVENTS)
    a.advance(3600)
    while not b.done:
        b.advance(7)
    ma, mb = a.metrics.summary(), b.metrics.summary()
    # sums over differently sized blocks differ only by float rounding
    assert ma.slo_violation_minutes == mb.slo_violation_minutes
    assert ma.time_to_mitigate_s == mb.time_to_mitigate_s
    assert ma.replica_hours == mb.replica_hours
    assert ma.failed_requests == pytest.approx(mb.failed_requests, rel=1e-12)
    assert ma.total_requests == pytest.approx(mb.total_requests, rel=1e-12)
    for name in a.series.names():
        sa, sb = a.series.select(name), b.series.select(name)
        assert [x.labels for x in sa] == [x.labels for x in sb]
        for x, y in zip(sa, sb, strict=True):
            assert np.array_equal(x.t, y.t)
            assert np.allclose(x.v, y.v, rtol=1e-12, atol=1e-9)


def _json(seed: int | None) -> dict:
    d = run(scenario(svc=NOISY, events=EVENTS), make("none"), seed=seed).to_json_dict()
    d.pop("wall_seconds")
    return d


def test_same_seed_same_json_bytes_and_another_seed_differs():
    a, b = json.dumps(_json(3)), json.dumps(_json(3))
    assert a == b
    c = json.dumps(_json(4))
    assert c != a
    assert json.loads(a)["seed"] == 3


def test_seed_override_and_default():
    assert Simulator(scenario()).seed == 1
    assert Simulator(scenario(), seed=9).seed == 9
