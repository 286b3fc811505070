"""Fixtures for the metrics area: a tiny fixed series store, a fake simulator around it, and
the helper that decides whether a real Prometheus binary is there (skip locally, fail in CI)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
import uvicorn


@dataclass(frozen=True)
class FixedSeries:
    labels: dict[str, str]
    t: np.ndarray
    v: np.ndarray


@dataclass
class FixedStore:
    """Implements the read side of the simulator's SeriesStore (names, select)."""

    data: dict[str, list[FixedSeries]] = field(default_factory=dict)

    def add(self, name: str, labels: dict[str, str], t, v) -> None:
        self.data.setdefault(name, []).append(
            FixedSeries(labels, np.asarray(t, dtype=float), np.asarray(v, dtype=float))
        )

    def names(self) -> list[str]:
        return sorted(self.data)

    def select(self, name: str, matchers=()) -> list[FixedSeries]:
        return list(self.data.get(name, []))


@dataclass
class FixedSim:
    series: FixedStore
    now: float
    epoch: float = 1_700_000_000.0
    lock: threading.RLock = field(default_factory=threading.RLock)


T = np.arange(0.0, 121.0, 10.0)  # 13 samples, every 10 s, t = 0..120


def make_store() -> FixedStore:
    """Numbers chosen so every expected value in the tests can be worked out by hand."""
    s = FixedStore()
    # 3 requests/s served, 1/s failing with a counter reset at t = 70 (a restarted pod)
    s.add("http_requests_total", {"job": "api", "code": "200"}, T, 3 * T)
    s.add("http_requests_total", {"job": "api", "code": "500"}, T, np.where(T < 70, T, T - 70))
    s.add("http_requests_total", {"job": "web", "code": "200"}, T, 2 * T)
    # a series that appears at t = 100, already at 50 (and one at 500)
    late = T[T >= 100]
    s.add("late_total", {"start": "low"}, late, 5 * (late - 100) + 50)
    s.add("late_total", {"start": "high"}, late, 5 * (late - 100) + 500)
    # histogram: per second, 2 observations <= 0.1, 5 <= 0.25, 8 <= 0.5, 9 <= 1, 10 in all
    for le, per_s in (("0.1", 2), ("0.25", 5), ("0.5", 8), ("1", 9), ("+Inf", 10)):
        s.add("latency_seconds_bucket", {"job": "api", "le": le}, T, per_s * T)
        s.add("latency_seconds_bucket", {"job": "web", "le": le}, T, 2 * per_s * T)
    # a gauge
    s.add("queue_depth", {"job": "api"}, T, [4, 8, 6, 2, 10, 5, 7, 3, 9, 1, 6, 4, 8])
    s.add("replicas", {"job": "api"}, T, np.full(T.shape, 3.0))
    s.add("replicas", {"job": "web"}, T, np.full(T.shape, 5.0))
    # an info metric, to join labels onto others with group_left
    s.add("service_info", {"job": "api", "team": "search"}, T, np.ones(T.shape))
    s.add("service_info", {"job": "web", "team": "frontend"}, T, np.ones(T.shape))
    return s


@pytest.fixture
def store() -> FixedStore:
    return make_store()


@pytest.fixture
def fixed_sim() -> FixedSim:
    return FixedSim(series=make_store(), now=120.0)


@contextlib.contextmanager
def serve_app(app) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1, a free port, in a thread; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted sockets inherit it: without, keep-alive requests wait ~40 ms on delayed ACKs
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the test server died while starting"
            assert time.monotonic() < deadline, "the test server did not start in 10 s"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


SCENARIO = """
version: 1
name: metrics-contract
description: Two services; a slow, failing canary on one of them at 5m.
seed: 11
duration: 2h
cluster:
  node_pools:
    - {name: cpu, count: 4, cpu: 16, memory_gib: 64}
services:
  - name: ranker
    namespace: ml
    replicas: 4
    min_replicas: 1
    max_replicas: 10
    pod: {cpu: 2, memory_gib: 4, startup: 30s}
    capacity_rps: 40
    base_latency_ms: 40
    slo: {p95_latency_ms: 150, error_ratio: 0.01}
    versions:
      - {name: v1}
      - {name: v2, latency_factor: 2.5, error_ratio: 0.1}
    current_version: v1
    load: {base_rps: 100, noise: 0.05}
  - name: fraud-detector
    namespace: risk
    replicas: 2
    min_replicas: 1
    max_replicas: 10
    pod: {cpu: 2, memory_gib: 4, startup: 30s}
    capacity_rps: 40
    base_latency_ms: 30
    slo: {p95_latency_ms: 100, error_ratio: 0.01}
    versions: [{name: v1}]
    current_version: v1
    load: {base_rps: 50, noise: 0.05}
events:
  - {at: 5m, type: deploy, service: ranker, version: v2, canary_weight: 20}
"""


def make_sim(tmp_path_factory: pytest.TempPathFactory, advance: float = 900.0):
    from quarterdeck.sim.engine import Simulator
    from quarterdeck.sim.scenario import load_scenario

    path = tmp_path_factory.mktemp("scenario") / "metrics-contract.yaml"
    path.write_text(SCENARIO)
    sim = Simulator(load_scenario(path))
    sim.advance(advance)
    return sim


class SimClock:
    """The simulator's clock for adapters that talk to it over HTTP."""

    def __init__(self, sim) -> None:
        self.sim = sim

    def now(self) -> float:
        return float(self.sim.now)
