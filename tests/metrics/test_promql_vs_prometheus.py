"""The evaluator against Prometheus 2.42 itself, on the same samples.

The fixed store (conftest) is backfilled into a fresh TSDB with `promtool tsdb
create-blocks-from openmetrics`, a real Prometheus serves it, and every supported construct is
asked of both: Prometheus through the `prometheus` adapter, the evaluator through the `sim`
adapter. Same labels, same values — extrapolation, histogram interpolation, matching and all.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import time
from collections.abc import Iterator

import pytest

from quarterdeck.core.models import Target
from quarterdeck.tools.metrics import MetricsConfig, MetricsError, MetricsSource
from quarterdeck.tools.metrics.prometheus import PrometheusMetricsSource
from quarterdeck.tools.metrics.sim import SimMetricsSource
from quarterdeck.tools.signals import load_catalog, read_signal
from tests.support import free_port, require_binary

from .conftest import FixedSim, FixedStore, make_sim, make_store

pytestmark = pytest.mark.integration

# at several times: inside the data, at its end, between samples, and past it in the lookback
TIMES = [45.0, 100.0, 115.0, 120.0, 300.0]
QUERIES = [
    "http_requests_total",
    'http_requests_total{code=~"2..",job!="web"}',
    'http_requests_total{missing=""}',
    '{__name__=~"http_.*",code="500"}',
    "rate(http_requests_total[1m])",
    "rate(http_requests_total[45s])",
    "rate(http_requests_total[25s])",
    "increase(http_requests_total[2m])",
    "increase(late_total[1m])",
    "rate(late_total[30s])",
    "irate(http_requests_total[1m])",
    "delta(queue_depth[1m])",
    "idelta(queue_depth[1m])",
    "rate(http_requests_total[1m] offset 30s)",
    "queue_depth offset 15s",
    "sum by (job) (rate(http_requests_total[1m]))",
    "sum without (job) (rate(http_requests_total[1m]))",
    "avg(replicas)",
    "max by (job) (http_requests_total)",
    "min without (code) (http_requests_total)",
    "count(http_requests_total) by (code)",
    "group by (job) (http_requests_total)",
    "stddev(replicas)",
    "stdvar(http_requests_total)",
    "histogram_quantile(0.5, rate(latency_seconds_bucket[1m]))",
    "histogram_quantile(0.95, sum by (le) (rate(latency_seconds_bucket[1m])))",
    "histogram_quantile(0.99, sum by (le, job) (rate(latency_seconds_bucket[30s])))",
    "histogram_quantile(0.1, latency_seconds_bucket)",
    "histogram_quantile(0.3, rate(latency_seconds_bucket[45s]))",
    "histogram_quantile(0.75, sum without (job) (increase(latency_seconds_bucket[1m])))",
    "histogram_quantile(0.75, latency_seconds_bucket * 0)",
    "histogram_quantile(1.5, latency_seconds_bucket)",
    "sum(rate(http_requests_total{code=~'5..'}[1m])) / sum(rate(http_requests_total[1m]))",
    "replicas * 2 + 1",
    "10 - replicas",
    "replicas % 3",
    "replicas ^ 2",
    "-queue_depth",
    "replicas > 4",
    "4 < replicas",
    "replicas > bool 4",
    "queue_depth == bool 6",
    "2 >= bool 1",
    "2 * 3 - 1",
    "rate(http_requests_total{code='200'}[1m]) / ignoring(code) replicas",
    "sum by (job) (rate(http_requests_total[1m])) / on(job) replicas",
    "replicas / on(job) queue_depth",
    "replicas and queue_depth",
    "replicas unless queue_depth",
    "replicas or queue_depth",
    "avg_over_time(queue_depth[1m])",
    "max_over_time(queue_depth[45s])",
    "min_over_time(queue_depth[1m])",
    "sum_over_time(queue_depth[30s])",
    "count_over_time(queue_depth[2m])",
    "last_over_time(queue_depth[1m])",
    "present_over_time(late_total[1m])",
    "clamp_max(queue_depth, 5)",
    "clamp_min(queue_depth, 5)",
    "clamp(queue_depth, 3, 6)",
    "abs(0 - queue_depth)",
    "ceil(queue_depth / 3)",
    "floor(queue_depth / 3)",
    "round(queue_depth / 4)",
    "sqrt(queue_depth)",
    "ln(queue_depth)",
    "scalar(replicas)",
    'scalar(replicas{job="web"})',
    "vector(1)",
    "time()",
    "timestamp(queue_depth)",
    'absent(nope{job="x"})',
    "absent(replicas)",
    "topk(2, http_requests_total)",
    "bottomk by (job) (1, http_requests_total)",
    "topk(1, rate(http_requests_total[1m]))",
    "quantile(0.5, http_requests_total)",
    "quantile by (job) (0.9, rate(http_requests_total[1m]))",
    "quantile(0.25, queue_depth)",
    "quantile_over_time(0.9, queue_depth[1m])",
    "quantile_over_time(0.5, queue_depth[45s])",
    "stddev_over_time(queue_depth[1m])",
    "stdvar_over_time(queue_depth[30s])",
    "changes(queue_depth[1m])",
    "changes(replicas[2m])",
    "resets(queue_depth[1m])",
    "resets(http_requests_total[2m])",
    "deriv(queue_depth[1m])",
    "deriv(http_requests_total[45s])",
    "max_over_time(rate(http_requests_total[30s])[1m:10s])",
    "avg_over_time(sum by (job) (rate(http_requests_total[1m]))[2m:15s])",
    "min_over_time(queue_depth[1m:7s])",
    "max_over_time(queue_depth[1m:10s] offset 20s)",
    "count_over_time(vector(1)[1m:20s])",
    "last_over_time(histogram_quantile(0.9, rate(latency_seconds_bucket[1m]))[90s:30s])",
    "rate(http_requests_total[1m:5s])",
    "replicas * on(job) group_left(team) service_info",
    "http_requests_total / on(job) group_left replicas",
    "replicas / on(job) group_right http_requests_total",
    "http_requests_total > on(job) group_left replicas * 50",
    "replicas < bool on(job) group_right http_requests_total",
    "rate(http_requests_total[1m]) * ignoring(code) group_left(team) service_info",
]


def backfill(store: FixedStore, epoch: float) -> str:
    """The store as OpenMetrics text with timestamps, for `promtool tsdb create-blocks-from`."""
    lines = []
    for name in store.names():
        lines.append(f"# TYPE {name} unknown")
        for s in store.select(name):
            labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
            for t, v in zip(s.t.tolist(), s.v.tolist(), strict=True):
                lines.append(f"{name}{{{labels}}} {v!r} {epoch + t:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def prometheus_over(store, now: float, work) -> Iterator[tuple[MetricsSource, MetricsSource]]:
    """(real Prometheus serving `store`'s samples, the sim adapter over the same store)."""
    prometheus = require_binary("prometheus")
    promtool = require_binary("promtool")
    epoch = math.floor(time.time() / 3600) * 3600 - 7200.0 - now  # recent: inside retention
    (work / "data.om").write_text(backfill(store, epoch))
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "data.om", "tsdb"],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=60,
    )
    (work / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    port = free_port()
    log = (work / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            "--storage.tsdb.retention.time=10y",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        cfg = MetricsConfig(
            kind="prometheus", url=f"http://127.0.0.1:{port}", epoch=epoch, max_age_s=1e9
        )
        real = PrometheusMetricsSource(cfg)
        deadline = time.monotonic() + 20
        while True:
            try:
                if real.query("count({__name__=~'.+'})", at=now):
                    break
            except MetricsError:
                pass
            assert proc.poll() is None, (work / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "prometheus never served the backfilled block"
            time.sleep(0.2)
        ours = SimMetricsSource(FixedSim(store, now=now, epoch=epoch), max_age_s=1e9)
        yield real, ours
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[MetricsSource, MetricsSource]]:
    with prometheus_over(make_store(), 120.0, tmp_path_factory.mktemp("promql-diff")) as p:
        yield p


@pytest.fixture(scope="module")
def sim_pair(tmp_path_factory) -> Iterator[tuple[MetricsSource, MetricsSource]]:
    sim = make_sim(tmp_path_factory, advance=900.0)
    with prometheus_over(sim.series, sim.now, tmp_path_factory.mktemp("sim-diff")) as p:
        yield p


def _answer(source: MetricsSource, query: str, at: float) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in source.query(query, at)}


@pytest.mark.parametrize("query", QUERIES)
def test_same_answer_as_prometheus(pair, query):
    real, ours = pair
    for at in TIMES:
        want, got = _answer(real, query, at), _answer(ours, query, at)
        assert got.keys() == want.keys(), f"{query} @ {at}: labels differ"
        for labels, w in want.items():
            g = got[labels]
            same = (math.isnan(w) and math.isnan(g)) or g == pytest.approx(w, rel=1e-9, abs=1e-9)
            assert same, f"{query} @ {at} {dict(labels)}: ours {g}, Prometheus {w}"


@pytest.mark.parametrize(
    "query",
    [
        "rate(http_requests_total[1m])",
        "histogram_quantile(0.9, sum by (le, job) (rate(latency_seconds_bucket[1m])))",
        "late_total",
        "time()",
        "max_over_time(rate(http_requests_total[30s])[1m:10s])",
    ],
)
def test_same_range_answer_as_prometheus(pair, query):
    real, ours = pair
    want = {tuple(sorted(s.labels.items())): s.points for s in real.query_range(query, 0, 150, 7)}
    got = {tuple(sorted(s.labels.items())): s.points for s in ours.query_range(query, 0, 150, 7)}
    assert got.keys() == want.keys()
    for labels, points in want.items():
        assert [t for t, _ in got[labels]] == pytest.approx([t for t, _ in points])
        assert [v for _, v in got[labels]] == pytest.approx([v for _, v in points], rel=1e-9)


@pytest.mark.parametrize("signal", sorted(load_catalog().signals))
@pytest.mark.parametrize("at", [240.0, 330.0, 900.0])  # before, during and after the canary
def test_catalog_signals_on_simulator_data_match_prometheus(sim_pair, signal, at):
    real, ours = sim_pair
    catalog = load_catalog()
    for target in (
        Target(namespace="ml", service="ranker"),
        Target(namespace="risk", service="fraud-detector"),
    ):
        want = read_signal(real, catalog, signal, target, at=at)
        got = read_signal(ours, catalog, signal, target, at=at)
        if want.value is None:
            assert got.value is None, (signal, str(target))
        else:
            assert got.value == pytest.approx(want.value, rel=1e-9), (signal, str(target))
        assert got.by == pytest.approx(want.by, rel=1e-9), (signal, str(target))
        assert got.has_data == want.has_data
