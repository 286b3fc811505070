"""Commands that run the agents: `quarterdeck loop` (the autonomous loop on the simulator).

Each command is a small function registered in `register`; the REST, chat and demo commands
belong here too, beside `loop`, and share `_embedded` (the simulator + agents wiring) and
`_audit_key`. Heavy imports stay inside the functions so `--help` is fast.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.errors import bad_input, stderr
from quarterdeck.cli.reasoner_opts import (
    LlmModelOption,
    LlmUrlOption,
    NodeLossOption,
    ReasonerOption,
    llm_settings,
    node_loss_start,
)
from quarterdeck.core.heap import freeze_startup_heap

if TYPE_CHECKING:
    from quarterdeck.agents.embedded import Embedded
    from quarterdeck.agents.loop import LoopMode, LoopStep
    from quarterdeck.agents.reasoning.openai_compat import LLMSettings
    from quarterdeck.audit import AuditKey

MODES = ("observe", "suggest", "approve", "auto")
DEFAULT_STATE = Path(".quarterdeck")


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the root app."""
    app.command("loop")(loop_cmd)


def _audit_key(key_file: Path | None) -> AuditKey:
    from quarterdeck.audit import AuditKeyError, resolve_key

    try:
        return resolve_key(key_file, os.environ, create=True)
    except AuditKeyError as e:
        bad_input(f"{e} (use --key-file or set QUARTERDECK_AUDIT_KEY_FILE)")


def _embedded(
    scenario: Path | None,
    *,
    state_dir: Path,
    mode: LoopMode,
    key_file: Path | None,
    seed: int | None,
    llm: LLMSettings | None = None,
    node_loss_start_s: float | None = None,
) -> Embedded:
    """The simulator from `scenario` and the agents on it; bad input exits 2 with the reason."""
    from quarterdeck.agents.brain.diagnosis import DiagnosisSettings
    from quarterdeck.agents.embedded import build_embedded
    from quarterdeck.agents.reasoning.openai_compat import make_reasoner
    from quarterdeck.cli.sim_cmd import default_scenario
    from quarterdeck.policies.loader import PolicyLoadError
    from quarterdeck.sim.scenario import ScenarioError
    from quarterdeck.tools.signals import CatalogError

    path = scenario or default_scenario()
    if not path.is_file():
        bad_input(f"scenario file not found: {path}")
    # A simulated world starts fresh on every run, so its approvals and executions do too; the
    # audit log is shared so `quarterdeck audit list` sees every run.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    run_dir = state_dir / "runs" / f"loop-{path.stem}-{stamp}"
    try:
        return build_embedded(
            path,
            run_dir,
            mode=mode,
            audit_key=_audit_key(key_file),
            seed=seed,
            audit_path=state_dir / "audit.db",
            reasoner=make_reasoner(llm, DiagnosisSettings(node_loss_start_s=node_loss_start_s)),
        )
    except (ScenarioError, PolicyLoadError, CatalogError) as e:
        bad_input(str(e))


def _clock(t: float) -> str:
    from quarterdeck.core.durations import format_duration

    return f"t={format_duration(t):>8}"


def _print_step(step: LoopStep, quiet: bool) -> None:
    from rich.console import Console

    out = Console(highlight=False)
    if not step.events:
        if not quiet:
            healthy = sum(1 for h in step.health if h.health.value == "ok")
            out.print(f"{_clock(step.at)}  [dim]{healthy}/{len(step.health)} services ok[/]")
        return
    for e in step.events:
        colour = {
            "incident_opened": "red",
            "incident_closed": "green",
            "standing_still": "yellow",
            "executed": "cyan",
            "verified": "magenta",
            "error": "bold red",
        }.get(e.kind, "white")
        status = f" [{e.status}]" if e.status else ""
        out.print(f"{_clock(step.at)}  [{colour}]{e.kind:<15}[/] {e.service}{status}  {e.message}")


def loop_cmd(
    *,
    mode: Annotated[
        str, typer.Option("--mode", help="observe | suggest | approve | auto.", show_default=True)
    ] = "observe",
    scenario: Annotated[
        Path | None,
        typer.Option("--scenario", help="Scenario YAML (default: the bundled flash-sale)."),
    ] = None,
    interval: Annotated[
        str, typer.Option("--interval", help="Simulated time between steps (15s, 1m).")
    ] = "15s",
    steps: Annotated[
        int | None,
        typer.Option("--steps", help="Stop after N steps (default: at the scenario's end).", min=1),
    ] = None,
    state_dir: Annotated[
        Path,
        typer.Option(
            "--state-dir", help="Where the audit log and each run's state go.", show_default=True
        ),
    ] = DEFAULT_STATE,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="The audit log's HMAC key file.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.", min=0)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only steps with events.")] = False,
    reasoner: ReasonerOption = "embedded",
    llm_url: LlmUrlOption = None,
    llm_model: LlmModelOption = None,
    node_loss_headroom: NodeLossOption = None,
) -> None:
    """Run the autonomous loop on a simulated cluster: every interval, observe every service and
    act per the mode (observe: report; suggest: propose, apply nothing; approve: wait for a
    human; auto: apply what policy allows, ask for the rest). Everything goes to the audit log."""
    from quarterdeck.agents.loop import LoopMode
    from quarterdeck.core.durations import parse_duration

    if mode not in MODES:
        bad_input(f"unknown mode {mode!r}; expected one of: {', '.join(MODES)}")
    try:
        every = parse_duration(interval)
    except ValueError as e:
        bad_input(f"--interval: {e}")
    if every <= 0:
        bad_input("--interval must be positive")
    llm = llm_settings(reasoner, url=llm_url, model=llm_model)
    run = _embedded(
        scenario,
        state_dir=state_dir,
        mode=LoopMode(mode),
        key_file=key_file,
        seed=seed,
        llm=llm,
        node_loss_start_s=node_loss_start(node_loss_headroom, llm),
    )
    freeze_startup_heap()
    asyncio.run(_run_loop(run, every, steps, quiet))


async def _run_loop(run: Embedded, every: float, steps: int | None, quiet: bool) -> None:
    from collections import Counter

    counts: Counter[str] = Counter()
    taken = 0
    try:
        while (steps is None or taken < steps) and not run.sim.done:
            run.sim.advance(every)
            step = await run.runtime.loop_once()
            taken += 1
            counts.update(e.kind for e in step.events)
            for e in step.events:
                if e.kind == "executed" and e.status:
                    counts[f"executed:{e.status}"] += 1
            _print_step(step, quiet)
        pending = await run.runtime.approvals()
    finally:
        await run.runtime.aclose()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing happened"
    stderr.print(f"{taken} step(s), sim time {_clock(run.sim.now)}: {summary}", highlight=False)
    m = run.sim.metrics.summary()
    stderr.print(
        f"SLO violation {m.slo_violation_minutes:.1f} min, failed requests "
        f"{m.failed_requests:.0f} of {m.total_requests:.0f}, replica-hours {m.replica_hours:.1f}",
        highlight=False,
    )
    for a in pending:
        stderr.print(
            f"waiting for approval: {a.proposal_id} ({a.proposal.kind} {a.proposal.target})",
            highlight=False,
        )
    stderr.print(f"audit log: {run.audit_path}", highlight=False)
