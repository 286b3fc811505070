"""One loop decision over 100 services with the embedded reasoner (target: p95 ≤ 100 ms).

    .venv/bin/python benchmarks/loop_decision.py [--services 100] [--decisions 60] [--graph]
        [--turns 30]

A generated scenario of N services (a tenth of them with a load spike, a bad deploy, a pod crash
or a slowdown) runs on the simulator; at every controller interval the `agent` controller's
`decide` (observe every service → diagnose → plan → guard) is timed. `--graph` also times the
observer's tool-calling turn (`run_agent` with the embedded reasoner over the read tools on the
in-process sim adapters) for the same N services, which is what `quarterdeck loop` runs, and the
read path alone: `service_health` over every service (1m and 5m windows) batched — one
all-services PromQL query per signal — against the same reports read service by service.
The first (cold) graph turn is reported on its own; the rest run after the heap is frozen the
way the loop and the server freeze it after start-up. Prints p50 / p95 / max in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from quarterdeck.agents.controller import make_agent_controller
from quarterdeck.core.heap import freeze_startup_heap
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario

EVENTS = [
    "{{at: {t}s, type: load_spike, service: {s}, factor: 2.5, ramp: 1m, duration: 5m}}",
    "{{at: {t}s, type: deploy, service: {s}, version: v2}}",
    "{{at: {t}s, type: pod_crash, service: {s}, count: 1}}",
    "{{at: {t}s, type: slowdown, service: {s}, factor: 1.8, duration: 5m}}",
]


def scenario_yaml(n: int) -> str:
    services, events = [], []
    for i in range(n):
        name = f"svc-{i:03d}"
        services.append(
            f"""  - name: {name}
    namespace: ml
    replicas: 3
    min_replicas: 1
    max_replicas: 20
    pod: {{cpu: 1, memory_gib: 2, gpu: 0, startup: 30s}}
    capacity_rps: 40
    base_latency_ms: 30
    slo: {{p95_latency_ms: 150, error_ratio: 0.01}}
    versions: [{{name: v1}}, {{name: v2, latency_factor: 2.0, error_ratio: 0.1}}]
    current_version: v1
    load: {{base_rps: {60 + (i % 7) * 5}, noise: 0.05}}"""
        )
        if i % 10 == 0:
            template = EVENTS[(i // 10) % len(EVENTS)]
            events.append("  - " + template.format(t=120 + 15 * (i // 10), s=name))
    return (
        "version: 1\nname: loop-bench\nseed: 1\nduration: 30m\n"
        "cluster:\n  node_pools:\n    - {name: cpu, count: 40, cpu: 64, memory_gib: 256}\n"
        "services:\n" + "\n".join(services) + "\nevents:\n" + "\n".join(events) + "\n"
    )


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def report(name: str, ms: list[float]) -> None:
    print(
        f"{name}: n={len(ms)} p50={statistics.median(ms):.1f} ms "
        f"p95={pct(ms, 0.95):.1f} ms max={max(ms):.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--decisions", type=int, default=60)
    ap.add_argument("--graph", action="store_true", help="also time the observer's graph turn")
    ap.add_argument("--turns", type=int, default=30, help="graph turns to time with --graph")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "loop-bench.yaml"
        path.write_text(scenario_yaml(a.services))
        scenario = load_scenario(path)
    sim = Simulator(scenario)
    controller = make_agent_controller()
    controller.start(sim)
    times: list[float] = []
    acted = 0
    for _ in range(a.decisions):
        sim.advance(15)
        t0 = time.perf_counter()
        proposals = controller.decide(sim)
        times.append((time.perf_counter() - t0) * 1000)
        acted += len(proposals)
        for p in proposals:
            sim.apply(p.target, p.action)
    report(f"agent controller decide, {a.services} services", times)
    print(f"  ({acted} actions over {a.decisions} decisions; {controller.stats()})")
    if a.graph:
        graph_turns(sim, a.services, a.turns)


def graph_turns(sim: Simulator, n: int, turns: int) -> None:
    from quarterdeck.agents.reasoning.agent_brains import reasoner_brains
    from quarterdeck.agents.reasoning.embedded import EmbeddedReasoner
    from quarterdeck.tools.cluster.sim import SimClusterClient
    from quarterdeck.tools.metrics.sim import SimMetricsSource
    from quarterdeck.tools.reads import HealthParams, ReadContext, ReadTools, register_read_tools
    from quarterdeck.tools.registry import ToolRegistry
    from quarterdeck.tools.signals import load_catalog, slo_from_services

    cluster = SimClusterClient(sim)
    registry = ToolRegistry()
    catalog = load_catalog().with_thresholds(slo_from_services(sim.services()))
    ctx = ReadContext(SimMetricsSource(sim), catalog, cluster)
    register_read_tools(registry, ctx)
    brains = reasoner_brains(EmbeddedReasoner(), registry, cluster)
    # The first turn is cold (parse and selection caches empty); a loop runs for hours, so it
    # is reported on its own. Then the heap is frozen the way `quarterdeck loop` and `serve` do
    # after start-up (quarterdeck.core.heap), or a full collection every few turns pays for
    # walking the whole simulator.
    sim.advance(15)
    t0 = time.perf_counter()
    brains.diagnose(None)
    report(f"observer graph turn, first (cold), {n} services", [(time.perf_counter() - t0) * 1000])
    freeze_startup_heap()
    graph: list[float] = []
    batched: list[float] = []
    one_by_one: list[float] = []
    for _ in range(turns):
        sim.advance(15)
        t0 = time.perf_counter()
        brains.diagnose(None)
        graph.append((time.perf_counter() - t0) * 1000)
        fresh_tools = ReadTools(ctx)  # a fresh step memory: nothing left from the turn above
        t0 = time.perf_counter()
        for window in ("1m", "5m"):
            fresh_tools.service_health(HealthParams(window=window))
        batched.append((time.perf_counter() - t0) * 1000)
        if len(one_by_one) < 3:  # slow: a few samples are enough to compare
            targets = [d.target for d in cluster.deployments()]
            fresh_tools = ReadTools(ctx)
            t0 = time.perf_counter()
            for window in ("1m", "5m"):
                for t in targets:
                    fresh_tools.health_of(t, window)
            one_by_one.append((time.perf_counter() - t0) * 1000)
    report(f"observer graph turn (read tools over sim adapters), {n} services", graph)
    report(f"service_health 1m+5m, all {n} services batched", batched)
    report(f"service_health 1m+5m, {n} services one by one (before batching)", one_by_one)


if __name__ == "__main__":
    main()
