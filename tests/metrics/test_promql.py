"""The PromQL evaluator against values worked out by hand over the fixed store (conftest)."""

from __future__ import annotations

import math

import pytest

from quarterdeck.sim.wire.promql import PromQLError, instant_query, range_query

EPOCH = 1_700_000_000.0


def q(store, query: str, at: float = 120.0) -> dict[tuple[tuple[str, str], ...], float]:
    """Instant query -> {sorted label items: value}."""
    result = instant_query(store, query, at, epoch=EPOCH)
    assert result.result_type in ("vector", "scalar")
    return {tuple(sorted(s.labels.items())): float(s.v[0]) for s in result.series}


def one(store, query: str, at: float = 120.0) -> float:
    values = q(store, query, at)
    assert len(values) == 1, values
    return next(iter(values.values()))


class TestSelectors:
    def test_instant_selector_takes_the_newest_sample_and_keeps_the_name(self, store):
        got = q(store, 'http_requests_total{job="api"}')
        assert got == {
            (("__name__", "http_requests_total"), ("code", "200"), ("job", "api")): 360.0,
            (("__name__", "http_requests_total"), ("code", "500"), ("job", "api")): 50.0,
        }

    @pytest.mark.parametrize(
        ("selector", "count"),
        [
            ('http_requests_total{code="200"}', 2),
            ('http_requests_total{code!="200"}', 1),
            ('http_requests_total{code=~"2.."}', 2),
            ('http_requests_total{code=~"0"}', 0),  # anchored: "0" doesn't match "200"
            ('http_requests_total{code!~"5..",job="web"}', 1),
            ('{__name__=~"http_.*",job="api"}', 2),
            ('http_requests_total{missing=""}', 3),  # a missing label matches ""
        ],
        ids=["eq", "neq", "re", "re-anchored", "nre-and-eq", "name-regex", "empty-matches-missing"],
    )
    def test_label_matchers(self, store, selector, count):
        assert len(q(store, selector)) == count

    def test_lookback_is_five_minutes_inclusive(self, store):
        assert one(store, 'replicas{job="api"}', at=420.0) == 3.0  # newest sample at 120
        assert q(store, 'replicas{job="api"}', at=420.5) == {}

    def test_between_samples_the_older_one_answers(self, store):
        assert one(store, "queue_depth", at=15.0) == 8.0  # sample at 10

    def test_offset(self, store):
        assert one(store, 'http_requests_total{job="api",code="200"} offset 1m') == 180.0

    def test_at_modifier_is_unix_time(self, store):
        assert one(store, f"queue_depth @ {EPOCH + 40}") == 10.0


class TestRate:
    def test_rate_of_a_steady_counter_is_exact(self, store):
        assert one(store, 'rate(http_requests_total{job="api",code="200"}[1m])') == 3.0

    def test_counter_reset_is_corrected(self, store):
        # window [60,120]: 60, then reset to 0 at 70, up to 50 at 120 -> increase 50
        assert one(store, 'increase(http_requests_total{code="500"}[1m])') == pytest.approx(50.0)
        assert one(store, 'rate(http_requests_total{code="500"}[1m])') == pytest.approx(50 / 60)

    def test_extrapolates_to_the_window_start_within_1_1_intervals(self, store):
        # [75,120] holds samples 80..120: 120 seen over 40 s, first sample 5 s (< 11 s) from
        # the edge -> extrapolated over the whole 45 s: 135, i.e. 3/s
        assert one(store, 'increase(http_requests_total{job="api",code="200"}[45s])') == (
            pytest.approx(135.0)
        )
        assert one(store, 'rate(http_requests_total{job="api",code="200"}[45s])') == (
            pytest.approx(3.0)
        )

    def test_counter_is_not_extrapolated_below_zero(self, store):
        # samples 100..120: 50 -> 150. The edge is 40 s away, but at 2.5/s... it would have
        # been 0 ten seconds before the first sample: extrapolate 10 s (< 11): 100 * 30/20
        assert one(store, 'increase(late_total{start="low"}[1m])') == pytest.approx(150.0)

    def test_far_edge_extrapolates_half_an_interval(self, store):
        # 500 -> 600 over 20 s; zero point 100 s back, edge 40 s back (> 11): add 5 s -> 25/20
        assert one(store, 'increase(late_total{start="high"}[1m])') == pytest.approx(125.0)
        assert one(store, 'rate(late_total{start="high"}[1m])') == pytest.approx(125.0 / 60)

    def test_rate_needs_two_samples(self, store):
        assert q(store, "rate(late_total[1m])", at=100.0) == {}

    def test_irate_uses_the_last_two_samples(self, store):
        assert one(store, 'irate(http_requests_total{job="web"}[1m])') == pytest.approx(2.0)

    def test_rate_drops_the_metric_name(self, store):
        labels = next(iter(q(store, 'rate(http_requests_total{job="web"}[1m])')))
        assert dict(labels) == {"job": "web", "code": "200"}


