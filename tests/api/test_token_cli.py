"""`quarterdeck token new|hash`: the printed line, put in an auth file, authenticates the token."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from quarterdeck.api.auth import Authenticator, Role
from quarterdeck.cli.main import app


def test_new_token_line_authenticates_it(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["token", "new", "--name", "alice", "--role", "approver"])
    assert r.exit_code == 0, r.output
    token = r.stdout.splitlines()[0]
    line = next(x for x in r.stderr.splitlines() if "token_sha256" in x)
    path = tmp_path / "auth.yaml"
    path.write_text(f"four_eyes: true\nprincipals:\n{line}\n")
    auth = Authenticator.load(path)
    who = auth.authenticate(token)
    assert who is not None
    assert (who.name, who.role) == ("alice", Role.APPROVER)
    assert auth.authenticate(token + "x") is None


def test_hash_reads_stdin_and_matches_new() -> None:
    r = CliRunner().invoke(app, ["token", "hash"], input="s3cret\n")
    assert r.exit_code == 0
    line = CliRunner().invoke(app, ["token", "hash", "s3cret", "--name", "bob"]).stdout
    assert r.stdout.strip() in line
    assert "role: viewer" in line


def test_bad_role_exits_2() -> None:
    r = CliRunner().invoke(app, ["token", "new", "--name", "x", "--role", "root"])
    assert r.exit_code == 2
    assert "unknown role" in r.output
