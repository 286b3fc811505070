"""`quarterdeck serve`: the REST API, the agents and the autonomous loop in one process, over the
embedded simulator (`--target sim`, the default) or a real cluster (`--target kube`).

The wiring lives in `quarterdeck.api.serving`; this module turns flags into `ServeSettings`,
says where everything is, and runs the server until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.errors import bad_input
from quarterdeck.cli.kube_opts import (
    ContextOption,
    KubeconfigOption,
    KubeUrlOption,
    NamespaceOption,
    PrometheusUrlOption,
    namespaces,
)
from quarterdeck.cli.reasoner_opts import (
    LlmModelOption,
    LlmUrlOption,
    NodeLossOption,
    ReasonerOption,
    describe,
    describe_sizing,
    llm_settings,
    node_loss_start,
)
from quarterdeck.core.heap import freeze_startup_heap

if TYPE_CHECKING:
    from quarterdeck.api.serving import Server
    from quarterdeck.audit import AuditKey

MODES = ("observe", "suggest", "approve", "auto")
TARGETS = ("sim", "kube")


def register(app: typer.Typer) -> None:
    """Adds `serve` to the root app."""
    app.command("serve")(serve_cmd)


def audit_key(key_file: Path | None) -> AuditKey:
    from quarterdeck.audit import AuditKeyError, resolve_key

    try:
        return resolve_key(key_file, os.environ, create=True)
    except AuditKeyError as e:
        bad_input(f"{e} (use --key-file or set QUARTERDECK_AUDIT_KEY_FILE)")


def _seconds(flag: str, text: str, *, positive: bool) -> float:
    from quarterdeck.core.durations import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as e:
        bad_input(f"{flag}: {e}")
    if value < 0 or (positive and value == 0):
        bad_input(f"{flag} must be {'positive' if positive else 'zero or more'}, got {text!r}")
    return value


AGENT_TOKEN_ENV = "QUARTERDECK_AGENT_TOKEN"


def _remote_agents(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            bad_input(f"--remote-agent: expected NAME=URL, got {value!r}")
        if name in out:
            bad_input(f"--remote-agent: {name} given twice")
        out[name] = url
    return out


def _announce(server: Server, base: str) -> None:
    from quarterdeck.api.serving import urls
    from quarterdeck.core.durations import format_duration

    s = server.settings
    loop = (
        f"loop {s.mode.value} every {format_duration(s.interval_s)}"
        if s.loop_enabled
        else "loop off"
    )
    if server.sim is not None:
        pace = "paused (speed 0)" if s.speed == 0 else f"{s.speed:g}x real time"
        what = (
            f"simulated cluster {server.sim.scenario.name!r} at t={format_duration(server.sim.now)}"
            f", {pace}"
        )
    else:
        where = s.kube_url or (f"context {s.context}" if s.context else "the current context")
        scope = f"; namespaces {', '.join(s.namespaces)}" if s.namespaces else ""
        what = f"Kubernetes ({where}{scope}), Prometheus at {s.prometheus_url}"
    lines = [f"Quarterdeck serving {what}; {loop}"]
    found = urls(base)
    lines += [
        f"  reasoner   {describe(s.llm)}",
        f"  sizing     {describe_sizing(s.node_loss_start_s)}",
        f"  REST API   {found['api']}   (OpenAPI docs: {found['docs']})",
        f"  health     {found['health']}   metrics: {found['metrics']}",
        f"  agents     {found['a2a']}",
        f"  audit log  {server.audit_path}",
        f"  state      {server.state_dir}",
    ]
    lines += [f"  note       {n}" for n in server.notes]
    if server.one_off is not None:
        lines += [
            "",
            "No --auth file: a ONE-OFF admin token was made for this process only. It is shown",
            "once, is not stored, and stops working when the server stops (use --auth FILE with",
            "`quarterdeck token new` for lasting tokens):",
            f"  export QUARTERDECK_URL={base}",
            f"  export QUARTERDECK_TOKEN={server.one_off.token}",
        ]
    lines.append("Ctrl-C stops.")
    typer.echo("\n".join(lines))
    sys.stdout.flush()


def serve_cmd(
    *,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: a free one).", min=0, max=65535)
    ] = 8080,
    target: Annotated[
        str, typer.Option("--target", help="sim (embedded simulator) or kube (a real cluster).")
    ] = "sim",
    scenario: Annotated[
        Path | None,
        typer.Option("--scenario", help="sim: scenario YAML (default: the bundled flash-sale)."),
    ] = None,
    speed: Annotated[
        float,
        typer.Option("--speed", help="sim: simulated seconds per wall second (0: paused)."),
    ] = 1.0,
    start_at: Annotated[
        str,
        typer.Option("--start-at", help="sim: advance the simulator this far first (e.g. 20m)."),
    ] = "0s",
    seed: Annotated[
        int | None, typer.Option("--seed", help="sim: override the scenario's seed.", min=0)
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="Loop mode: observe | suggest | approve | auto.")
    ] = "observe",
    interval: Annotated[
        str, typer.Option("--interval", help="Clock time between loop passes (15s, 1m).")
    ] = "15s",
    no_loop: Annotated[
        bool,
        typer.Option(
            "--no-loop", help="Do not run loop passes in the background (POST /v1/loop/tick does)."
        ),
    ] = False,
    auth: Annotated[
        Path | None,
        typer.Option(
            "--auth",
            help="Auth file (principals, roles, token hashes). Without it, a one-off admin token.",
        ),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Audit log and the agents' state.")
    ] = Path(".quarterdeck"),
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="The audit log's HMAC key file.")
    ] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    kube_url: KubeUrlOption = None,
    prometheus_url: PrometheusUrlOption = None,
    namespace: NamespaceOption = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn's log level (warning, info, debug).")
    ] = "warning",
    reasoner: ReasonerOption = "embedded",
    llm_url: LlmUrlOption = None,
    llm_model: LlmModelOption = None,
    node_loss_headroom: NodeLossOption = None,
    remote_agent: Annotated[
        list[str] | None,
        typer.Option(
            "--remote-agent",
            help="kube: NAME=URL of an agent run by `quarterdeck agent` (observer, planner); "
            "calls carry the token in QUARTERDECK_AGENT_TOKEN. Repeatable.",
        ),
    ] = None,
) -> None:
    """Serve the REST API and the agents, with the autonomous loop running every interval in the
    chosen mode. `--target sim` (default) runs the embedded simulator in real time × speed;
    `--target kube` acts on a real cluster (kubeconfig + Prometheus), where dry-runs have no
    prediction. Ctrl-C or SIGTERM stops cleanly (the audit log is closed last)."""
    from pydantic import ValidationError

    from quarterdeck.agents.loop import LoopMode
    from quarterdeck.api.serving import (
        ServeError,
        ServeSettings,
        base_url,
        bind,
        build_server,
        load_auth,
        run_server,
    )
    from quarterdeck.cli.sim_cmd import default_scenario

    if target not in TARGETS:
        bad_input(f"--target: unknown target {target!r}; expected one of: {', '.join(TARGETS)}")
    if mode not in MODES:
        bad_input(f"--mode: unknown mode {mode!r}; expected one of: {', '.join(MODES)}")
    if log_level not in {"critical", "error", "warning", "info", "debug", "trace"}:
        bad_input(f"--log-level: unknown level {log_level!r}")
    if target == "sim":
        for flag, value in (
            ("--kubeconfig", kubeconfig),
            ("--context", context),
            ("--kube-url", kube_url),
            ("--prometheus-url", prometheus_url),
            ("--namespace", namespace),
        ):
            if value is not None:
                bad_input(f"{flag} is for --target kube; the sim target has its own cluster")
    elif scenario is not None or seed is not None or start_at != "0s" or speed != 1.0:
        bad_input("--scenario, --seed, --start-at and --speed are for --target sim")
    llm = llm_settings(reasoner, url=llm_url, model=llm_model)
    remote = _remote_agents(remote_agent or [])
    agent_token = os.environ.get(AGENT_TOKEN_ENV) or None
    if remote and agent_token is None:
        bad_input(f"--remote-agent: set {AGENT_TOKEN_ENV} to the token the remote agents accept")
    if "observer" in remote and node_loss_headroom is not None:
        # Sizing is part of the diagnosis, which the remote observer makes.
        bad_input(
            "--node-loss-headroom sizes the observer's diagnoses and the observer runs "
            "elsewhere: give it to `quarterdeck agent observer` instead"
        )
    try:
        settings = ServeSettings(
            target="sim" if target == "sim" else "kube",
            state_dir=state_dir,
            mode=LoopMode(mode),
            interval_s=_seconds("--interval", interval, positive=True),
            loop_enabled=not no_loop,
            scenario=(scenario or default_scenario()) if target == "sim" else None,
            seed=seed,
            speed=speed,
            start_at_s=_seconds("--start-at", start_at, positive=False),
            kubeconfig=kubeconfig,
            context=context,
            kube_url=kube_url,
            prometheus_url=prometheus_url,
            namespaces=namespaces(namespace),
            llm=llm,
            node_loss_start_s=node_loss_start(node_loss_headroom, llm),
            remote_agents=remote,
            agent_token=agent_token,
        )
    except ValidationError as e:
        first = e.errors()[0]
        why = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a rule across flags: the message names them
            bad_input(why)
        bad_input(f"--{str(first['loc'][0]).replace('_', '-')}: {why}")
    try:
        authenticator, one_off = load_auth(auth)
        sock = bind(host, port)
    except ServeError as e:
        bad_input(str(e))
    try:
        server = build_server(settings, audit_key=audit_key(key_file), auth=authenticator)
    except ServeError as e:
        sock.close()
        bad_input(str(e))
    server.one_off = one_off
    if target == "kube" and not server.runtime.deps.cluster.is_online():
        typer.echo("warning: the cluster does not answer yet; /readyz says so", err=True)
    _announce(server, base_url(sock))
    freeze_startup_heap()
    run_server(server, sock, log_level=log_level)
    typer.echo("stopped; audit log closed", err=True)
