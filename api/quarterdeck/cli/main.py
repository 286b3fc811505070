"""Entry point of `quarterdeck`. Exit codes: 0 success, 1 a check failed, 2 bad input."""

from __future__ import annotations

import typer

from quarterdeck.cli import (
    agent_cmd,
    agents_cmd,
    audit_cmd,
    bench_cmd,
    demo_cmd,
    dryrun_cmd,
    policy_cmd,
    remote_cmd,
    serve_cmd,
    sim_cmd,
    token_cmd,
)

app = typer.Typer(
    name="quarterdeck",
    help="Agentic orchestration controller for ML model-serving services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (
    demo_cmd,
    sim_cmd,
    bench_cmd,
    policy_cmd,
    audit_cmd,
    dryrun_cmd,
    agents_cmd,
    token_cmd,
    serve_cmd,
    agent_cmd,
    remote_cmd,
):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