class TestAggregation:
    def test_sum_by(self, store):
        got = q(store, "sum by (job) (rate(http_requests_total[1m]))")
        assert got == {
            (("job", "api"),): pytest.approx(3.0 + 50 / 60),
            (("job", "web"),): pytest.approx(2.0),
        }

    def test_sum_without(self, store):
        got = q(store, "sum without (job) (rate(http_requests_total[1m]))")
        assert got == {
            (("code", "200"),): pytest.approx(5.0),
            (("code", "500"),): pytest.approx(50 / 60),
        }

    @pytest.mark.parametrize(
        ("op", "expected"),
        [("sum", 8.0), ("avg", 4.0), ("max", 5.0), ("min", 3.0), ("count", 2.0), ("group", 1.0)],
    )
    def test_aggregations_over_everything(self, store, op, expected):
        assert q(store, f"{op}(replicas)") == {(): expected}

    def test_error_ratio(self, store):
        value = one(
            store,
            'sum(rate(http_requests_total{job="api",code=~"5.."}[1m]))'
            ' / sum(rate(http_requests_total{job="api"}[1m]))',
        )
        assert value == pytest.approx((50 / 60) / (3 + 50 / 60))


class TestParameterisedAggregation:
    def test_topk_keeps_the_members_labels(self, store):
        assert q(store, "topk(1, replicas)") == {(("__name__", "replicas"), ("job", "web")): 5.0}
        assert q(store, "bottomk(1, replicas)") == {(("__name__", "replicas"), ("job", "api")): 3.0}
        assert len(q(store, "topk(5, replicas)")) == 2
        assert q(store, "topk(0, replicas)") == {}

    def test_topk_by_group(self, store):
        got = q(store, "topk by (job) (1, http_requests_total)")
        assert set(got.values()) == {360.0, 240.0}  # the 200s of api and of web

    def test_quantile_interpolates_between_ranks(self, store):
        # values 3 and 5: rank 0.25 * (2 - 1) -> 3 + 0.25 * 2
        assert one(store, "quantile(0.25, replicas)") == pytest.approx(3.5)
        # window [60,120] holds 7 3 9 1 6 4 8 -> sorted 1 3 4 6 7 8 9, rank 0.5 * 6 = 3
        assert one(store, "quantile_over_time(0.5, queue_depth[1m])") == 6.0

    def test_changes_resets_deriv(self, store):
        assert one(store, "changes(queue_depth[1m])") == 6.0
        assert one(store, "resets(queue_depth[1m])") == 3.0  # 7>3, 9>1, 6>4
        assert one(store, 'deriv(http_requests_total{job="web"}[1m])') == pytest.approx(2.0)


class TestSubquery:
    def test_evaluates_on_aligned_steps_within_the_window(self, store):
        # queue_depth every 10 s from t=0: [60,120] at 20 s steps -> t 60, 80, 100, 120
        assert one(store, "sum_over_time(queue_depth[1m:20s])") == 7 + 9 + 6 + 8
        assert one(store, "count_over_time(queue_depth[1m:20s])") == 4.0

    def test_rate_of_a_rate_window(self, store):
        query = 'max_over_time(rate(http_requests_total{job="web"}[30s])[1m:10s])'
        assert one(store, query) == pytest.approx(2.0)

    def test_too_fine_a_subquery_is_refused(self, store):
        with pytest.raises(PromQLError, match="raise its step"):
            instant_query(store, "max_over_time(queue_depth[100d:1s])", 120.0)


