"""`quarterdeck bench` without the terminal: run a scenario × controller matrix, collect the rows.

A row holds exactly the SCENARIOS.md fields (plus scenario, controller and seed), so
`BenchReport.to_json()` is the `--json` file: `{"format": 1, "rows": [...]}`. Ratios to
`baseline` and to `oracle` are computed from those same rows (`ratio_to`), never stored apart.

Controllers are given as zero-argument factories so every run gets a fresh one; the simulator's
own (`none`, `hpa`, `baseline`, `oracle`) come from `controllers.make`, and callers in higher
layers (the CLI) pass extra ones such as `agent`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quarterdeck.sim.controllers import Controller, known, make
from quarterdeck.sim.runner import RunResult, run
from quarterdeck.sim.scenario import Scenario, ScenarioError, load_scenario

ControllerFactory = Callable[[], Controller]
DEFAULT_CONTROLLERS: tuple[str, ...] = ("none", "hpa", "baseline", "oracle")
REFERENCES: tuple[str, ...] = ("baseline", "oracle")
FIELDS: tuple[str, ...] = (
    "scenario", "controller", "seed", "slo_violation_minutes", "failed_requests",
    "total_requests", "replica_hours", "gpu_hours", "time_to_mitigate_s", "actions", "denied",
    "approvals_requested", "wall_seconds",
)  # fmt: skip
"""The keys of one row, in order: SCENARIOS.md's metrics table plus the run's identity."""

# (scenario, controller, sim seconds done in this run, this run's duration)
Progress = Callable[[str, str, float, float], None]


class BenchError(ValueError):
    """Bad bench input (no such folder, no scenarios, unknown controller, bad scenario file)."""


def default_scenario_dir() -> Path:
    """cluster-sim/scenarios in a source checkout, else the copy an installed wheel ships."""
    here = Path(__file__).resolve().parents[2] / "scenarios"
    installed = Path(sys.prefix) / "share" / "quarterdeck" / "scenarios"
    return here if here.is_dir() or not installed.is_dir() else installed


def load_suite(folder: str | Path) -> list[Scenario]:
    """Every `*.yaml` scenario in `folder`, by file name. BenchError if the folder is missing,
    empty, or a file does not load (the message names the file, key and problem)."""
    p = Path(folder)
    if not p.is_dir():
        raise BenchError(f"scenario folder {str(p)!r} does not exist or is not a folder")
    files = sorted(p.glob("*.yaml"))
    if not files:
        raise BenchError(f"no scenario files (*.yaml) in {str(p)!r}")
    try:
        return [load_scenario(f) for f in files]
    except ScenarioError as exc:
        raise BenchError(str(exc)) from None


def resolve_controllers(
    names: Sequence[str], extra: Mapping[str, ControllerFactory] | None = None
) -> dict[str, ControllerFactory]:
    """Factories for `names`, in order; BenchError naming the known controllers if one is not."""
    extra = dict(extra or {})
    available = sorted(set(known()) | set(extra))
    out: dict[str, ControllerFactory] = {}
    for name in names:
        if name in extra:
            out[name] = extra[name]
        elif name in known():
            out[name] = _maker(name)
        else:
            raise BenchError(f"unknown controller {name!r}; known: {', '.join(available)}")
    if not out:
        raise BenchError(f"no controllers given; known: {', '.join(available)}")
    return out


def _maker(name: str) -> ControllerFactory:
    return lambda: make(name)


def row_of(result: RunResult) -> dict[str, Any]:
    """The bench row of one run: exactly `FIELDS`, taken from the runner's JSON dict."""
    full = result.to_json_dict()
    return {k: full[k] for k in FIELDS}


@dataclass
class BenchReport:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "rows": self.rows}

    def controllers(self) -> list[str]:
        return list(dict.fromkeys(r["controller"] for r in self.rows))

    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(r["scenario"] for r in self.rows))

    def row(self, scenario: str, controller: str) -> dict[str, Any] | None:
        return next(
            (r for r in self.rows if r["scenario"] == scenario and r["controller"] == controller),
            None,
        )

    def ratio_to(self, row: dict[str, Any], reference: str, key: str) -> float | None:
        """`row[key]` ÷ the same scenario's `reference` controller's value.

        None when the reference did not run; 1.0 when both are 0; inf when only the reference
        is 0 (the reference had none of it, this controller some).
        """
        ref = self.row(row["scenario"], reference)
        if ref is None:
            return None
        return ratio(float(row[key]), float(ref[key]))

    def totals(self) -> list[dict[str, Any]]:
        """One summed row per controller over the scenarios it ran (for the table's footer)."""
        out = []
        for c in self.controllers():
            mine = [r for r in self.rows if r["controller"] == c]
            out.append(
                {
                    "scenario": "TOTAL",
                    "controller": c,
                    "seed": None,
                    "slo_violation_minutes": sum(r["slo_violation_minutes"] for r in mine),
                    "failed_requests": sum(r["failed_requests"] for r in mine),
                    "total_requests": sum(r["total_requests"] for r in mine),
                    "replica_hours": sum(r["replica_hours"] for r in mine),
                    "gpu_hours": sum(r["gpu_hours"] for r in mine),
                    "wall_seconds": sum(r["wall_seconds"] for r in mine),
                }
            )
        return out

    def total_ratio(self, controller: str, reference: str, key: str) -> float | None:
        tot = {t["controller"]: t for t in self.totals()}
        if controller not in tot or reference not in tot:
            return None
        return ratio(float(tot[controller][key]), float(tot[reference][key]))


def ratio(value: float, reference: float) -> float:
    if reference == 0:
        return 1.0 if value == 0 else math.inf
    return value / reference


def run_bench(
    scenarios: Sequence[Scenario],
    controllers: Mapping[str, ControllerFactory],
    *,
    seed: int | None = None,
    progress: Progress | None = None,
) -> BenchReport:
    """Runs every scenario with every controller (scenario-major order); one row per run."""
    report = BenchReport()
    for scn in scenarios:
        for name, factory in controllers.items():
            ctl = factory()

            def step(done: float, total: float, s: str = scn.name, c: str = name) -> None:
                if progress is not None:
                    progress(s, c, done, total)

            result = run(scn, ctl, seed, step if progress is not None else None)
            row = row_of(result)
            row["controller"] = name  # the name it was asked under (an extra may differ)
            report.rows.append(row)
    return report
