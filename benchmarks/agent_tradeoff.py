"""What fewer SLO-violation minutes cost the `agent` controller in replica-hours, on the suite.

    .venv/bin/python benchmarks/agent_tradeoff.py [--scenarios DIR] [--jobs 2]

Runs every scenario of the public suite (cluster-sim/scenarios) with `baseline`, `oracle` and
the `agent` at several utilisation bands: the default (size every service for 72 %), a lower
band only for services whose pods take ≥ 100 s to start (model loads), spare replicas for
losing the busiest node (`--node-loss-headroom`) for services whose pods start slowly, and a
lower band for every service. Prints suite totals of SLO-violation minutes and replica-hours,
each with its ratio to `baseline` and to `oracle`, so the target of issue 5 (≤ 0.3× baseline's
minutes at ≤ 1.0× its replica-hours, ≤ 1.5× oracle's minutes) can be read off as a point on the
curve.

Why this exists: the suite's remaining minutes come from events no controller that does not
read the future can absorb without spare capacity — a node failure that takes every replica
of a service, a pod crash of half a service, a surge on a model that takes four minutes to
load. Capacity that is already running is the only answer, and it is paid in replica-hours.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from quarterdeck.agents.brain.diagnosis import DiagnosisSettings
from quarterdeck.agents.controller import AgentController, AgentControllerSettings
from quarterdeck.sim.bench import default_scenario_dir, ratio
from quarterdeck.sim.controllers import Controller, make
from quarterdeck.sim.runner import run
from quarterdeck.sim.scenario import load_scenario


@dataclass(frozen=True)
class Variant:
    label: str
    diagnosis: DiagnosisSettings | None  # None: a simulator controller named `label`


def _band(target: float) -> DiagnosisSettings:
    """The default band (0.60–0.72–0.85) moved to centre on `target` for every service."""
    d = DiagnosisSettings()
    shift = d.target_utilisation - target
    return replace(
        d,
        target_utilisation=target,
        low_utilisation=d.low_utilisation - shift,
        high_utilisation=d.high_utilisation - shift,
    )


VARIANTS = (
    Variant("baseline", None),
    Variant("oracle", None),
    Variant("agent (default: 72 % everywhere)", DiagnosisSettings()),
    Variant(
        "agent, slow starters at 60 %",
        DiagnosisSettings(slow_start_s=100.0, slow_start_utilisation=0.6),
    ),
    Variant(
        "agent, slow starters at 50 %",
        DiagnosisSettings(slow_start_s=100.0, slow_start_utilisation=0.5),
    ),
    Variant(
        "agent, N+1 by node, pods ≥ 100 s",
        DiagnosisSettings(node_loss_start_s=100.0),
    ),
    Variant(
        "agent, N+1 by node, pods ≥ 60 s",
        DiagnosisSettings(node_loss_start_s=60.0),
    ),
    Variant(
        "agent, N+1 by node, pods ≥ 60 s, 85 %",
        DiagnosisSettings(node_loss_start_s=60.0, node_loss_utilisation=0.85),
    ),
    Variant("agent, every service at 60 %", _band(0.6)),
    Variant("agent, every service at 50 %", _band(0.5)),
    Variant("agent, every service at 40 %", _band(0.4)),
)


def _controller(v: Variant) -> Callable[[], Controller]:
    if v.diagnosis is None:
        return lambda: make(v.label)
    d = v.diagnosis
    return lambda: AgentController(AgentControllerSettings(diagnosis=d))


def _one(job: tuple[int, str]) -> tuple[int, str, float, float]:
    """Runs variant `i` on one scenario file: (i, file, SLO-violation minutes, replica-hours)."""
    i, path = job
    result = run(load_scenario(path), _controller(VARIANTS[i])())
    return i, path, result.metrics.slo_violation_minutes, result.metrics.replica_hours


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=Path, default=default_scenario_dir())
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument(
        "--per-scenario",
        metavar="LABEL",
        help="also print each scenario's figures for the variant whose label starts with LABEL, "
        "beside the default agent's (e.g. 'agent, N+1 by node, pods ≥ 60 s')",
    )
    args = ap.parse_args()
    other = _variant(args.per_scenario) if args.per_scenario else None
    files = sorted(str(p) for p in args.scenarios.glob("*.yaml"))
    if not files:
        raise SystemExit(f"no scenario files (*.yaml) in {args.scenarios}")
    started = time.perf_counter()
    slo = [0.0] * len(VARIANTS)
    rh = [0.0] * len(VARIANTS)
    jobs = [(i, f) for i in range(len(VARIANTS)) for f in files]
    each: dict[tuple[int, str], tuple[float, float]] = {}
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        for i, path, minutes, hours in pool.map(_one, jobs):
            slo[i] += minutes
            rh[i] += hours
            each[(i, path)] = (minutes, hours)
    base, orc = 0, 1  # indexes of baseline and oracle in VARIANTS
    print(f"{len(files)} scenarios; suite totals")
    head = ("controller", "SLO min", "×base", "×oracle", "replica h", "×base")
    width = max(len(v.label) for v in VARIANTS)
    print(f"{{:{width}}} {{:>8}} {{:>6}} {{:>8}} {{:>10}} {{:>6}}".format(*head))
    for i, v in enumerate(VARIANTS):
        print(
            f"{v.label:{width}} {slo[i]:8.1f} {ratio(slo[i], slo[base]):6.2f} "
            f"{ratio(slo[i], slo[orc]):8.2f} {rh[i]:10.1f} {ratio(rh[i], rh[base]):6.3f}"
        )
    if other is not None:
        _per_scenario(other, files, each)
    print(f"({time.perf_counter() - started:.0f} s wall)")


def _variant(label: str) -> int:
    """The index of the first variant whose label starts with `label`."""
    for i, v in enumerate(VARIANTS):
        if v.label.startswith(label):
            return i
    raise SystemExit(f"no variant label starts with {label!r}")


def _per_scenario(
    other: int, files: list[str], each: dict[tuple[int, str], tuple[float, float]]
) -> None:
    """Each scenario under the default agent and under variant `other`."""
    default = _variant("agent (default")
    print(f"\nper scenario: {VARIANTS[default].label} → {VARIANTS[other].label}")
    for f in files:
        (m0, h0), (m1, h1) = each[(default, f)], each[(other, f)]
        print(
            f"{Path(f).stem:18} {m0:6.1f} min {h0:7.1f} h → {m1:6.1f} min {h1:7.1f} h"
            f"   ({m1 - m0:+.1f} min, {h1 - h0:+.1f} h)"
        )


if __name__ == "__main__":
    main()
