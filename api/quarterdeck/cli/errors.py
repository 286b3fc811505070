"""How every command reports bad input and failed checks, so exit codes stay as DESIGN.md says."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

stderr = Console(stderr=True)


def bad_input(message: str) -> NoReturn:
    """Print `message` as an error and exit 2."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def check_failed(message: str) -> NoReturn:
    """Print `message` and exit 1 (e.g. audit verify found tampering)."""
    stderr.print(f"[bold red]check failed:[/] {message}", highlight=False)
    raise typer.Exit(EXIT_CHECK_FAILED)
