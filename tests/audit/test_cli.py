"""`quarterdeck audit …`: exit 0 when fine, 1 when verify finds tampering, 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from quarterdeck.audit import AuditEntry, AuditKey, AuditLog
from quarterdeck.cli import audit_cmd

from . import test_tamper

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Test root."""

    audit_cmd.register(root)
    return root


@pytest.fixture
def key_file(tmp_path: Path, key: AuditKey) -> Path:
    path = tmp_path / "audit.key"
    path.write_bytes(b"k" * 32)  # the conftest key
    path.chmod(0o600)
    assert AuditKey.from_file(path).key_id == key.key_id
    return path


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("QUARTERDECK_AUDIT_DB", "QUARTERDECK_AUDIT_KEY", "QUARTERDECK_AUDIT_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


def run(app: typer.Typer, *args: str | Path):
    return runner.invoke(app, ["audit", *map(str, args)])


def test_verify_ok_prints_count_and_head(app, filled: AuditLog, db_path: Path, key_file) -> None:
    result = run(app, "verify", "--db", db_path, "--key-file", key_file)
    assert result.exit_code == 0, result.output
    head = filled.head()
    assert f"OK: 10 entries, head {head.hash}" in result.stdout
    assert f"anchor: 10:{head.hash}" in result.stdout


@pytest.mark.parametrize(
    ("tamper", "bad_seq"),
    [
        pytest.param(test_tamper.edit_payload, 5, id="edit"),
        pytest.param(test_tamper.delete_middle, 5, id="delete"),
        pytest.param(test_tamper.delete_tail, 8, id="truncate"),
        pytest.param(test_tamper.insert_forged_middle, 5, id="insert"),
        pytest.param(test_tamper.swap_rows, 5, id="reorder"),
    ],
)
def test_verify_fails_with_exit_1_naming_the_first_bad_entry(  # noqa: PLR0917
    app, filled: AuditLog, db_path: Path, key_file: Path, raw, tamper, bad_seq: int
) -> None:
    tamper(db_path, raw)
    result = run(app, "verify", "--db", db_path, "--key-file", key_file)
    assert result.exit_code == 1, result.output
    assert f"entry {bad_seq}:" in result.stderr


def test_verify_with_the_wrong_key_fails(app, filled: AuditLog, db_path: Path, tmp_path) -> None:
    other = tmp_path / "other.key"
    AuditKey.from_file(other, create=True)
    result = run(app, "verify", "--db", db_path, "--key-file", other)
    assert result.exit_code == 1
    assert "wrong_key" in result.stderr


def test_verify_reads_the_secret_from_the_environment(
    app, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "a long enough secret from the env"
    with AuditLog(db_path, AuditKey.from_text(secret)) as log:
        log.append("note", {}, principal="x")
    monkeypatch.setenv("QUARTERDECK_AUDIT_KEY", secret)
    result = run(app, "verify", "--db", db_path)
    assert result.exit_code == 0, result.output


def test_verify_detects_a_rollback_given_an_anchor(
    app, filled: AuditLog, db_path: Path, key_file: Path, raw
) -> None:
    anchor = filled.verify().anchor
    assert run(app, "verify", "--db", db_path, "--key-file", key_file, "--anchor", anchor)
    filled.append("note", {}, principal="x")
    ok = run(app, "verify", "--db", db_path, "--key-file", key_file, "--anchor", anchor)
    assert ok.exit_code == 0
    bad = run(app, "verify", "--db", db_path, "--key-file", key_file, "--anchor", "11:" + "0" * 64)
    assert bad.exit_code == 1
    assert "anchor_mismatch" in bad.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        pytest.param(["list", "--db", "missing.db"], "missing.db", id="list-missing-db"),
        pytest.param(["verify", "--db", "missing.db"], "missing.db", id="verify-missing-db"),
        pytest.param(["export", "--db", "missing.db"], "missing.db", id="export-missing-db"),
        pytest.param(["show", "1", "--db", "missing.db"], "missing.db", id="show-missing-db"),
        pytest.param(["list", "--since", "yesterday"], "--since", id="since"),
        pytest.param(["list", "--until", "13h ago"], "--until", id="until"),
        pytest.param(["list", "--service", "fraud"], "--service", id="service"),
        pytest.param(["export", "--kind", "bogus"], "--kind", id="kind"),
        pytest.param(["list", "--limit", "0"], "--limit", id="limit"),
        pytest.param(["verify", "--key-file", "nope.key"], "nope.key", id="missing-key-file"),
        pytest.param(["verify", "--anchor", "xyz"], "--anchor", id="anchor"),
        pytest.param(["show", "99"], "no entry 99", id="show-missing-seq"),
        pytest.param(["export", "--out", "no/such/dir/x.jsonl"], "--out", id="out"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(  # noqa: PLR0917
    app, filled: AuditLog, db_path: Path, key_file: Path, args: list[str], names: str
) -> None:
    if "--db" not in args:
        args = [*args, "--db", str(db_path)]
    if args[0] == "verify" and "--key-file" not in args:
        args = [*args, "--key-file", str(key_file)]
    result = run(app, *args)
    assert result.exit_code == 2, result.output
    assert names in result.output
    assert "Traceback" not in result.output


def test_a_file_that_is_not_a_log_exits_2(app, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("hello")
    result = run(app, "list", "--db", junk)
    assert result.exit_code == 2
    assert "not a usable audit log" in result.output


def _seqs(table: str) -> list[str]:
    """The seq column of a printed table: the rows that start with a number."""
    return [
        line.split()[0]
        for line in table.splitlines()
        if line.split()[:1] != [] and line.split()[0].isdigit()
    ]


def test_list_shows_the_matching_entries(app, filled: AuditLog, db_path: Path) -> None:
    result = run(app, "list", "--db", db_path, "--kind", "proposal")
    assert result.exit_code == 0, result.output
    assert "2 of 2 matching entries" in result.stdout
    assert _seqs(result.stdout) == ["3", "8"]


FILTERS = [
    pytest.param(["--since", "1790000007"], {"since": 1_790_000_007}, id="since"),
    pytest.param(["--until", "1790000002"], {"until": 1_790_000_002}, id="until"),
    pytest.param(["--service", "ml/ranker"], {"service": "ml/ranker"}, id="service"),
    pytest.param(["--principal", "alice"], {"principal": "alice"}, id="principal"),
    pytest.param(["--kind", "verdict"], {"kind": "verdict"}, id="kind"),
    pytest.param(["--trace", "t1"], {"trace_id": "t1"}, id="trace"),
    pytest.param(["--proposal", "p2"], {"proposal_id": "p2"}, id="proposal"),
    pytest.param(
        ["--kind", "verdict", "--principal", "planner"],
        {"kind": "verdict", "principal": "planner"},
        id="combined",
    ),
]


@pytest.mark.parametrize(("options", "query"), FILTERS)
def test_list_and_export_select_what_the_log_query_selects(
    app, filled: AuditLog, db_path: Path, options: list[str], query: dict[str, Any]
) -> None:
    expected = [e.seq for e in filled.query(**query)]
    assert expected, "every case should select something"
    listed = run(app, "list", "--db", db_path, *options)
    assert listed.exit_code == 0, listed.output
    title = " ".join(listed.stdout.split())  # a long title may wrap
    assert f"{len(expected)} of {len(expected)} matching entries" in title
    assert _seqs(listed.stdout) == [str(seq) for seq in expected]
    exported = run(app, "export", "--db", db_path, *options)
    assert exported.exit_code == 0, exported.output
    assert [json.loads(line)["seq"] for line in exported.stdout.splitlines()] == expected


def test_list_limit_shows_the_newest_oldest_first(app, filled: AuditLog, db_path: Path) -> None:
    result = run(app, "list", "--db", db_path, "--limit", "3")
    assert "3 of 10 matching entries" in result.stdout
    assert _seqs(result.stdout) == ["8", "9", "10"]


def test_list_uses_the_env_db_then_the_default_path(
    app, filled: AuditLog, db_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUARTERDECK_AUDIT_DB", str(db_path))
    assert "10 of 10" in run(app, "list").stdout
    monkeypatch.delenv("QUARTERDECK_AUDIT_DB")
    result = run(app, "list")  # cwd is tmp_path: .quarterdeck/audit.db is not there
    assert result.exit_code == 2
    assert str(Path(".quarterdeck") / "audit.db") in result.output


def test_show_prints_the_whole_entry(app, filled: AuditLog, db_path: Path) -> None:
    result = run(app, "show", "3", "--db", db_path)
    assert result.exit_code == 0, result.output
    entry = filled.get(3)
    assert entry is not None
    assert entry.hash in result.stdout
    assert '"note": "step 2"' in result.stdout
    assert "kind: proposal" in result.stdout


def test_export_round_trips_through_jsonl(
    app, filled: AuditLog, db_path: Path, tmp_path: Path
) -> None:
    out = run(app, "export", "--db", db_path)
    assert out.exit_code == 0, out.output
    from_stdout = [AuditEntry.model_validate_json(line) for line in out.stdout.splitlines()]
    assert from_stdout == filled.query(limit=None)

    path = tmp_path / "ranker.jsonl"
    res = run(
        app, "export", "--db", db_path, "--out", path, "--service", "ml/ranker", "--since", "0"
    )
    assert res.exit_code == 0, res.output
    lines = path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [2, 4, 6, 8, 10]


def test_the_installed_command_uses_the_same_exit_codes(
    filled: AuditLog, db_path: Path, key_file: Path, raw: Callable[[str], None]
) -> None:
    """End to end through the real `quarterdeck` entry point."""
    cmd = [
        sys.executable,
        "-m",
        "quarterdeck.cli.main",
        "audit",
        "verify",
        "--db",
        str(db_path),
        "--key-file",
        str(key_file),
    ]
    ok = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: 10 entries, head ")
    test_tamper.edit_payload(db_path, raw)
    bad = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "entry 5" in bad.stderr
