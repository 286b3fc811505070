"""`quarterdeck dry-run`: the guard's verdict and the predicted effect of one action, offline.

The scenario runs with the `none` controller (which never acts, so that is the simulator simply
advancing) up to `--at`; the action is then judged by the guard and predicted against doing
nothing on forks of that simulator. Nothing real is touched and nothing is audited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.errors import bad_input

if TYPE_CHECKING:
    from quarterdeck.api.dryrun import DryRunResult
    from quarterdeck.core.models import Action, Target
    from quarterdeck.sim.whatif import Comparison


def register(app: typer.Typer) -> None:
    """Adds `dry-run` to the root app."""
    app.command("dry-run")(dry_run_cmd)


def parse_target(text: str) -> Target:
    """`namespace/name` → Target; bad_input naming the problem otherwise."""
    from pydantic import ValidationError

    from quarterdeck.core.models import Target

    ns, sep, name = text.partition("/")
    if not sep or not ns or not name:
        bad_input(f"--service: expected namespace/name (e.g. ml/fraud-detector), got {text!r}")
    try:
        return Target(namespace=ns, service=name)
    except ValidationError as e:
        bad_input(f"--service {text!r}: {_first_error(e)}")


def parse_weights(text: str) -> dict[str, int]:
    """`v1=90,v2=10` → {"v1": 90, "v2": 10}; bad_input naming the bad piece otherwise."""
    weights: dict[str, int] = {}
    for piece in text.split(","):
        version, sep, weight = piece.strip().partition("=")
        if not sep or not version.strip() or not weight.strip().isdigit():
            bad_input(f"--route: expected VERSION=WEIGHT[,VERSION=WEIGHT…], got {piece!r}")
        if version.strip() in weights:
            bad_input(f"--route: version {version.strip()!r} named twice")
        weights[version.strip()] = int(weight)
    return weights


def action_from_options(
    *,
    scale: int | None,
    rollback: str | None,
    route: str | None,
    restart: bool,
    pods: int | None,
    action_json: str | None,
) -> Action:
    """Exactly one of the action options, as a validated `Action`."""
    from pydantic import TypeAdapter, ValidationError

    from quarterdeck.core.models import (
        Action,
        RestartAction,
        RollbackAction,
        RouteAction,
        ScaleAction,
    )

    given = [
        name
        for name, value in (
            ("--scale", scale),
            ("--rollback", rollback),
            ("--route", route),
            ("--restart", restart or None),
            ("--action", action_json),
        )
        if value is not None
    ]
    if len(given) != 1:
        which = f" (got {', '.join(given)})" if given else ""
        bad_input(
            "give exactly one action: --scale N, --rollback REV|VERSION, --route v1=90,v2=10, "
            f"--restart [--pods N] or --action JSON{which}"
        )
    if pods is not None and not restart:
        bad_input("--pods goes with --restart")
    try:
        if scale is not None:
            return ScaleAction(replicas=scale)
        if rollback is not None:
            text = rollback.strip()
            if text.isdigit():
                return RollbackAction(to_revision=int(text))
            return RollbackAction(to_version=text)
        if route is not None:
            return RouteAction(weights=parse_weights(route))
        if restart:
            return RestartAction(pods=pods)
        assert action_json is not None
        return TypeAdapter[Action](Action).validate_json(action_json)
    except ValidationError as e:
        bad_input(f"{given[0]}: {_first_error(e)}")


def _first_error(e: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        return f"{where}: {msg}" if where else msg
    return str(e)


def dry_run_cmd(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario YAML file (not with --url).", show_default=False),
    ] = None,
    *,
    at: Annotated[
        str, typer.Option("--at", help="Scenario time at which to act (20m, 1h30m).")
    ] = "0s",
    service: Annotated[
        str,
        typer.Option("--service", help="Target as namespace/name (ml/fraud-detector)."),
    ] = "",
    scale: Annotated[int | None, typer.Option("--scale", help="Scale to N replicas.")] = None,
    rollback: Annotated[
        str | None, typer.Option("--rollback", help="Roll back to a revision number or version.")
    ] = None,
    route: Annotated[
        str | None, typer.Option("--route", help="Traffic weights, e.g. v1=90,v2=10.")
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Restart pods (all, rolling; or --pods N).")
    ] = False,
    pods: Annotated[
        int | None, typer.Option("--pods", help="With --restart: the N oldest pods.")
    ] = None,
    action_json: Annotated[
        str | None,
        typer.Option(
            "--action", help='A structured action, e.g. \'{"kind":"scale","replicas":6}\'.'
        ),
    ] = None,
    horizon: Annotated[str, typer.Option("--horizon", help="How far ahead to predict.")] = "10m",
    policies: Annotated[
        Path | None,
        typer.Option("--policies", help="Policy folder (default: the shipped default policies)."),
    ] = None,
    requested_by: Annotated[
        str, typer.Option("--as", help="Who the proposal is from (policies may match it).")
    ] = "cli",
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.", min=0)] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the result as JSON to this file.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Ask a running `quarterdeck serve` instead, on its current state "
            "(token: --token or $QUARTERDECK_TOKEN; operator role).",
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Bearer token for --url.", show_default=False)
    ] = None,
) -> None:
    """Show the guard's verdict on an action at time --at of SCENARIO beside its predicted effect.

    The prediction runs --horizon ahead against doing nothing. Nothing real is touched.

    With --url, a running server judges and predicts it on its current state; it applies nothing."""
    from quarterdeck.api.dryrun import dry_run
    from quarterdeck.core.models import ActionProposal
    from quarterdeck.policies.guard import Guard
    from quarterdeck.policies.loader import PolicyLoadError, default_policy_dir, load_policies
    from quarterdeck.sim.engine import Simulator
    from quarterdeck.sim.scenario import ScenarioError, load_scenario
    from quarterdeck.tools.cluster.sim import SimClusterClient

    if not service:
        bad_input("--service namespace/name is required")
    target = parse_target(service)
    action = action_from_options(
        scale=scale,
        rollback=rollback,
        route=route,
        restart=restart,
        pods=pods,
        action_json=action_json,
    )
    at_s = _duration("--at", at)
    horizon_s = _duration("--horizon", horizon)
    if horizon_s <= 0:
        bad_input("--horizon must be positive")
    if url is not None or token is not None:
        given = [
            flag
            for flag, used in (
                ("SCENARIO", scenario is not None),
                ("--at", at != "0s"),
                ("--policies", policies is not None),
                ("--seed", seed is not None),
                ("--as", requested_by != "cli"),
            )
            if used
        ]
        if given:
            bad_input(f"{', '.join(given)}: not with --url (the server uses its own state)")
        _remote(url, token, target=target, action=action, horizon_s=horizon_s, json_out=json_out)
        return
    if scenario is None:
        bad_input("give a SCENARIO file, or --url of a running server")
    if not scenario.is_file():
        bad_input(f"scenario file not found: {scenario}")
    try:
        scn = load_scenario(scenario)
    except ScenarioError as e:
        bad_input(str(e))
    if at_s >= scn.duration:
        bad_input(f"--at {at} is not before the scenario's end ({scn.duration:g} s)")
    policy_dir = policies or default_policy_dir()
    if not policy_dir.exists():
        bad_input(f"--policies: {policy_dir} does not exist")
    try:
        policy_set = load_policies(policy_dir)
    except PolicyLoadError as e:
        bad_input(f"policy files refused:\n{e}")

    sim = Simulator(scn, seed=seed)
    known = [f"{s.namespace}/{s.name}" for s in sim.services()]
    if str(target) not in known:
        bad_input(f"--service {target}: not in {scenario.name} (known: {', '.join(known)})")
    sim.advance(at_s)
    proposal = ActionProposal(
        id="dry-run",
        target=target,
        action=action,
        reason=f"dry-run from the command line at t={at}",
        requested_by=requested_by,
        created_at=sim.now,
    )
    result = dry_run(
        proposal,
        guard=Guard(policy_set),
        cluster=SimClusterClient(sim),
        now=sim.now,
        sim=sim,
        horizon=horizon_s,
    )
    _print(result, scenario=scn.name, at=sim.now)
    if json_out is not None:
        doc = {
            "format": 1,
            "scenario": scn.name,
            "at": sim.now,
            **result.model_dump(mode="json"),
        }
        try:
            json_out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            bad_input(f"cannot write {json_out}: {e.strerror}")


def _remote(
    url: str | None,
    token: str | None,
    *,
    target: Target,
    action: Action,
    horizon_s: float,
    json_out: Path | None,
) -> None:
    """POST the action with `dry_run: true` to a running server and print its answer."""
    from quarterdeck.api.schemas import DryRunResponse
    from quarterdeck.cli.remote_cmd import Remote

    body = {
        "target": target.model_dump(mode="json"),
        "action": action.model_dump(mode="json"),
        "reason": "dry-run from the command line",
        "dry_run": True,
        "horizon_s": horizon_s,
    }
    with Remote(url, token) as server:
        answer = server.call("POST", "/v1/actions", json=body, what=str(target))
    result = DryRunResponse.model_validate(answer).result
    at = result.prediction.start if result.prediction is not None else result.proposal.created_at
    _print(result, scenario=server.url, at=at)
    if json_out is not None:
        doc = {"format": 1, "server": server.url, "at": at, **result.model_dump(mode="json")}
        try:
            json_out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            bad_input(f"cannot write {json_out}: {e.strerror}")


def _duration(option: str, text: str) -> float:
    from quarterdeck.core.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        bad_input(f"{option}: {e}")


def _fmt(v: float | None, unit: str = "", digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}{unit}"


def _signed(v: float | None, unit: str = "", digits: int = 1) -> str:
    return "—" if v is None else f"{v:+,.{digits}f}{unit}"


def _effect(delta: float | None, *, tolerance: float) -> str:
    """Less is better for every figure in the table."""
    if delta is None or abs(delta) <= tolerance:
        return "[dim]same[/]"
    return "[green]helps[/]" if delta < 0 else "[red]hurts[/]"


def comparison_rows(c: Comparison) -> list[tuple[str, str, str, str, str]]:
    """(figure, doing nothing, with the action, delta, effect) for one comparison."""
    b, w, d = c.baseline, c.with_actions, c.delta
    return [
        ("SLO-violation minutes", _fmt(b.slo_violation_minutes), _fmt(w.slo_violation_minutes),
         _signed(d.slo_violation_minutes), _effect(d.slo_violation_minutes, tolerance=1 / 60)),
        ("p95 mean (ms)", _fmt(b.p95_ms_mean), _fmt(w.p95_ms_mean), _signed(d.p95_ms_mean),
         _effect(d.p95_ms_mean, tolerance=0.5)),
        ("p95 max (ms)", _fmt(b.p95_ms_max), _fmt(w.p95_ms_max), _signed(d.p95_ms_max),
         _effect(d.p95_ms_max, tolerance=0.5)),
        ("error ratio (%)", _fmt(b.error_ratio * 100, digits=2),
         _fmt(w.error_ratio * 100, digits=2), _signed(d.error_ratio * 100, digits=2),
         _effect(d.error_ratio, tolerance=1e-5)),
        ("replica-hours", _fmt(b.replica_hours, digits=2), _fmt(w.replica_hours, digits=2),
         _signed(d.replica_hours, digits=2), _effect(d.replica_hours, tolerance=1e-3)),
    ]  # fmt: skip


def _print(result: DryRunResult, *, scenario: str, at: float) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from quarterdeck.core.durations import format_duration

    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 120
    p, v = result.proposal, result.verdict
    colour = {"allow": "green", "deny": "red", "require_approval": "yellow"}[v.decision.value]
    asked = p.action.model_dump(mode="json", exclude_none=True)
    out.print(f"[bold]dry-run[/] {scenario} at t={format_duration(at)}: {p.target} {asked}")
    out.print(
        f"guard: [{colour}]{v.decision.value}[/]" + (f" — {escape(v.message)}" if v.message else "")
    )
    for m in v.matches:
        out.print(f"  · {escape(m.rule_id)} ({m.effect}): {escape(m.message)}")
    if v.clamped:
        applied = result.predicted_action.model_dump(mode="json", exclude_none=True)
        out.print(f"  clamped to {applied}")
    w = result.prediction
    if w is not None:
        table = Table(
            title=f"predicted over {format_duration(w.horizon)} — {p.target}",
            title_justify="left",
        )
        for col in ("figure", "doing nothing", "with the action", "delta", "effect"):
            table.add_column(col, justify="left" if col in ("figure", "effect") else "right")
        for row in comparison_rows(w.service(str(p.target))):
            table.add_row(*row)
        out.print(table)
        vcolour = {"helps": "green", "hurts": "red", "neutral": "dim"}[w.verdict]
        out.print(f"prediction: [{vcolour}]{w.verdict}[/] — {escape(w.reason)}")
    if result.note:
        out.print(f"[dim]note: {escape(result.note)}[/]")
