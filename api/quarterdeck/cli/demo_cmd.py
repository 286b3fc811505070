"""`quarterdeck demo`: the main job, on the embedded simulator with no key and no network.

One simulated hour of a small ML cluster with a few incidents; the four agents run the loop in
`auto` mode under the default policies; a live view shows services and decisions; an action the
policy says needs a human is put to the person at the terminal (or approved by `--yes`); then a
summary against the comparison controllers, a plot, and an audit-log verification.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.errors import EXIT_CHECK_FAILED, bad_input
from quarterdeck.cli.reasoner_opts import NodeLossOption, describe_sizing, node_loss_start

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from quarterdeck.agents.approvals import Approval
    from quarterdeck.agents.embedded import Embedded
    from quarterdeck.agents.loop import LoopEvent, LoopStep
    from quarterdeck.core.models import Action, ActionProposal
    from quarterdeck.sim.runner import ActionRecord

DEMO_APPROVER = "demo:operator"
# The bundled demo's scripted chat request: at 16 min the on-call engineer asks for more traffic
# on the recommender canary than one step the policy allows, so a human must approve it.
DEMO_CHAT = (16 * 60.0, "demo:on-call", "send 60% of recommender traffic to v2")
_COLOURS = {
    "incident_opened": "red",
    "incident_closed": "green",
    "standing_still": "yellow",
    "executed": "cyan",
    "verified": "magenta",
    "waiting": "dim",
    "error": "bold red",
}
_QUIET = {"waiting", "nothing_to_do"}


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)


def default_demo_scenario() -> Path:
    from quarterdeck.cli.sim_cmd import default_scenario

    return default_scenario().with_name("demo.yaml")


def demo_cmd(
    *,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve what the policy sends to a human.")
    ] = False,
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario YAML (default: the bundled demo.yaml).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the run's audit log, plot and JSON go.")] = Path(
        ".quarterdeck/demo"
    ),
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.", min=0)] = None,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="Live view (default when on a terminal).")
    ] = True,
    node_loss_headroom: NodeLossOption = None,
) -> None:
    """Run the agents on a simulated cluster with a few incidents, end to end."""
    from quarterdeck.sim.scenario import ScenarioError, load_scenario

    path = scenario or default_demo_scenario()
    if not path.is_file():
        bad_input(f"scenario file not found: {path}")
    try:
        load_scenario(path)
    except ScenarioError as e:
        bad_input(str(e))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir = out / f"{path.stem}-{stamp}"
    node_loss = node_loss_start(node_loss_headroom)
    ok = asyncio.run(_demo(path, run_dir, yes=yes, seed=seed, live=live, node_loss=node_loss))
    if not ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@dataclass
class _Tally:
    actions: Counter[str] = field(default_factory=Counter)
    denied: int = 0
    approvals: int = 0
    log: list[ActionRecord] = field(default_factory=list)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=12))

    def applied(self, at: float, proposal: ActionProposal, action: Action, message: str) -> None:
        """Counts an applied action and keeps it for the plot's markers and the run's JSON."""
        from quarterdeck.sim.runner import ActionRecord

        self.actions[action.kind] += 1
        self.log.append(
            ActionRecord(
                t=at,
                target=str(proposal.target),
                kind=action.kind,
                action=action.model_dump(mode="json"),
                outcome="applied",
                message=message,
                proposal_id=proposal.id,
            )
        )


async def _demo(
    path: Path,
    run_dir: Path,
    *,
    yes: bool,
    seed: int | None,
    live: bool,
    node_loss: float | None = None,
) -> bool:
    from rich.console import Console
    from rich.live import Live

    from quarterdeck.agents.brain.diagnosis import DiagnosisSettings
    from quarterdeck.agents.embedded import build_embedded
    from quarterdeck.agents.loop import LoopMode
    from quarterdeck.agents.reasoning.embedded import EmbeddedReasoner
    from quarterdeck.audit import resolve_key

    console = Console(highlight=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = resolve_key(run_dir / "audit.key", {}, create=True)
    emb = build_embedded(
        path,
        run_dir / "state",
        mode=LoopMode.AUTO,
        audit_key=key,
        seed=seed,
        audit_path=run_dir / "audit.db",
        reasoner=EmbeddedReasoner(DiagnosisSettings(node_loss_start_s=node_loss)),
    )
    console.rule(f"[bold]Quarterdeck demo[/] · {emb.sim.scenario.name}")
    console.print(emb.sim.scenario.description.strip(), style="dim")
    console.print(
        "Agents: coordinator, observer, planner, executor (A2A, in process) · reasoner: embedded"
        f" · sizing: {describe_sizing(node_loss)} · policies: default · loop mode: auto\n"
    )
    tally = _Tally()
    interval = emb.sim.scenario.controller_interval
    use_live = live and console.is_terminal
    chatted = False
    try:
        view = Live(console=console, refresh_per_second=8, transient=False) if use_live else None
        if view:
            view.start()
        while not emb.sim.done:
            emb.sim.advance(min(interval, emb.sim.duration - emb.sim.now))
            step = await emb.runtime.loop_once()
            _take(step, tally, console if view is None else None)
            if emb.sim.scenario.name == "demo" and not chatted and emb.sim.now >= DEMO_CHAT[0]:
                chatted = True
                await _chat(emb, tally, console if view is None else None)
            pending = [a for a in await emb.runtime.approvals() if a.pending]
            if pending:
                if view:
                    view.stop()
                for approval in pending:
                    await _ask(emb, approval, tally, console, yes=yes)
                if view:
                    view.start()
            if view:
                view.update(_screen(emb, tally))
        if view:
            view.update(_screen(emb, tally))
            view.stop()
    finally:
        await emb.runtime.aclose()
    return _summary(emb, tally, run_dir, console)


def _take(step: LoopStep, tally: _Tally, echo: Console | None) -> None:
    for e in step.events:
        if e.kind == "executed" and e.proposal is not None:
            if e.status == "applied":
                tally.applied(step.at, e.proposal, e.proposal.action, e.message)
            elif e.status == "denied":
                tally.denied += 1
        if e.kind in _QUIET:
            continue
        line = _line(step.at, e)
        tally.recent.append(line)
        if echo is not None:
            echo.print(line)


async def _chat(emb: Embedded, tally: _Tally, echo: Console | None) -> None:
    """The on-call engineer's chat request, sent to the coordinator like any other."""
    from rich.markup import escape

    from quarterdeck.core.durations import format_duration

    _, who, text = DEMO_CHAT
    reply = await emb.runtime.ask(text, who)
    said = reply.text.strip().splitlines()
    lines = [f"t={format_duration(emb.sim.now):>7}  [bold]chat[/] {escape(who)}: “{escape(text)}”"]
    lines += [f"           coordinator: {escape(ln)}" for ln in said[-2:]]
    for line in lines:
        tally.recent.append(line)
        if echo is not None:
            echo.print(line)


