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


def test_node_loss_headroom_rides_out_a_gpu_node_loss(tmp_path: Path) -> None:
    """gpu-node-loss: a GPU node holding two of llm-chat's six pods fails, and a replacement
    takes four minutes to load. With the head-room the loop has the spare replicas up before
    it, and the SLO holds; without it, it breaks."""
    scenario = Path(__file__).parents[2] / "cluster-sim/scenarios/gpu-node-loss.yaml"
    args = ("--scenario", str(scenario), "--mode", "auto", "--quiet")
    code, plain = loop(tmp_path / "plain", *args)
    assert code == 0, plain
    code, spare = loop(tmp_path / "spare", *args, "--node-loss-headroom", "60s")
    assert code == 0, spare

    def minutes(out: str) -> float:
        return float(out.split("SLO violation ")[1].split(" min", maxsplit=1)[0])

    assert minutes(plain) > 1.0
    assert minutes(spare) == 0.0


@pytest.mark.parametrize("value", ["0s", "soon"])
def test_bad_node_loss_headroom_exits_2(tmp_path: Path, value: str) -> None:
    code, out = loop(tmp_path, "--node-loss-headroom", value, "--steps", "1")
    assert code == 2
    assert "--node-loss-headroom" in out


def test_node_loss_headroom_is_refused_when_a_model_sizes_services(tmp_path: Path) -> None:
    args = ("--reasoner", "openai", "--llm-url", "http://127.0.0.1:9/v1", "--llm-model", "m")
    code, out = loop(tmp_path, *args, "--node-loss-headroom", "60s", "--steps", "1")
    assert code == 2
    assert "--node-loss-headroom sizes the embedded reasoner's decisions" in out