class TestHistogramQuantile:
    @pytest.mark.parametrize(
        ("phi", "expected"),
        [
            (0.1, 0.05),  # rank 1 of 10, in (0, 0.1] holding 2
            (0.5, 0.25),  # rank 5: top of (0.1, 0.25]
            (0.75, 0.25 + 0.25 * 2.5 / 3),  # rank 7.5: 2.5 of the 3 in (0.25, 0.5]
            (0.9, 1.0),  # rank 9: top of (0.5, 1]
            (0.95, 1.0),  # rank 9.5 falls in +Inf: the highest finite bound
        ],
    )
    def test_interpolates_inside_the_bucket(self, store, phi, expected):
        rates = "sum by (le) (rate(latency_seconds_bucket{job='api'}[1m]))"
        got = q(store, f"histogram_quantile({phi}, {rates})")
        assert got == {(): pytest.approx(expected)}

    def test_groups_by_the_remaining_labels(self, store):
        got = q(store, "histogram_quantile(0.75, rate(latency_seconds_bucket[1m]))")
        # web has twice api's counts in every bucket: the same distribution
        assert set(got) == {(("job", "api"),), (("job", "web"),)}
        assert all(v == pytest.approx(0.25 + 0.25 * 2.5 / 3) for v in got.values())

    def test_out_of_range_quantiles(self, store):
        expr = "histogram_quantile({}, rate(latency_seconds_bucket{{job='api'}}[1m]))"
        assert one(store, expr.format(1.5)) == math.inf
        assert one(store, expr.format(-1)) == -math.inf

    def test_no_observations_is_nan(self, store):
        # every bucket at zero (no traffic in the window): NaN, not 0 and not the lowest bound
        query = "histogram_quantile(0.5, latency_seconds_bucket{job='api'} * 0)"
        assert math.isnan(one(store, query))


class TestBinaryOperators:
    def test_vector_scalar_arithmetic_drops_the_name(self, store):
        assert q(store, 'replicas{job="api"} * 2 + 1') == {(("job", "api"),): 7.0}
        assert q(store, '10 - replicas{job="api"}') == {(("job", "api"),): 7.0}
        assert q(store, 'replicas{job="web"} % 3') == {(("job", "web"),): 2.0}
        assert q(store, 'replicas{job="api"} ^ 2') == {(("job", "api"),): 9.0}

    def test_comparison_filters_and_keeps_the_sample(self, store):
        assert q(store, "replicas > 4") == {(("__name__", "replicas"), ("job", "web")): 5.0}
        # the scalar on the left: still the vector's value is kept
        assert q(store, "4 < replicas") == {(("__name__", "replicas"), ("job", "web")): 5.0}

    def test_comparison_with_bool_returns_0_or_1(self, store):
        assert q(store, "replicas > bool 4") == {(("job", "api"),): 0.0, (("job", "web"),): 1.0}
        assert one(store, "2 >= bool 1") == 1.0

    def test_scalar_scalar(self, store):
        result = instant_query(store, "2 * 3 - 1", 120.0, epoch=EPOCH)
        assert result.result_type == "scalar"
        assert float(result.series[0].v[0]) == 5.0

    def test_vector_vector_one_to_one(self, store):
        got = q(store, "rate(http_requests_total{code='200'}[1m]) / ignoring(code) replicas")
        assert got == {(("job", "api"),): pytest.approx(1.0), (("job", "web"),): pytest.approx(0.4)}
        got = q(store, "sum by (job) (rate(http_requests_total[1m])) / on(job) replicas")
        assert got[(("job", "web"),)] == pytest.approx(0.4)

    def test_unmatched_elements_are_dropped(self, store):
        assert q(store, "replicas / on(job) queue_depth") == {(("job", "api"),): 3.0 / 8.0}

    def test_many_to_many_is_an_execution_error(self, store):
        with pytest.raises(PromQLError) as err:
            instant_query(store, "http_requests_total / on(job) replicas", 120.0)
        assert err.value.error_type == "execution"

    def test_group_left_joins_labels_from_the_one_side(self, store):
        got = q(store, "replicas * on(job) group_left(team) service_info")
        assert got == {
            (("job", "api"), ("team", "search")): 3.0,
            (("job", "web"), ("team", "frontend")): 5.0,
        }
        # many-to-one: each request series gets its job's replica count
        per_replica = q(store, "http_requests_total / on(job) group_left replicas")
        assert per_replica[(("code", "500"), ("job", "api"))] == pytest.approx(50 / 3)
        assert len(per_replica) == 3

    def test_group_right_mirrors_it(self, store):
        got = q(store, "replicas / on(job) group_right http_requests_total")
        assert got[(("code", "200"), ("job", "web"))] == pytest.approx(5 / 240)

    def test_set_operators(self, store):
        assert set(q(store, "replicas and queue_depth")) == {
            (("__name__", "replicas"), ("job", "api"))
        }
        assert set(q(store, "replicas unless queue_depth")) == {
            (("__name__", "replicas"), ("job", "web"))
        }


