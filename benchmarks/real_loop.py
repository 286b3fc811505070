"""The real loop against the bench's `agent` controller, scenario by scenario.

    .venv/bin/python benchmarks/real_loop.py [SCENARIO.yaml ...]

`quarterdeck bench` runs the `agent` controller: the embedded reasoner's diagnosis, plan and guard
on observations read straight from the simulator (fast enough for 24 h scenarios). `quarterdeck
loop` and `serve` run the same brain through the real path: four A2A agents, the read tools over
PromQL and the Kubernetes-shaped adapters, the executor with its ledger, settle and verification.
This runs that real loop in `auto` mode every 15 s of simulated time on each scenario (default:
the suite's scenarios of 2 hours or less) and prints both controllers' SLO-violation minutes and
replica-hours and the actions each applied, so the bench's figures can be checked against what
the product does.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from quarterdeck.agents.brain.diagnosis import DiagnosisSettings
from quarterdeck.agents.controller import AgentController, AgentControllerSettings
from quarterdeck.agents.embedded import build_embedded
from quarterdeck.agents.loop import LoopMode
from quarterdeck.agents.reasoning.embedded import EmbeddedReasoner
from quarterdeck.audit import AuditKey
from quarterdeck.sim.bench import default_scenario_dir
from quarterdeck.sim.runner import run
from quarterdeck.sim.scenario import load_scenario

INTERVAL_S = 15.0


async def real_loop(path: Path, sizing: DiagnosisSettings) -> tuple[float, float, int, float]:
    """(SLO-violation minutes, replica-hours, actions applied, wall seconds) of the real loop on
    `path`."""
    started = time.perf_counter()
    applied = 0
    with tempfile.TemporaryDirectory() as state:
        embedded = build_embedded(
            path,
            Path(state),
            mode=LoopMode.AUTO,
            audit_key=AuditKey(b"b" * 32),
            reasoner=EmbeddedReasoner(sizing),
        )
        try:
            sim = embedded.sim
            while not sim.done:
                sim.advance(min(INTERVAL_S, sim.duration - sim.now))
                if not sim.done:
                    step = await embedded.runtime.loop_once()
                    applied += sum(1 for e in step.of_kind("executed") if e.status == "applied")
            m = sim.metrics.summary()
        finally:
            await embedded.runtime.aclose()
    return m.slo_violation_minutes, m.replica_hours, applied, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", type=Path)
    ap.add_argument(
        "--node-loss-headroom",
        type=float,
        metavar="SECONDS",
        help="both controllers keep N+1 by node for pods starting this slowly (default: off)",
    )
    args = ap.parse_args()
    sizing = DiagnosisSettings(node_loss_start_s=args.node_loss_headroom)
    paths = args.scenarios or [
        p
        for p in sorted(default_scenario_dir().glob("*.yaml"))
        if load_scenario(p).duration <= 7200
    ]
    print(f"{'scenario':18} {'bench agent':>31} {'real loop':>31} {'wall s':>7}")
    totals = [0.0] * 7
    for path in paths:
        controller = AgentController(AgentControllerSettings(diagnosis=sizing))
        result = run(load_scenario(path), controller)
        bench = result.metrics
        actions = sum(1 for a in result.action_log if a.outcome == "applied")
        real = asyncio.run(real_loop(path, sizing))
        row = (bench.slo_violation_minutes, bench.replica_hours, actions, *real)
        totals = [t + x for t, x in zip(totals, row, strict=True)]
        _line(path.stem, row)
    _line("total", totals)


def _line(name: str, row: Sequence[float]) -> None:
    slo, rh, acts, real_slo, real_rh, real_acts, wall = row
    print(
        f"{name:18} {slo:8.1f} min {rh:7.1f} h {acts:4.0f} act"
        f" {real_slo:8.1f} min {real_rh:7.1f} h {real_acts:4.0f} act {wall:7.1f}"
    )


if __name__ == "__main__":
    main()
