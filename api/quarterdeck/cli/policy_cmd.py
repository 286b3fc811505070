"""`quarterdeck policy …`: check policy sets against their test cases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quarterdeck.cli.errors import EXIT_CHECK_FAILED, bad_input


def register(app: typer.Typer) -> None:
    """Adds the `policy` command group to the root app."""
    group = typer.Typer(help="Guard policies: check and test them.", no_args_is_help=True)
    group.command("test")(run_policy_tests)
    group.command("check")(check_policies)
    app.add_typer(group, name="policy")


def run_policy_tests(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Folder with policy files and GuardTest cases (default: the shipped "
            "policies/default).",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the rules that fired for every case.")
    ] = False,
) -> None:
    """Run the GuardTest cases under DIRECTORY against the policies under DIRECTORY.

    Exit 0 when every case passes, 1 when any fails, 2 when a policy or test file is invalid.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from quarterdeck.policies import PolicyLoadError, default_policy_dir
    from quarterdeck.policies.policy_tests import PolicyTestError, run_directory

    directory = directory or default_policy_dir()
    if not directory.is_dir():
        bad_input(f"{directory}: not a directory")
    try:
        results = run_directory(directory)
    except PolicyLoadError as e:
        bad_input(f"policy files refused:\n{e}")
    except PolicyTestError as e:
        bad_input(f"test file refused: {e}")

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # piped output: do not wrap the table at 80 columns
    table = Table(title=f"policy tests: {directory}", show_lines=False)
    for col in ("result", "suite", "case", "expected", "got"):
        table.add_column(col)
    if verbose:
        table.add_column("rules fired")
    for r in results:
        row = [
            "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]",
            escape(r.case.suite),
            escape(r.case.name),
            r.case.expect.decision.value,
            r.verdict.decision.value,
        ]
        if verbose:
            row.append(escape(", ".join(m.rule_id for m in r.verdict.matches)) or "-")
        table.add_row(*row)
    console.print(table)
    failed = [r for r in results if not r.passed]
    for r in failed:
        console.print(
            f"[bold red]FAIL[/] {escape(f'{r.case.file} :: {r.case.suite} :: {r.case.name}')}"
        )
        for reason in r.failures:
            console.print(f"    {escape(reason)}")
        console.print(f"    verdict: {escape(r.verdict.message)}")
    console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def check_policies(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Policy files or folders (default: the shipped policies/default).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load policy files as the guard would and list their rules in evaluation order.

    Exit 0 when they load, 2 (naming file, rule and reason) when any is refused.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from quarterdeck.policies import PolicyLoadError, default_policy_dir, load_policies

    try:
        policy_set = load_policies(paths or [default_policy_dir()])
    except PolicyLoadError as e:
        bad_input(f"policy files refused:\n{e}")
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    table = Table(title=f"{len(policy_set.rules)} rules, digest {policy_set.digest[:12]}")
    for col in ("phase", "rule", "policy", "kind", "file"):
        table.add_column(col)
    for phase in ("clamp", "check"):
        for rule in policy_set.rules:
            if rule.phase == phase:
                table.add_row(
                    phase,
                    escape(rule.rule_id),
                    escape(rule.info.policy),
                    type(rule).__name__.removesuffix("Rule"),
                    escape(Path(rule.info.file).name),
                )
    console.print(table)