def _line(at: float, e: LoopEvent) -> str:
    from rich.markup import escape

    from quarterdeck.core.durations import format_duration

    colour = _COLOURS.get(e.kind, "white")
    status = f" [{escape(e.status)}]" if e.status else ""
    return (
        f"t={format_duration(at):>7}  [{colour}]{e.kind:<15}[/] {escape(e.service)}"
        f"{escape(status)}  {escape(e.message)}"
    )


def _screen(emb: Embedded, tally: _Tally) -> RenderableType:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    from quarterdeck.core.durations import format_duration

    sim = emb.sim
    table = Table(
        expand=True,
        title=f"t = {format_duration(sim.now)} / {format_duration(sim.duration)}",
        title_justify="left",
    )
    for col in ("service", "version", "ready/desired", "load rps", "p95 ms (SLO)", "errors"):
        table.add_column(col, justify="left" if col in ("service", "version") else "right")
    for s in sim.services():
        w = sim.window(s.namespace, s.name, 60)
        p95 = w.p95_ms if w.p95_ms is not None else float("nan")
        over = p95 > s.slo_p95_latency_ms or w.error_ratio > s.slo_error_ratio
        style = "red" if over else ""
        weights = {v: pct for v, pct in s.route_weights.items() if pct}
        table.add_row(
            f"{s.namespace}/{s.name}",
            ", ".join(f"{v} {pct}%" for v, pct in sorted(weights.items())) or s.version,
            f"{s.ready_replicas}/{s.spec_replicas}",
            f"{w.request_rate:,.0f}",
            f"{p95:,.0f} ({s.slo_p95_latency_ms:,.0f})",
            f"{w.error_ratio:.2%}",
            style=style,
        )
    decisions = "\n".join(tally.recent) or "[dim]watching…[/]"
    return Group(table, Panel(decisions, title="agents' decisions", border_style="blue"))


