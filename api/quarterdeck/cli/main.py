"""Entry point of `quarterdeck`. Exit codes: 0 success, 1 a check failed, 2 bad input."""

from __future__ import annotations

import inspect

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


def _one_line_summaries(group: typer.Typer) -> None:
    """Give every command a one-line summary for its group's command list: in rich mode Typer
    keeps the line breaks of a docstring's first paragraph there, and the list reads ragged."""
    for info in group.registered_commands:
        if info.short_help is None:
            text = info.help or inspect.getdoc(info.callback) or ""
            info.short_help = " ".join(text.split("\n\n")[0].split()) or None
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _one_line_summaries(sub.typer_instance)


_one_line_summaries(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
