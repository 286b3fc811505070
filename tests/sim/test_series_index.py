"""SeriesStore's indexed reads: `select_block` agrees with `select`, and what a selection
remembers is forgotten when a series is added."""

from __future__ import annotations

import numpy as np
import pytest

from quarterdeck.sim.series import SeriesStore
from tests.sim.conftest import sim

MATCHER_SETS = [
    [],
    [("service", "=", "api")],
    [("code", "!=", "200")],
    [("code", "=~", "5..")],
    [("code", "!~", "2.*"), ("version", "=", "v1")],
    [("service", "=", "nope")],
    [("missing", "=", "")],
]


@pytest.fixture(scope="module")
def ran():
    s = sim(events=[{"at": "5m", "type": "deploy", "service": "api", "version": "v2"}])
    s.advance(600)
    return s


@pytest.mark.parametrize("matchers", MATCHER_SETS)
def test_block_equals_per_series_select(ran, matchers):
    store = ran.series
    for name in ("qd_requests_total", "qd_request_duration_seconds_bucket"):
        series = store.select(name, matchers)
        block = store.select_block(name, matchers, 100.0, 400.0)
        assert [s.labels for s in series] == block.labels
        assert block.t[0] == 100.0
        assert block.t[-1] == 400.0
        for k, s in enumerate(series):
            inside = (s.t >= 100.0) & (s.t <= 400.0)
            present = ~np.isnan(block.v[:, k])
            np.testing.assert_array_equal(block.t[present], s.t[inside])
            np.testing.assert_array_equal(block.v[present, k], s.v[inside])


def test_name_matcher_and_bad_operator(ran):
    store = ran.series
    assert store.select_block("qd_utilisation", [("__name__", "=", "other")]).labels == []
    with pytest.raises(ValueError, match="unknown matcher operator"):
        store.select_block("qd_utilisation", [("service", "==", "api")])


class SmallChunks(SeriesStore):
    CHUNK_ROWS = 4  # several sealed chunks with a handful of rows


def _store_with_late_series() -> SeriesStore:
    store = SmallChunks(sample_every=1.0)
    a = store.column("x", {"k": "a"})
    store.append(np.arange(6.0), np.array([a]), np.arange(6.0)[:, None])
    return store


def test_new_series_invalidates_remembered_selection():
    store = _store_with_late_series()
    assert [s.labels for s in store.select("x", [("k", "=~", ".+")])] == [{"k": "a"}]
    assert store.select_block("x", [("k", "=", "b")]).labels == []
    b = store.column("x", {"k": "b"})
    a = store.column("x", {"k": "a"})
    store.append(np.array([6.0, 7.0]), np.array([a, b]), np.array([[6.0, 60.0], [7.0, 70.0]]))
    assert [s.labels for s in store.select("x", [("k", "=~", ".+")])] == [{"k": "a"}, {"k": "b"}]
    block = store.select_block("x", [("k", "=", "b")])
    assert block.labels == [{"k": "b"}]
    np.testing.assert_array_equal(block.t, np.arange(8.0))
    # absent (NaN) in the chunks sealed before it existed, present once written
    np.testing.assert_array_equal(np.isnan(block.v[:, 0]), [True] * 6 + [False] * 2)
    assert block.v[-1, 0] == 70.0


def test_fork_does_not_share_remembered_selections():
    import copy

    store = _store_with_late_series()
    store.select("x")
    twin = copy.deepcopy(store)
    twin.column("x", {"k": "c"})
    assert len(store.select("x")) == 1
    assert len(twin.select("x")) == 2
