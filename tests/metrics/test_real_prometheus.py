"""A real Prometheus server scrapes the simulator's `/metrics`; the Prometheus adapter queries it.

The simulator is the `sim serve` app at speed 1 (Prometheus stamps samples with its own
wall-clock scrape time). Prometheus scrapes every second into a temporary TSDB, and what the
adapter reads back must be what the simulator holds: replicas and route weights exactly,
cumulative counters equal to one of the simulator's recent samples (the drift of one scrape),
and the data fresh.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from quarterdeck.core.models import Target, ToolStatus
from quarterdeck.sim.wire.server import RunningServer, serve_in_thread
from quarterdeck.tools.metrics import (
    MetricsConfig,
    MetricsError,
    MetricsSource,
    make_metrics_source,
)
from quarterdeck.tools.reads import ReadContext, register_read_tools
from quarterdeck.tools.registry import ToolRegistry
from quarterdeck.tools.signals import load_catalog, read_signal
from tests.support import free_port, require_binary

from .conftest import make_sim

pytestmark = pytest.mark.integration
RANKER = Target(namespace="ml", service="ranker")


def start_prometheus(binary: str, workdir: Path, target: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: sim\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "prometheus.log").open("w"),
    )
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[RunningServer, MetricsSource]]:
    binary = require_binary("prometheus")
    sim = make_sim(tmp_path_factory, advance=600.0)  # the canary is in: two versions
    workdir = tmp_path_factory.mktemp("prometheus")
    with serve_in_thread(sim, speed=1.0) as live:  # `quarterdeck sim serve`, in a thread
        proc, prom_url = start_prometheus(binary, workdir, live.url.removeprefix("http://"))
        try:
            source = make_metrics_source(
                MetricsConfig(kind="prometheus", url=prom_url, retries=1, timeout_s=5.0)
            )
            deadline = time.monotonic() + 25
            while True:  # up, and at least three scrapes in (rates need two)
                try:
                    got = source.query('count_over_time(up{job="sim"}[1m])')
                    if got and got[0].value >= 3 and source.query('up{job="sim"} == 1'):
                        break
                except MetricsError:
                    pass  # not listening yet
                log = (workdir / "prometheus.log").read_text()
                assert proc.poll() is None, f"prometheus exited: {log[-2000:]}"
                assert time.monotonic() < deadline, f"target never came up: {log[-2000:]}"
                time.sleep(0.25)
            yield live, source
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_replicas_and_route_weights_match(stack):
    live, source = stack
    catalog = load_catalog()
    view = live.call(lambda: live.sim.service("ml", "ranker"))
    assert read_signal(source, catalog, "ready_replicas", RANKER).value == view.ready_replicas
    assert read_signal(source, catalog, "desired_replicas", RANKER).value == view.spec_replicas
    weights = read_signal(source, catalog, "route_weights", RANKER).by
    assert weights == {k: float(v) for k, v in view.route_weights.items()}


def test_counters_are_the_simulators_within_a_scrape(stack):
    live, source = stack
    query = 'qd_requests_total{namespace="ml",service="ranker",version="v1",code="200"}'
    (sample,) = source.query(query)
    matchers = [("service", "=", "ranker"), ("version", "=", "v1"), ("code", "=", "200")]
    (series,) = live.call(lambda: live.sim.series.select("qd_requests_total", matchers))
    recent = series.v[series.t >= series.t[-1] - 30]
    # what Prometheus holds is one of the values the simulator exposed in the last scrapes
    assert np.isclose(recent, sample.value, rtol=1e-12, atol=0).any(), (sample.value, recent)
    assert time.time() - sample.timestamp < 5


def test_health_through_real_prometheus_is_fresh(stack):
    live, source = stack
    catalog = load_catalog()
    age = read_signal(source, catalog, "data_age_s", RANKER).value
    assert age is not None
    assert age < 5  # a scrape a second
    registry = ToolRegistry()
    register_read_tools(registry, ReadContext(metrics=source, catalog=catalog))
    result = registry.call("service_health", {"namespace": "ml", "service": "ranker"})
    assert result.status is ToolStatus.SUCCESS, result
    report = result.data[0]
    assert report["health"] != "no_data"
    assert (
        report["signals"]["ready_replicas"]["value"]
        == live.sim.service("ml", "ranker").ready_replicas
    )
