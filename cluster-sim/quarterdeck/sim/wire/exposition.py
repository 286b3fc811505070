"""`/metrics` in the Prometheus text exposition format (version 0.0.4), from the series store.

Every series the simulator records is exposed with its newest value, so a real Prometheus
scraping `quarterdeck sim serve` stores the same counters, histograms and gauges that the
simulator's own Prometheus API answers from. Histogram families (`_bucket` with `le`, `_sum`,
`_count`) are grouped as the format requires; no timestamps are written, so the scraper stamps
samples with its scrape time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from quarterdeck.sim.wire.promql import SeriesSource

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HELP: dict[str, str] = {
    "qd_requests_total": "Requests offered to the service, by version and status code "
    "(200 served, 500 failed by the version, 503 dropped for lack of capacity).",
    "qd_request_duration_seconds": "Latency of served requests in seconds.",
    "kube_deployment_spec_replicas": "Number of desired pods for a deployment.",
    "kube_deployment_status_replicas_ready": "Number of ready pods of a deployment.",
    "qd_offered_load_rps": "Requests per second offered to the service.",
    "qd_utilisation": "Busy fraction of the service's ready capacity (above 1 means overload).",
    "qd_route_weight": "Percentage of the service's traffic routed to the version.",
}


class MetricsSim(Protocol):
    @property
    def series(self) -> SeriesSource: ...
    @property
    def now(self) -> float: ...


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _le_order(labels: Mapping[str, str]) -> float:
    try:
        return float(labels.get("le", "nan"))
    except ValueError:
        return math.inf


def _line(name: str, labels: Mapping[str, str], value: float) -> str:
    if labels:
        body = ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in sorted(labels.items()))
        return f"{name}{{{body}}} {_value(value)}"
    return f"{name} {_value(value)}"


def _latest(store: SeriesSource, name: str, since: float) -> list[tuple[dict[str, str], float]]:
    """(labels, newest value) of each of `name`'s series still being recorded."""
    out = []
    for s in store.select(name):
        t: Any = s.t
        if len(t) and float(t[-1]) >= since:
            out.append(({k: str(v) for k, v in s.labels.items()}, float(s.v[-1])))
    return out


def _families(names: Iterable[str]) -> dict[str, tuple[str, list[str]]]:
    """family name -> (type, member series names), histograms recognised by `_bucket`."""
    names = sorted(set(names))
    histograms = {n[: -len("_bucket")] for n in names if n.endswith("_bucket")}
    families: dict[str, tuple[str, list[str]]] = {}
    for base in histograms:
        members = [f"{base}_bucket", f"{base}_sum", f"{base}_count"]
        families[base] = ("histogram", [m for m in members if m in names])
    claimed = {m for _, ms in families.values() for m in ms}
    for n in names:
        if n not in claimed:
            families[n] = ("counter" if n.endswith("_total") else "gauge", [n])
    return families


def render_metrics(sim: MetricsSim, *, max_age: float = 300.0) -> str:
    """The text a scrape of `/metrics` returns: the simulator's current cumulative values.

    Series whose newest sample is older than `max_age` sim seconds (e.g. a version that was
    removed) are left out, as an exporter stops exporting a gone object.
    """
    store = sim.series
    since = sim.now - max_age
    lines: list[str] = []
    for family, (kind, members) in sorted(_families(store.names()).items()):
        rows = [(m, labels, v) for m in members for labels, v in _latest(store, m, since)]
        if not rows:
            continue
        help_text = HELP.get(family, f"Simulator series {family}.")
        lines.append(f"# HELP {family} {_escape_help(help_text)}")
        lines.append(f"# TYPE {family} {kind}")
        if kind == "histogram":
            rows.sort(
                key=lambda r: (
                    sorted((k, v) for k, v in r[1].items() if k != "le"),
                    members.index(r[0]),
                    _le_order(r[1]),
                )
            )
        else:
            rows.sort(key=lambda r: sorted(r[1].items()))
        lines.extend(_line(m, labels, v) for m, labels, v in rows)
    return "\n".join(lines) + "\n"
