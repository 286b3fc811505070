"""Commands of this group are registered on the root app by `register`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the root app (none yet)."""
