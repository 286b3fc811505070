"""`quarterdeck loop` on the bundled flash-sale scenario: runs, reports, refuses bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.cli.main import app

runner = CliRunner()


def loop(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["loop", "--state-dir", str(tmp_path / "qd"), "--key-file", str(tmp_path / "k"), *args],
    )
    return result.exit_code, result.output


def test_observe_runs_reports_and_audits(tmp_path: Path) -> None:
    code, out = loop(tmp_path, "--mode", "observe", "--interval", "1m", "--steps", "3")
    assert code == 0, out
    assert "incident_opened" in out
    assert "ml/fraud-detector" in out
    assert "3 step(s)" in out
    key = AuditKey.from_file(tmp_path / "k", create=False)
    kinds = {e.kind for e in AuditLog(tmp_path / "qd" / "audit.db", key).query()}
    assert {"observation", "loop"} <= kinds
    assert "execution" not in kinds


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--mode", "yolo"], "unknown mode 'yolo'"),
        (["--interval", "soon"], "--interval"),
        (["--scenario", "nope.yaml"], "scenario file not found"),
    ],
    ids=["bad-mode", "bad-interval", "missing-scenario"],
)
def test_bad_input_exits_2(tmp_path: Path, args: list[str], problem: str) -> None:
    code, out = loop(tmp_path, *args, "--steps", "1")
    assert code == 2
    assert problem in out
    assert "Traceback" not in out
