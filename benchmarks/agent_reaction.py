"""How soon the `agent` controller answers each deploy and load spike of the public suite.

    .venv/bin/python benchmarks/agent_reaction.py [--scenarios DIR]

For every `deploy` event: seconds until the agent's first rollback or route on that service (a
bad version's mitigation; a healthy canary's promotion shows here too, after its soak). For every
`load_spike`: seconds until its first scale of that service. Issue 5's targets: a bad version
mitigated within 90 s, a spike answered within 30 s. A canary whose pods take minutes to start
cannot be judged before they serve, so the table also gives the service's pod start-up.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from quarterdeck.agents.controller import make_agent_controller
from quarterdeck.sim.bench import default_scenario_dir
from quarterdeck.sim.runner import ActionRecord, run
from quarterdeck.sim.scenario import load_scenario


def _first(log: tuple[ActionRecord, ...], service: str, kinds: set[str], at: float) -> str:
    hits = [a for a in log if a.target.endswith(f"/{service}") and a.kind in kinds and a.t >= at]
    return f"+{hits[0].t - at:.0f} s" if hits else "never"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=Path, default=default_scenario_dir())
    args = ap.parse_args()
    print(f"{'scenario':18} {'event':42} {'start-up':>8}  first answer")
    for path in sorted(args.scenarios.glob("*.yaml")):
        scenario = load_scenario(path)
        startup = {s.name: s.pod.startup for s in scenario.services}
        log = run(scenario, make_agent_controller()).action_log
        for e in scenario.events:
            if e.type == "deploy":
                what = f"deploy {e.service} {e.version}" + (
                    f" (canary {e.canary_weight} %)" if e.canary_weight else ""
                )
                answer = _first(log, str(e.service), {"rollback", "route"}, e.at)
            elif e.type == "load_spike":
                what = f"load spike {e.service} ×{e.factor:g} over {e.ramp:.0f} s"
                answer = _first(log, str(e.service), {"scale"}, e.at)
            else:
                continue
            up = startup.get(str(e.service), 0.0)
            print(f"{scenario.name:18} {what:42} {up:7.0f}s  {answer}")


if __name__ == "__main__":
    main()
