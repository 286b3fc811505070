"""`quarterdeck agent observer|planner`: one thinking agent in a process of its own, served over
A2A against a real cluster, for `quarterdeck serve --target kube --remote-agent NAME=URL`.

The wiring lives in `quarterdeck.api.agent_serving`; this module turns flags into settings,
says where the agent is, and serves it until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

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

NAMES = ("observer", "planner")


def register(app: typer.Typer) -> None:
    """Adds `agent` to the root app."""
    app.command("agent")(agent_cmd)


def agent_cmd(
    name: Annotated[str, typer.Argument(help="observer or planner.")],
    *,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: a free one).", min=0, max=65535)
    ] = 8090,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="The URL callers reach it at (default: where it binds)."),
    ] = None,
    prometheus_url: PrometheusUrlOption = None,
    kube_url: KubeUrlOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    state_dir: Annotated[Path, typer.Option("--state-dir", help="Its audit log and state.")] = Path(
        ".quarterdeck"
    ),
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="The audit log's HMAC key file.")
    ] = None,
    auth: Annotated[
        Path | None,
        typer.Option("--auth", help="Who may call it (the `serve` auth file format)."),
    ] = None,
    reasoner: ReasonerOption = "embedded",
    llm_url: LlmUrlOption = None,
    llm_model: LlmModelOption = None,
    node_loss_headroom: NodeLossOption = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")] = "warning",
) -> None:
    """Serve one agent — the observer (reads signals, diagnoses) or the planner (proposes and
    ranks actions) — over A2A, reading a real cluster. It never acts; callers need a bearer
    token of an operator or above from the --auth file. Ctrl-C or SIGTERM stops cleanly."""
    from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
    from pydantic import ValidationError

    from quarterdeck.api.agent_serving import AgentSettings, build_agent
    from quarterdeck.api.serving import ServeError, base_url, bind, load_auth, run_server
    from quarterdeck.cli.serve_cmd import audit_key

    if name not in NAMES:
        bad_input(f"unknown agent {name!r}; one of: {', '.join(NAMES)} runs on its own")
    if log_level not in {"critical", "error", "warning", "info", "debug", "trace"}:
        bad_input(f"--log-level: unknown level {log_level!r}")
    llm = llm_settings(reasoner, url=llm_url, model=llm_model)
    node_loss = node_loss_start(node_loss_headroom, llm)
    try:
        authenticator, one_off = load_auth(auth)
        sock = bind(host, port)
    except ServeError as e:
        bad_input(str(e))
    here = base_url(sock)
    try:
        settings = AgentSettings(
            name="observer" if name == "observer" else "planner",
            public_url=public_url or f"{here}/",
            state_dir=state_dir,
            prometheus_url=prometheus_url,
            kube_url=kube_url,
            kubeconfig=kubeconfig,
            context=context,
            namespaces=namespaces(namespace),
            llm=llm,
            node_loss_start_s=node_loss,
        )
        server = build_agent(settings, audit_key=audit_key(key_file), auth=authenticator)
    except (ValidationError, ServeError) as e:
        sock.close()
        bad_input(str(e))
    lines = [
        f"Quarterdeck {name} agent at {settings.public_url} "
        f"(card: {here}{AGENT_CARD_WELL_KNOWN_PATH}); reads Prometheus at {prometheus_url}",
        f"  reasoner   {describe(llm)}",
        f"  sizing     {describe_sizing(node_loss)}",
        f"  audit log  {server.audit_path}",
    ]
    if one_off is not None:
        lines.append(f"  no --auth file: callers use the one-off token {one_off.token}")
    lines.append("Ctrl-C stops.")
    typer.echo("\n".join(lines))
    sys.stdout.flush()
    freeze_startup_heap()
    run_server(server, sock, log_level=log_level)
    typer.echo("stopped; audit log closed", err=True)
