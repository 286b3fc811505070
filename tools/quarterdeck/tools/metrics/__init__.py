"""Metrics behind one small interface, `MetricsSource` (PromQL instant and range queries), with
two adapters: `prometheus` (prometheus-api-client against a Prometheus server or the simulator's
HTTP facade) and `sim` (the same PromQL evaluated in-process). `make_metrics_source(config)`
picks one by kind and raises on an unknown kind.
"""

from quarterdeck.tools.metrics.base import (
    MetricsError,
    MetricsSource,
    MetricsUnavailable,
    QueryError,
    RangeSeries,
    Sample,
    fresh,
)
from quarterdeck.tools.metrics.config import MetricsConfig
from quarterdeck.tools.metrics.factory import make_metrics_source

__all__ = [
    "MetricsConfig",
    "MetricsError",
    "MetricsSource",
    "MetricsUnavailable",
    "QueryError",
    "RangeSeries",
    "Sample",
    "fresh",
    "make_metrics_source",
]
