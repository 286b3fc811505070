"""`quarterdeck bench`: every scenario of a folder × every controller, as a table or JSON.

Extra controllers (e.g. `agent` from quarterdeck.agents, which the simulator may not import)
come from `sim_cmd.EXTRA_CONTROLLERS`, the one registry both commands read; registered extras
join the default controller list.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli.errors import bad_input

if TYPE_CHECKING:
    from quarterdeck.sim.bench import BenchReport, ControllerFactory
    from quarterdeck.sim.scenario import Scenario


def register(app: typer.Typer) -> None:
    """Adds `bench` to the root app."""
    app.command("bench")(bench_cmd)


def bench_cmd(
    scenarios: Annotated[
        Path | None,
        typer.Option(
            "--scenarios", help="Folder of scenario YAML files (default: cluster-sim/scenarios)."
        ),
    ] = None,
    controllers: Annotated[
        str | None,
        typer.Option(
            "--controllers",
            help="Comma-separated controllers (default: none,hpa,baseline,oracle + registered"
            " extras such as agent).",
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help='Write {"format": 1, "rows": [...]} to this file.'),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override every scenario's seed.", min=0)] = None,
) -> None:
    """Run every scenario with every controller; print the SCENARIOS.md metrics with each
    controller's ratio to baseline and to oracle."""
    from quarterdeck.cli.sim_cmd import EXTRA_CONTROLLERS
    from quarterdeck.sim.bench import (
        DEFAULT_CONTROLLERS,
        BenchError,
        load_suite,
        resolve_controllers,
    )

    names = (
        [n.strip() for n in controllers.split(",") if n.strip()]
        if controllers is not None
        else [*DEFAULT_CONTROLLERS, *sorted(set(EXTRA_CONTROLLERS) - set(DEFAULT_CONTROLLERS))]
    )
    try:
        factories = resolve_controllers(names, EXTRA_CONTROLLERS)
        suite = load_suite(_scenario_dir(scenarios))
    except BenchError as exc:
        bad_input(str(exc))
    report = _run_with_progress(suite, factories, seed)
    if json_out is not None:
        try:
            json_out.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            bad_input(f"cannot write {json_out}: {exc}")
    _print_table(report)
    if json_out is not None:
        typer.echo(f"rows written to {json_out}")


def _scenario_dir(given: Path | None) -> Path:
    """The folder as given; a relative one that does not exist here is tried from the repo."""
    from quarterdeck.sim.bench import default_scenario_dir

    default = default_scenario_dir()
    if given is None:
        return default
    if given.exists() or given.is_absolute():
        return given
    from_repo = default.parents[1] / given
    return from_repo if from_repo.exists() else given


def _run_with_progress(
    suite: list[Scenario], factories: dict[str, ControllerFactory], seed: int | None
) -> BenchReport:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from quarterdeck.sim.bench import run_bench

    total = sum(s.duration for s in suite) * len(factories)
    finished = 0.0
    last: dict[str, float] = {}
    with Progress(
        TextColumn("{task.description:<40}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=Console(stderr=True), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("bench", total=total)

        def progress(scenario: str, controller: str, done: float, duration: float) -> None:
            nonlocal finished
            key = f"{scenario} · {controller}"
            if key not in last:  # a new run: the previous one has finished
                finished += sum(last.values())
                last.clear()
                last[key] = 0.0
            last[key] = done
            bar.update(task, completed=finished + done, description=key)

        return run_bench(suite, factories, seed=seed, progress=progress)


def _fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    if math.isinf(x):
        return "∞"
    return f"{x:.2f}"


def _mitigation(row: dict[str, Any]) -> str:
    items = row["time_to_mitigate_s"]
    if not items:
        return "—"
    done = [x["seconds"] for x in items if x["seconds"] is not None]
    worst = f", max {max(done):.0f}s" if done else ""
    return f"{len(done)}/{len(items)}{worst}"


def _print_table(report: BenchReport) -> None:
    from rich.console import Console
    from rich.table import Table

    refs = [r for r in ("baseline", "oracle") if r in report.controllers()]
    table = Table(title="quarterdeck bench", show_lines=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("controller", no_wrap=True)
    table.add_column("SLO min", justify="right")
    for r in refs:
        table.add_column(f"×{r}", justify="right")
    table.add_column("replica h", justify="right")
    for r in refs:
        table.add_column(f"×{r}", justify="right")
    for col in ("GPU h", "failed %", "mitigated", "actions s/rb/rt/rs", "wall s"):
        table.add_column(col, justify="right", no_wrap=True)

    def cells(row: dict[str, Any], ratio: Any) -> list[str]:
        failed = row["failed_requests"] / row["total_requests"] if row["total_requests"] else 0.0
        out = [f"{row['slo_violation_minutes']:.1f}"]
        out += [_fmt_ratio(ratio(r, "slo_violation_minutes")) for r in refs]
        out += [f"{row['replica_hours']:.1f}"]
        out += [_fmt_ratio(ratio(r, "replica_hours")) for r in refs]
        out += [f"{row['gpu_hours']:.1f}", f"{100 * failed:.2f}"]
        return out

    for i, scn in enumerate(report.scenarios()):
        if i:
            table.add_section()
        for c in report.controllers():
            row = report.row(scn, c)
            if row is None:
                continue
            a = row["actions"]
            acts = f"{a['scale']}/{a['rollback']}/{a['route']}/{a['restart']}"
            table.add_row(
                scn if c == report.controllers()[0] else "",
                c,
                *cells(row, lambda ref, key, row=row: report.ratio_to(row, ref, key)),
                _mitigation(row),
                acts,
                f"{row['wall_seconds']:.2f}",
            )
    table.add_section()
    for t in report.totals():
        c = t["controller"]
        table.add_row(
            "[bold]TOTAL[/]",
            c,
            *cells(t, lambda ref, key, c=c: report.total_ratio(c, ref, key)),
            "",
            "",
            f"{t['wall_seconds']:.2f}",
        )
    console = Console()
    if not console.is_terminal:  # piped or redirected: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)
