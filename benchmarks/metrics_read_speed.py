"""How fast signals are read: in-process PromQL vs prometheus-api-client over `sim serve`.

    .venv/bin/python benchmarks/metrics_read_speed.py [--scenario FILE] [--minutes 60]

Runs the scenario (default: the 50-service one) for `--minutes`, then times one signal read
(p95 latency, the heaviest: a histogram_quantile over every bucket), `service_health` for every
service, and an 11,000-step range query, through the in-process `sim` adapter; then the same
signal read through the `prometheus` adapter against the paused `sim serve` app over HTTP.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from quarterdeck.core.models import Target
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario
from quarterdeck.sim.wire.server import serve_in_thread
from quarterdeck.tools.cluster.sim import SimClusterClient
from quarterdeck.tools.metrics import MetricsConfig, MetricsSource, make_metrics_source
from quarterdeck.tools.reads import HealthParams, ReadContext, ReadTools
from quarterdeck.tools.signals import load_catalog, read_signal

DEFAULT = Path(__file__).resolve().parents[1] / "cluster-sim" / "scenarios" / "fifty-services.yaml"


def per_call_ms(fn: Callable[[], object], n: int) -> float:
    fn()  # warm up
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1000


class _SimClock:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def now(self) -> float:
        return self.sim.now


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=DEFAULT)
    ap.add_argument("--minutes", type=float, default=60.0)
    args = ap.parse_args()

    sim = Simulator(load_scenario(args.scenario))
    sim.advance(args.minutes * 60)
    catalog = load_catalog()
    first = sim.services()[0]
    target = Target(namespace=first.namespace, service=first.name)
    local: MetricsSource = make_metrics_source(MetricsConfig(kind="sim"), sim=sim)
    print(f"{len(sim.services())} services, {sim.now / 60:.0f} sim minutes of series")

    ms = per_call_ms(lambda: read_signal(local, catalog, "p95_latency_ms", target), 50)
    print(f"sim adapter        p95_latency_ms read      {ms:8.2f} ms")
    tools = ReadTools(ReadContext(local, catalog, SimClusterClient(sim)))
    ms = per_call_ms(lambda: tools.service_health(HealthParams()), 3)
    print(f"sim adapter        service_health (all)     {ms:8.0f} ms")
    span = sim.now
    query = "sum by (service) (rate(qd_requests_total[1m]))"
    ms = per_call_ms(lambda: local.query_range(query, 0.0, span, span / 10_999), 3)
    print(f"sim adapter        range query, 11k steps   {ms:8.0f} ms")

    with serve_in_thread(sim, speed=0.0) as running:
        cfg = MetricsConfig(kind="prometheus", url=running.url, epoch=sim.epoch)
        remote = make_metrics_source(cfg, clock=_SimClock(sim))
        ms = per_call_ms(lambda: read_signal(remote, catalog, "p95_latency_ms", target), 50)
        print(f"prometheus adapter p95_latency_ms over HTTP {ms:8.2f} ms")


if __name__ == "__main__":
    main()
