"""One contract for every `MetricsSource`: the same questions get the same answers.

Implementations: the in-process simulator adapter; prometheus-api-client over HTTP against the
simulator's Prometheus routes alone; and the same client against the whole `sim serve` app
(paused, so the simulator stands still while the questions are asked). All are also held to the
simulator's own numbers (`sim.window`, `sim.service`), so neither the evaluator nor the wire
format can drift.
"""

from __future__ import annotations

import math

import pytest
from starlette.applications import Starlette

from quarterdeck.core.models import Target
from quarterdeck.sim.wire.prometheus import prometheus_routes
from quarterdeck.sim.wire.server import serve_in_thread
from quarterdeck.tools.metrics import (
    MetricsConfig,
    MetricsSource,
    QueryError,
    make_metrics_source,
)
from quarterdeck.tools.signals import load_catalog, read_signal

from .conftest import SimClock, make_sim, serve_app

RANKER = Target(namespace="ml", service="ranker")
FRAUD = Target(namespace="risk", service="fraud-detector")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return make_sim(tmp_path_factory, advance=900.0)


@pytest.fixture(scope="module")
def http_url(sim):
    with serve_app(Starlette(routes=prometheus_routes(lambda: sim))) as url:
        yield url


@pytest.fixture(scope="module")
def sim_serve_url(sim):
    with serve_in_thread(sim, speed=0.0) as running:
        yield running.url


@pytest.fixture(params=["sim", "prometheus-http", "prometheus-sim-serve"], scope="module")
def source(request, sim) -> MetricsSource:
    if request.param == "sim":
        return make_metrics_source(MetricsConfig(kind="sim"), sim=sim)
    fixture = "http_url" if request.param == "prometheus-http" else "sim_serve_url"
    url = request.getfixturevalue(fixture)
    cfg = MetricsConfig(kind="prometheus", url=url, epoch=sim.epoch, retries=0, timeout_s=10)
    return make_metrics_source(cfg, clock=SimClock(sim))


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def value(source: MetricsSource, query: str, at: float | None = None) -> float:
    samples = source.query(query, at)
    assert len(samples) == 1, samples
    return samples[0].value


@pytest.mark.parametrize("target", [RANKER, FRAUD], ids=str)
@pytest.mark.parametrize("seconds", [60, 300])
def test_rates_and_error_ratio_equal_the_simulators(source, catalog, sim, target, seconds):
    w = sim.window(target.namespace, target.service, seconds)
    window = f"{seconds}s"
    rate = read_signal(source, catalog, "request_rate", target, window=window)
    errors = read_signal(source, catalog, "error_ratio", target, window=window)
    assert rate.value == pytest.approx(w.request_rate, rel=1e-9)
    assert errors.value == pytest.approx(w.error_ratio, rel=1e-9, abs=1e-12)
    assert rate.observed_at == pytest.approx(sim.now)


@pytest.mark.parametrize("target", [RANKER, FRAUD], ids=str)
def test_p95_within_bucket_interpolation(source, catalog, sim, target):
    w = sim.window(target.namespace, target.service, 60)
    p95 = read_signal(source, catalog, "p95_latency_ms", target).value
    p99 = read_signal(source, catalog, "p99_latency_ms", target).value
    # same buckets, same interpolation: equal up to float noise, far inside one bucket
    assert p95 == pytest.approx(w.p95_ms, rel=1e-6)
    assert p99 == pytest.approx(w.p99_ms, rel=1e-6)


def test_replicas_and_route_weights_equal_the_simulators(source, catalog, sim):
    view = sim.service("ml", "ranker")
    assert read_signal(source, catalog, "ready_replicas", RANKER).value == view.ready_replicas
    assert read_signal(source, catalog, "desired_replicas", RANKER).value == view.spec_replicas
    weights = read_signal(source, catalog, "route_weights", RANKER).by
    assert weights == {k: float(v) for k, v in view.route_weights.items()}


def test_per_version_signals(source, catalog, sim):
    by = read_signal(source, catalog, "version_error_ratio", RANKER).by
    assert set(by) == {"v1", "v2"}
    w2 = sim.window("ml", "ranker", 60, version="v2")
    assert by["v2"] == pytest.approx(w2.error_ratio, rel=1e-9)
    assert by["v1"] < by["v2"]


def test_query_in_the_past(source, sim):
    query = 'sum(rate(qd_requests_total{service="ranker"}[1m]))'
    # before the canary (t = 240 s): v1 only
    assert value(source, query, at=240.0) > 0
    by_version = source.query('sum by (version) (qd_route_weight{service="ranker"})', at=240.0)
    assert {s.labels["version"]: s.value for s in by_version} == {"v1": 100.0}


def test_range_query_points(source, sim):
    series = source.query_range(
        'sum(rate(qd_requests_total{service="fraud-detector"}[1m]))', 600.0, 900.0, 60.0
    )
    (s,) = series
    assert [t for t, _ in s.points] == pytest.approx([600, 660, 720, 780, 840, 900])
    _, last_v = s.points[-1]
    assert last_v == pytest.approx(sim.window("risk", "fraud-detector", 60).request_rate)


def test_scalar_has_no_labels(source, sim):
    (s,) = source.query("2 * 21")
    assert (dict(s.labels), s.value) == ({}, 42.0)


def test_unknown_metric_is_no_data_not_zero(source):
    assert source.query('sum(rate(nope_total{service="ranker"}[1m]))') == []


def test_no_traffic_ratio_is_nan_and_reads_as_no_data(source, catalog):
    ghost = Target(namespace="ml", service="ghost")
    reading = read_signal(source, catalog, "error_ratio", ghost)
    assert reading.value is None
    assert reading.status == "no_data"


@pytest.mark.parametrize(
    "query",
    ["sum(", 'count_values("n", qd_utilisation)', "qd_utilisation[1m]"],
    ids=["parse-error", "unsupported", "range-vector"],
)
def test_refused_queries_raise_query_error(source, query):
    with pytest.raises(QueryError):
        source.query(query)


def test_stale_data_is_reported_by_its_age(source, catalog, sim):
    # Asked 10 minutes after the last sample, the lookback (5 min) has nothing...
    assert source.query("qd_utilisation", at=sim.now + 600) == []
    # ...and 3 minutes after, the age signal tells the sample is old, so health can refuse it.
    age = read_signal(source, catalog, "data_age_s", RANKER, at=sim.now + 180).value
    assert age == pytest.approx(180.0, abs=0.01)
    assert age > source.max_age_s


def test_is_online(source):
    assert source.is_online() is True


def test_sim_and_http_agree_exactly(sim, http_url):
    """The two implementations side by side, over a spread of queries."""
    direct = make_metrics_source(MetricsConfig(kind="sim"), sim=sim)
    cfg = MetricsConfig(kind="prometheus", url=http_url, epoch=sim.epoch, retries=0)
    over_http = make_metrics_source(cfg, clock=SimClock(sim))
    queries = [
        "qd_requests_total",
        "histogram_quantile(0.9, sum by (service, le) "
        "(rate(qd_request_duration_seconds_bucket[2m])))",
        "sum without (code) (increase(qd_requests_total[5m]))",
        "kube_deployment_spec_replicas > bool 3",
        "max_over_time(qd_utilisation[10m])",
    ]
    for q in queries:
        a = {tuple(sorted(s.labels.items())): s.value for s in direct.query(q)}
        b = {tuple(sorted(s.labels.items())): s.value for s in over_http.query(q)}
        assert a.keys() == b.keys(), q
        for k, va in a.items():
            assert (math.isnan(va) and math.isnan(b[k])) or va == pytest.approx(b[k]), q
