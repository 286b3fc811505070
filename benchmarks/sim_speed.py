"""How fast the simulator runs: 50 services × 24 h at 1 s ticks with the `none` controller.

    .venv/bin/python benchmarks/sim_speed.py [--hours 24] [--scenario FILE] [--profile]

Loads cluster-sim/scenarios/fifty-services.yaml (50 services) and stretches it to `--hours`, runs
it through the runner (controller called every 15 s, as in `quarterdeck bench`), and prints
simulated service-seconds per wall second and the peak RSS. Target: ≤ 30 s wall (goal ≤ 10 s),
< 1 GiB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import yaml

from quarterdeck.sim.controllers import make
from quarterdeck.sim.runner import run
from quarterdeck.sim.scenario import scenario_from_dict

DEFAULT = Path(__file__).resolve().parents[1] / "cluster-sim" / "scenarios" / "fifty-services.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=DEFAULT)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--controller", default="none")
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    args = ap.parse_args()
    data = yaml.safe_load(args.scenario.read_text(encoding="utf-8"))
    data["duration"] = f"{int(args.hours * 3600)}s"
    scn = scenario_from_dict(data, args.scenario)
    ctl = make(args.controller)
    started = time.perf_counter()
    cpu0 = time.process_time()
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        result = prof.runcall(run, scn, ctl)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    else:
        result = run(scn, ctl)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    svc_seconds = len(scn.services) * scn.duration
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    m = result.metrics
    print(
        f"{scn.name}: {len(scn.services)} services × {scn.duration / 3600:g} h at "
        f"{scn.tick:g} s ticks, controller {ctl.name}"
    )
    print(
        f"wall {wall:.2f} s · {svc_seconds / wall:,.0f} simulated service-seconds per wall second"
    )
    print(f"cpu {cpu:.2f} s (wall exceeds it when other processes share the cores)")
    print(f"peak RSS {rss_mib:,.0f} MiB")
    print(
        f"slo_violation_minutes {m.slo_violation_minutes:.1f} · replica_hours "
        f"{m.replica_hours:.1f} · total_requests {m.total_requests:,.0f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
