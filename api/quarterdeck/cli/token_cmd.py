"""`quarterdeck token new|hash`: mint API bearer tokens and the hash lines for the auth file.

The auth file stores only SHA-256 digests (see `quarterdeck.api.auth`); the plain token is shown
once, when it is made, and never written anywhere by Quarterdeck.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from quarterdeck.cli.errors import bad_input

_ROLES = "viewer, operator, approver or admin"


def register(app: typer.Typer) -> None:
    """Adds the `token` group to the root app."""
    group = typer.Typer(help="API bearer tokens: mint one, hash one.", no_args_is_help=True)
    group.command("new")(new_cmd)
    group.command("hash")(hash_cmd)
    app.add_typer(group, name="token")


def _entry(name: str, role: str, digest: str) -> str:
    """One `principals:` item of the auth file, as YAML flow mapping."""
    from quarterdeck.api.auth import Role

    try:
        Role.parse(role)
    except ValueError as e:
        bad_input(f"--role: {e}")
    if not name.strip() or len(name) > 64:
        bad_input("--name must be 1 to 64 characters")
    return f"  - {{name: {name}, role: {role.lower()}, token_sha256: {digest}}}"


def new_cmd(
    name: Annotated[str, typer.Option("--name", help="Who the token is for.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {_ROLES}.")] = "viewer",
) -> None:
    """Mint a random token. Prints the token (keep it secret; it is not stored) and the line to
    add under `principals:` in the auth file."""
    from quarterdeck.api.auth import hash_token, new_token

    token = new_token()
    line = _entry(name, role, hash_token(token))
    typer.echo(token)
    typer.echo(f"# add under `principals:` in the auth file:\n{line}", err=True)


def hash_cmd(
    token: Annotated[
        str | None, typer.Argument(help="The token (default: read one line from stdin).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Print a full auth-file line.")] = None,
    role: Annotated[str, typer.Option("--role", help=f"With --name: {_ROLES}.")] = "viewer",
) -> None:
    """Print a token's SHA-256 hash (or, with --name, its auth-file line)."""
    from quarterdeck.api.auth import hash_token

    text = token if token is not None else sys.stdin.readline()
    text = text.strip()
    if not text:
        bad_input("no token given (pass it as an argument or on stdin)")
    digest = hash_token(text)
    typer.echo(_entry(name, role, digest) if name is not None else digest)
