"""The runner drives controllers; `quarterdeck sim run` reports and writes JSON; exit codes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.core.models import ActionProposal, RollbackAction, ScaleAction, Target
from quarterdeck.sim.controllers import ControllerStats, known, make
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.runner import run
from tests.sim.conftest import scenario

API = Target(namespace="ml", service="api")
FIELDS = {
    "scenario", "controller", "seed", "slo_violation_minutes", "failed_requests",
    "total_requests", "replica_hours", "gpu_hours", "time_to_mitigate_s", "actions", "denied",
    "approvals_requested", "wall_seconds",
}  # fmt: skip


class Scripted:
    """Scales to 4 at its first call, then asks for an impossible rollback once."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls: list[float] = []

    def start(self, sim: Simulator) -> None:
        self.calls.append(-sim.now - 1)

    def decide(self, sim: Simulator) -> Sequence[ActionProposal]:
        self.calls.append(sim.now)
        if len(self.calls) == 2:
            return [ActionProposal(id="p1", target=API, action=ScaleAction(replicas=4))]
        if len(self.calls) == 3:
            return [ActionProposal(id="p2", target=API, action=RollbackAction(to_revision=9))]
        return []

    def stats(self) -> ControllerStats:
        return ControllerStats(denied=2, approvals_requested=1)


def test_runner_calls_the_controller_every_interval_and_applies_proposals():
    ctl = Scripted()
    result = run(scenario(duration="2m", controller_interval="30s"), ctl)
    assert ctl.calls == [-1.0, 30.0, 60.0, 90.0]
    assert result.actions == {"scale": 1, "rollback": 0, "route": 0, "restart": 0}
    assert result.invalid_actions == 1
    assert [(a.t, a.outcome, a.proposal_id) for a in result.action_log] == [
        (30.0, "applied", "p1"),
        (60.0, "invalid", "p2"),
    ]
    assert "unknown revision 9" in result.action_log[1].message
    d = result.to_json_dict()
    assert set(d) >= FIELDS
    assert (d["controller"], d["denied"], d["approvals_requested"]) == ("scripted", 2, 1)
    assert result.metrics.replica_hours == pytest.approx((2 * 120 + 2 * 90) / 3600)
    tl = result.timeline
    assert list(tl.t) == [15.0 * i for i in range(1, 9)]
    assert tl.ready_replicas.shape == (8, 1)
    assert tl.ready_replicas[-1, 0] == 4


def test_make_knows_none_and_refuses_unknown_names():
    assert "none" in known()
    assert make("none").name == "none"
    with pytest.raises(ValueError, match=r"unknown controller .nope.; known: .*none"):
        make("nope")


def _good_file(tmp_path: Path) -> Path:
    import yaml

    from tests.sim.conftest import scenario_dict

    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(scenario_dict(duration="10m")), encoding="utf-8")
    return p


def test_cli_run_prints_a_summary_and_writes_json(tmp_path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(
        app, ["sim", "run", str(_good_file(tmp_path)), "--json", str(out), "--seed", "5"]
    )
    assert res.exit_code == 0, res.output
    assert "ml/api" in res.output
    assert "total" in res.output
    d = json.loads(out.read_text())
    assert set(d) >= FIELDS
    assert (d["scenario"], d["controller"], d["seed"]) == ("unit", "none", 5)


def test_cli_default_scenario_runs():
    res = CliRunner().invoke(app, ["sim", "run"])
    assert res.exit_code == 0, res.output
    assert "flash-sale" in res.output


def test_cli_bad_scenario_exits_2_with_the_loader_message(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("version: 1\nname: x\nduration: -1h\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["sim", "run", str(p)])
    assert res.exit_code == 2
    assert "bad.yaml" in res.output
    assert "duration" in res.output
    assert "negative" in res.output


def test_cli_unknown_controller_exits_2_naming_the_known_ones(tmp_path):
    res = CliRunner().invoke(app, ["sim", "run", str(_good_file(tmp_path)), "-c", "magic"])
    assert res.exit_code == 2
    assert "magic" in res.output
    assert "none" in res.output
