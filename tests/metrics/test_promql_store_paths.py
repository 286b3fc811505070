"""The evaluator reads the simulator's SeriesStore through its indexed, remembered fast path and
any other store series by series; both must give the same answers, to the bit, and what the
fast path remembers must never leak into an answer (repeated or reordered queries, a series
added later, a caller changing the labels it got back)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quarterdeck.sim.series import SeriesStore
from quarterdeck.sim.wire.promql import instant_query, range_query
from tests.metrics.conftest import FixedStore, make_sim

QUERIES = [
    "qd_utilisation",
    'qd_requests_total{code=~"5..", service!="nope"}',
    "sum by (namespace, service) (rate(qd_requests_total[1m]))",
    'sum by (namespace, service) (rate(qd_requests_total{code=~"5.."}[1m]))'
    " / sum by (namespace, service) (rate(qd_requests_total[1m]))",
    "1000 * histogram_quantile(0.95, sum by (namespace, service, le)"
    " (rate(qd_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.9, sum by (version, le) (increase("
    'qd_request_duration_seconds_bucket{service="ranker"}[2m])))',
    "time() - max by (namespace, service) (timestamp(qd_requests_total))",
    "max by (namespace) (qd_utilisation) > bool 0.5",
    "avg_over_time(qd_utilisation[3m]) - min_over_time(qd_utilisation[3m])",
    "irate(qd_requests_total[1m]) * on(namespace, service) group_left qd_utilisation",
    "sum without (code, version) (delta(qd_requests_total[2m]))",
    "count_over_time(qd_route_weight[2m])",
    "max_over_time(sum by (service) (rate(qd_requests_total[1m]))[5m:30s])",
    "{__name__=~'kube_deployment_.*replicas'}",
]
TIMES = [30.0, 240.0, 330.0, 900.0]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return make_sim(tmp_path_factory, advance=900.0)


def _plain_copy(store: SeriesStore) -> FixedStore:
    """The same series in a store with no index or block reads (it ignores matchers too)."""
    plain = FixedStore()
    for name in store.names():
        for s in store.select(name):
            plain.add(name, s.labels, s.t, s.v)
    return plain


def _answer(store, query: str, at: float) -> dict[tuple, tuple[bytes, bytes]]:
    result = instant_query(store, query, at, epoch=1.7e9)
    return {tuple(sorted(s.labels.items())): (s.t.tobytes(), s.v.tobytes()) for s in result.series}


@pytest.mark.parametrize("query", QUERIES)
def test_indexed_store_and_plain_store_agree_to_the_bit(sim, query):
    plain = _plain_copy(sim.series)
    for at in TIMES:
        assert _answer(sim.series, query, at) == _answer(plain, query, at), (query, at)
    fast = range_query(sim.series, query, 0.0, 900.0, 45.0)
    slow = range_query(plain, query, 0.0, 900.0, 45.0)
    assert [s.labels for s in fast.series] == [s.labels for s in slow.series]
    for a, b in zip(fast.series, slow.series, strict=True):
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_array_equal(a.v, b.v)


def test_repeated_and_reordered_queries_answer_the_same(sim):
    first = {(q, at): _answer(sim.series, q, at) for q in QUERIES for at in TIMES}
    again = {(q, at): _answer(sim.series, q, at) for q in reversed(QUERIES) for at in TIMES}
    assert first == again


def test_labels_handed_out_are_the_callers_own(sim):
    query = "sum by (namespace, service) (rate(qd_requests_total[1m]))"
    before = instant_query(sim.series, query, 900.0)
    for s in before.series:
        s.labels["tampered"] = "yes"
    after = instant_query(sim.series, query, 900.0)
    assert all("tampered" not in s.labels for s in after.series)


def test_a_series_added_later_shows_up_in_a_remembered_selection():
    store = SeriesStore(sample_every=1.0)
    a = store.column("x_total", {"k": "a"})
    store.append(np.arange(10.0), np.array([a]), np.arange(10.0)[:, None])
    query = 'sum(rate(x_total{k=~".+"}[5s]))'
    assert instant_query(store, query, 9.0).series[0].v[0] == pytest.approx(1.0)
    b = store.column("x_total", {"k": "b"})
    store.append(
        np.arange(10.0, 20.0),
        np.array([a, b]),
        np.stack([np.arange(10.0, 20.0), 3 * np.arange(10.0)], axis=1),
    )
    [total] = instant_query(store, query, 19.0).series
    assert total.v[0] == pytest.approx(4.0)  # 1/s + 3/s
    by_k = instant_query(store, 'rate(x_total{k=~".+"}[5s])', 19.0).series
    assert [s.labels for s in by_k] == [{"k": "a"}, {"k": "b"}]
    # before b existed there is nothing of it, not zeros
    early = instant_query(store, 'x_total{k="b"}', 9.0)
    assert early.series == []
    assert not math.isnan(total.v[0])
