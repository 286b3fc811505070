"""`quarterdeck --help` and each group's help list every command with a one-line summary."""

from __future__ import annotations

from typing import Any

import typer

from quarterdeck.cli.main import app


def _commands(group: Any, path: str = "quarterdeck") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, cmd in group.commands.items():
        out.append((f"{path} {name}", cmd))
        if hasattr(cmd, "commands"):  # a group (Typer's own click, not `click`'s classes)
            out += _commands(cmd, f"{path} {name}")
    return out


def test_every_command_lists_with_a_one_line_summary() -> None:
    # Typer's rich command list shows `short_help` (else `help`) keeping its line breaks, so a
    # docstring's wrapped first paragraph would spill onto rows of its own.
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 15
    for path, cmd in commands:
        summary = cmd.short_help or cmd.help or ""
        assert summary, path
        assert "\n" not in summary, (path, summary)
