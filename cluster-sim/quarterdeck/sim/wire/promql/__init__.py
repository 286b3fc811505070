"""A PromQL evaluator over the simulator's SeriesStore, parsing with `promql-parser`.

Supported: instant and range selectors (=, !=, =~, !~, offset, @) and subqueries;
rate/irate/increase/delta/idelta with Prometheus's extrapolation, changes/resets/deriv; the
*_over_time family (avg, min, max, sum, count, last, present, quantile, stddev, stdvar);
sum/avg/min/max/count/group/stddev/stdvar/topk/bottomk/quantile with by/without;
histogram_quantile; arithmetic, comparisons (filtering and `bool`), and/or/unless; one-to-one
and many-to-one (group_left/group_right) vector matching with on/ignoring;
abs/ceil/floor/exp/sqrt/ln/log2/log10/round/clamp/clamp_min/clamp_max, scalar, vector, time,
timestamp, absent. Everything else (count_values, label_replace, sort, predict_linear, ...) is
refused with `PromQLError("bad_data")`. tests/metrics/test_promql_vs_prometheus.py holds the
answers to Prometheus 2.42's own.
"""

from quarterdeck.sim.wire.promql.engine import (
    MAX_POINTS,
    QueryResult,
    ResultSeries,
    instant_query,
    parse,
    range_query,
    series_matching,
)
from quarterdeck.sim.wire.promql.errors import PromQLError
from quarterdeck.sim.wire.promql.selectors import SeriesSource

__all__ = [
    "MAX_POINTS",
    "PromQLError",
    "QueryResult",
    "ResultSeries",
    "SeriesSource",
    "instant_query",
    "parse",
    "range_query",
    "series_matching",
]
