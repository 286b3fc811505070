"""`quarterdeck sim …`: run a scenario against a controller (and, later, serve the simulator).

`sim_app` is the group; each command is a function registered on it below. `sim serve` belongs
in this module too, beside `run` (see the marked place at the end).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.errors import bad_input

if TYPE_CHECKING:
    from quarterdeck.sim.controllers.base import Controller
    from quarterdeck.sim.runner import RunResult


def default_scenario() -> Path:
    """flash-sale.yaml from the source tree, or from an installed wheel's shared data."""
    import sys

    here = Path(__file__).resolve().parents[3] / "cluster-sim" / "scenarios" / "flash-sale.yaml"
    installed = Path(sys.prefix) / "share" / "quarterdeck" / "scenarios" / "flash-sale.yaml"
    return here if here.exists() or not installed.exists() else installed


# Controllers the simulator cannot build itself because they live in higher layers (e.g. the
# `agent` controller from quarterdeck.agents). Name -> zero-argument factory. Whoever provides one
# adds it here (or calls `EXTRA_CONTROLLERS[name] = factory` at import time of their module).


def _agent_controller() -> Controller:
    from quarterdeck.agents.controller import make_agent_controller

    return make_agent_controller()


EXTRA_CONTROLLERS: dict[str, Callable[[], Controller]] = {"agent": _agent_controller}

sim_app = typer.Typer(
    name="sim", help="Run and serve the deterministic cluster simulator.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Adds the `sim` group to the root app."""
    app.add_typer(sim_app, name="sim")


def controller_names() -> list[str]:
    from quarterdeck.sim.controllers import known

    return sorted(set(known()) | set(EXTRA_CONTROLLERS))


def make_controller(name: str) -> Controller:
    """A controller by name (the simulator's own, or an extra one); bad_input if unknown."""
    if name in EXTRA_CONTROLLERS:
        return EXTRA_CONTROLLERS[name]()
    from quarterdeck.sim.controllers import make

    try:
        return make(name)
    except ValueError:
        bad_input(f"unknown controller {name!r}; known: {', '.join(controller_names())}")


@sim_app.command("run")
def run_cmd(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario YAML file (default: the bundled flash-sale scenario)."),
    ] = None,
    controller: Annotated[
        str, typer.Option("--controller", "-c", help="none, hpa, baseline, oracle or agent.")
    ] = "none",
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.", min=0)] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the metrics as JSON to this file.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a plot of the run (PNG/SVG).")] = None,
) -> None:
    """Run SCENARIO from start to end with a controller; print the metrics per service."""
    from quarterdeck.sim.runner import run
    from quarterdeck.sim.scenario import ScenarioError, load_scenario

    path = scenario or default_scenario()
    try:
        scn = load_scenario(path)
    except ScenarioError as exc:
        bad_input(str(exc))
    ctl = make_controller(controller)
    result = _run_with_progress(
        scn.duration * len(scn.services) / scn.tick, lambda p: run(scn, ctl, seed, p)
    )
    _print_summary(result)
    if json_out is not None:
        text = json.dumps(result.to_json_dict(), indent=2, sort_keys=False) + "\n"
        try:
            json_out.write_text(text, encoding="utf-8")
        except OSError as exc:
            bad_input(f"cannot write {json_out}: {exc}")
    if plot is not None:
        _plot(result, plot)


def _run_with_progress(
    work: float, go: Callable[[Callable[[float, float], None] | None], RunResult]
) -> RunResult:
    """A rich progress bar (on stderr) for runs big enough to take a noticeable while."""
    if work < 300_000:  # service-ticks; below this a run takes about a second or less
        return go(None)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("sim", total=1.0)

        def progress(done: float, total: float) -> None:
            bar.update(task, completed=done / total if total else 1.0)

        return go(progress)


def _print_summary(result: RunResult) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result.metrics
    table = Table(title=f"{result.scenario} · controller {result.controller} · seed {result.seed}")
    for col in ("service", "SLO violation min", "failed", "total", "replica h", "GPU h"):
        table.add_column(col, justify="left" if col == "service" else "right")
    for s in m.per_service:
        table.add_row(
            f"{s.namespace}/{s.name}", f"{s.slo_violation_minutes:.1f}",
            f"{s.failed_requests:,.0f}", f"{s.total_requests:,.0f}", f"{s.replica_hours:.2f}",
            f"{s.gpu_hours:.2f}",
        )  # fmt: skip
    table.add_section()
    table.add_row(
        "[bold]total[/]", f"{m.slo_violation_minutes:.1f}", f"{m.failed_requests:,.0f}",
        f"{m.total_requests:,.0f}", f"{m.replica_hours:.2f}", f"{m.gpu_hours:.2f}",
    )  # fmt: skip
    out = Console()
    out.print(table)
    for x in m.time_to_mitigate_s:
        took = "never" if x.seconds is None else f"{x.seconds:.0f}s"
        out.print(f"  {x.type} on {x.service} at {x.at:.0f}s broke the SLO; mitigated: {took}")
    acts = ", ".join(f"{k} {v}" for k, v in result.actions.items())
    out.print(
        f"actions: {acts}; invalid {result.invalid_actions}; denied {result.denied}; "
        f"approvals requested {result.approvals_requested}; wall {result.wall_seconds:.2f}s"
    )


def _plot(result: RunResult, path: Path) -> None:
    import importlib

    try:
        plot_run = importlib.import_module("quarterdeck.sim.plot").plot_run
    except (ImportError, AttributeError):
        bad_input("plotting is not available yet (quarterdeck.sim.plot is missing)")
    try:
        plot_run(result, path)
    except OSError as exc:
        bad_input(f"cannot write {path}: {exc}")
    typer.echo(f"plot written to {path}")


# -- `quarterdeck sim serve` goes here: another @sim_app.command("serve") ----------------------
@sim_app.command("serve")
def serve_cmd(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario YAML file (default: the bundled flash-sale scenario)."),
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port (0: a free one).", min=0, max=65535)] = 8080,
    speed: Annotated[float, typer.Option(help="Sim seconds per wall second (0: paused).")] = 1.0,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.", min=0)] = None,
) -> None:
    """Serve SCENARIO's Kubernetes API, Prometheus API and /metrics, advancing in real time."""
    from quarterdeck.sim.wire.server import serve_scenario

    try:
        serve_scenario(scenario or default_scenario(), host=host, port=port, speed=speed, seed=seed)
    except ValueError as exc:
        bad_input(str(exc))