class TestFunctions:
    @pytest.mark.parametrize(
        ("fn", "expected"),
        [("avg", 38 / 7), ("max", 9.0), ("min", 1.0), ("sum", 38.0), ("count", 7.0), ("last", 8.0)],
    )
    def test_over_time(self, store, fn, expected):
        # window [60,120] holds the samples 7 3 9 1 6 4 8
        assert one(store, f"{fn}_over_time(queue_depth[1m])") == pytest.approx(expected)

    def test_clamp_abs_scalar_vector_time(self, store):
        assert one(store, "clamp_max(queue_depth, 5)") == 5.0
        assert one(store, "clamp_min(queue_depth, 10)") == 10.0
        assert one(store, "abs(0 - queue_depth)") == 8.0
        assert one(store, 'scalar(replicas{job="web"})') == 5.0
        assert math.isnan(one(store, "scalar(replicas)"))  # not exactly one element
        assert q(store, "vector(1)") == {(): 1.0}
        assert one(store, "time()") == EPOCH + 120.0

    def test_timestamp_is_the_samples_time(self, store):
        assert one(store, "timestamp(queue_depth)", at=125.0) == EPOCH + 120.0

    def test_absent(self, store):
        assert q(store, 'absent(nope{job="x"})') == {(("job", "x"),): 1.0}
        assert q(store, "absent(replicas)") == {}


class TestRangeQuery:
    def test_steps_and_values(self, store):
        result = range_query(store, 'rate(http_requests_total{job="web"}[1m])', 60, 120, 30)
        assert result.result_type == "matrix"
        (series,) = result.series
        assert series.t.tolist() == [60.0, 90.0, 120.0]
        assert series.v.tolist() == pytest.approx([2.0, 2.0, 2.0])

    def test_scalar_becomes_a_matrix(self, store):
        result = range_query(store, "time()", 0, 20, 10, epoch=EPOCH)
        assert result.result_type == "matrix"
        assert result.series[0].v.tolist() == [EPOCH, EPOCH + 10, EPOCH + 20]

    def test_absent_steps_are_left_out(self, store):
        (series,) = range_query(store, 'late_total{start="low"}', 80, 120, 10).series
        assert series.t.tolist() == [100.0, 110.0, 120.0]

    def test_too_many_points(self, store):
        with pytest.raises(PromQLError, match="11,000 points"):
            range_query(store, "replicas", 0, 12_000, 1)

    def test_range_vector_is_refused(self, store):
        with pytest.raises(PromQLError, match="range vector"):
            range_query(store, "replicas[1m]", 0, 60, 10)


class TestRefusals:
    @pytest.mark.parametrize(
        "query",
        [
            'count_values("n", replicas)',
            "predict_linear(queue_depth[1m], 60)",
            'label_replace(replicas, "a", "$1", "job", "(.*)")',
            "sort(replicas)",
        ],
        ids=["count_values", "predict_linear", "label_replace", "sort"],
    )
    def test_unsupported_is_bad_data_not_a_guess(self, store, query):
        with pytest.raises(PromQLError) as err:
            instant_query(store, query, 120.0)
        assert err.value.error_type == "bad_data"
        assert "not supported" in str(err.value)

    @pytest.mark.parametrize(
        "query", ["", "sum(", "rate(replicas)", "nosuchfn(replicas)", 'replicas{job=~"("}']
    )
    def test_parse_errors_are_bad_data(self, store, query):
        with pytest.raises(PromQLError) as err:
            instant_query(store, query, 120.0)
        assert err.value.error_type == "bad_data"
        assert err.value.http_status == 400
