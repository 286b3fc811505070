"""The `agent` controller on the simulator: fast answers, guarded, and no flip-flopping."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.agents.controller import AgentController, make_agent_controller
from quarterdeck.sim.runner import run
from quarterdeck.sim.scenario import load_scenario

from .conftest import BASE
from .test_diagnosis_and_plan import DEPLOY, HOSTILE, SPIKE


def _run(tmp_path: Path, events: str, minutes: int = 12) -> tuple[object, AgentController]:
    path = tmp_path / "s.yaml"
    path.write_text(BASE.format(events=events).replace("duration: 40m", f"duration: {minutes}m"))
    controller = make_agent_controller()
    return run(load_scenario(path), controller), controller


def test_bad_version_is_rolled_back_within_90_s_and_only_once(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, DEPLOY)
    rollbacks = [a for a in result.action_log if a.kind == "rollback"]  # type: ignore[attr-defined]
    assert len(rollbacks) == 1
    assert rollbacks[0].t - 120 <= 90
    assert rollbacks[0].outcome == "applied"


def test_load_spike_is_answered_within_30_s(tmp_path: Path) -> None:
    result, controller = _run(tmp_path, SPIKE)
    scales = [a for a in result.action_log if a.kind == "scale"]  # type: ignore[attr-defined]
    assert scales
    assert scales[0].t - 120 <= 30
    assert scales[0].action["replicas"] > 4
    assert controller.stats().denied == 0


def test_injected_event_changes_nothing(tmp_path: Path) -> None:
    result, controller = _run(tmp_path, HOSTILE, minutes=6)
    assert not [a for a in result.action_log if a.action.get("replicas") == 0]  # type: ignore[attr-defined]
    assert controller.stats().approvals_requested == 0