async def _ask(
    emb: Embedded, approval: Approval, tally: _Tally, console: Console, *, yes: bool
) -> None:
    from rich.markup import escape
    from rich.panel import Panel
    from rich.prompt import Confirm

    tally.approvals += 1
    p, v = approval.proposal, approval.verdict
    rules = "\n".join(
        f"  • {escape(m.rule_id)} ({m.effect}): {escape(m.message)}" for m in v.matches
    )
    action = escape(v.action.model_dump_json())
    console.print(
        Panel(
            f"[bold]{escape(str(p.target))}[/]: {action}\n"
            f"why: {escape(p.reason)}\n"
            f"requested by: {escape(p.requested_by)} · proposal {escape(p.id)}\n"
            f"the guard says [bold yellow]{v.decision.value}[/]:\n{rules}",
            title="approval needed",
            border_style="yellow",
        )
    )
    if yes:
        approve, note = True, "approved by --yes"
    elif sys.stdin.isatty():
        approve = Confirm.ask("Approve this action?", default=True, console=console)
        note = "approved at the demo prompt" if approve else "rejected at the demo prompt"
    else:
        approve, note = False, "no terminal to ask and no --yes: rejected (the safe default)"
    outcome = await emb.runtime.decide(p.id, approve=approve, principal=DEMO_APPROVER, comment=note)
    console.print(f"  → {escape(note)}: {escape(outcome.message)}\n")
    if (outcome.report or {}).get("status") == "applied":
        tally.applied(emb.sim.now, p, v.action, outcome.message)


def _summary(emb: Embedded, tally: _Tally, run_dir: Path, console: Console) -> bool:
    import json

    from rich.table import Table

    from quarterdeck.core.models import ACTION_KINDS
    from quarterdeck.sim.controllers import make
    from quarterdeck.sim.plot import plot_run
    from quarterdeck.sim.runner import RunResult, run

    scenario = emb.sim.scenario
    agent = RunResult(
        scenario=scenario.name,
        controller="agent (demo)",
        seed=emb.sim.seed,
        duration=scenario.duration,
        metrics=emb.sim.metrics.summary(),
        actions={k: tally.actions.get(k, 0) for k in ACTION_KINDS},
        invalid_actions=0,
        denied=tally.denied,
        approvals_requested=tally.approvals,
        wall_seconds=0.0,
        action_log=tuple(tally.log),
        timeline=emb.sim.metrics.timeline(),
    )
    rows = [run(scenario, make(name), emb.sim.seed) for name in ("none", "hpa", "baseline")] + [
        agent
    ]
    table = Table(title="the same hour under each controller")
    for col in ("controller", "SLO min", "failed", "replica h", "actions", "denied", "asked"):
        table.add_column(col, justify="left" if col == "controller" else "right")
    for r in rows:
        table.add_row(
            r.controller,
            f"{r.metrics.slo_violation_minutes:.1f}",
            f"{r.metrics.failed_requests:,.0f}",
            f"{r.metrics.replica_hours:.2f}",
            ", ".join(f"{k} {n}" for k, n in r.actions.items() if n) or "—",
            str(r.denied),
            str(r.approvals_requested),
            style="bold" if r is agent else "",
        )
    console.print()
    console.print(table)
    plot = plot_run(agent, run_dir / "demo.png", scenario=scenario)
    (run_dir / "demo.json").write_text(json.dumps(agent.to_json_dict(), indent=2) + "\n")
    result = emb.audit.verify()
    entries = emb.audit.count()
    console.print(f"\nplot: {plot}\nrun JSON: {run_dir / 'demo.json'}")
    console.print(f"audit log: {emb.audit_path} ({entries} entries)")
    console.print(f"audit verify: {result.summary()}", style="green" if result.ok else "bold red")
    console.print(
        f"\nnext: quarterdeck audit list --db {emb.audit_path} --kind approval\n"
        f"      quarterdeck audit verify --db {emb.audit_path} --key-file {run_dir / 'audit.key'}"
    )
    return result.ok
