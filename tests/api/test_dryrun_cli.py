"""`quarterdeck dry-run`: the guard's verdict beside the predicted effect; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.cli.sim_cmd import default_scenario
from quarterdeck.core.models import ActionProposal, ScaleAction, Target
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario
from quarterdeck.sim.whatif import predict

SCENARIO = str(default_scenario())  # flash-sale: fraud-detector's load triples from 20m
FRAUD = "ml/fraud-detector"


def run(*args: str):
    return CliRunner().invoke(app, ["dry-run", SCENARIO, *args])


def test_clamped_scale_predicts_the_clamped_action(tmp_path: Path) -> None:
    out = tmp_path / "dry.json"
    r = run("--at", "22m", "--service", FRAUD, "--scale", "12", "--json", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["verdict"]["decision"] == "allow"
    assert any(m["effect"] == "clamp" for m in doc["verdict"]["matches"])
    clamped = doc["predicted_action"]["replicas"]
    assert clamped < 12
    # The figures are the what-if engine's for the clamped action at the same point in time.
    sim = Simulator(load_scenario(Path(SCENARIO)))
    sim.advance(22 * 60)
    p = ActionProposal(
        id="x", target=Target(namespace="ml", service="fraud-detector"),
        action=ScaleAction(replicas=clamped),
    )  # fmt: skip
    expected = predict(sim, [p], horizon=600)
    assert doc["prediction"]["total"]["delta"] == expected.total.delta.model_dump(mode="json")
    assert doc["prediction"]["verdict"] == expected.verdict == "helps"
    assert "clamped to" in r.output
    assert "SLO-violation minutes" in r.output


def test_denied_action_still_shows_why(tmp_path: Path) -> None:
    out = tmp_path / "dry.json"
    r = run("--at", "5m", "--service", FRAUD, "--rollback", "v9", "--json", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["verdict"]["decision"] == "deny"
    assert "deny" in r.output


def test_structured_action_equals_the_flag_form(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("--at", "21m", "--service", FRAUD, "--scale", "4", "--json", str(a)).exit_code == 0
    r = run(
        "--at", "21m", "--service", FRAUD, "--action", '{"kind":"scale","replicas":4}',
        "--json", str(b),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(a.read_text()) == json.loads(b.read_text())


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(["--service", FRAUD], "exactly one action", id="no-action"),
        pytest.param(["--service", FRAUD, "--scale", "3", "--restart"], "exactly one", id="two"),
        pytest.param(["--service", "fraud-detector", "--scale", "3"], "--service", id="no-ns"),
        pytest.param(["--service", "ml/nope", "--scale", "3"], "ml/nope", id="unknown-svc"),
        pytest.param(["--service", FRAUD, "--route", "v1=90,v2=5"], "sum to 100", id="weights"),
        pytest.param(["--service", FRAUD, "--route", "v1:90"], "--route", id="route-syntax"),
        pytest.param(["--service", FRAUD, "--action", '{"kind":"fly"}'], "--action", id="kind"),
        pytest.param(["--service", FRAUD, "--action", "{not json"], "--action", id="json"),
        pytest.param(["--service", FRAUD, "--scale", "3", "--at", "9h"], "--at", id="at-end"),
        pytest.param(["--service", FRAUD, "--scale", "3", "--at", "soon"], "--at", id="at-text"),
        pytest.param(["--service", FRAUD, "--scale", "3", "--horizon", "0s"], "--horizon", id="hz"),
        pytest.param(["--service", FRAUD, "--pods", "2", "--scale", "3"], "--pods", id="pods"),
        pytest.param(
            ["--service", FRAUD, "--scale", "3", "--policies", "/nonexistent"],
            "--policies",
            id="policies",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_problem(args: list[str], named: str) -> None:
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert named in r.output
    assert "Traceback" not in r.output


def test_url_asks_the_running_server_and_applies_nothing(tmp_path: Path) -> None:
    from quarterdeck.agents.loop import LoopMode
    from quarterdeck.api.auth import Authenticator, Principal, Role
    from quarterdeck.api.serving import ServeSettings, build_server, serve_in_thread
    from quarterdeck.audit import AuditKey

    settings = ServeSettings(
        state_dir=tmp_path / "state",
        mode=LoopMode.OBSERVE,
        loop_enabled=False,
        scenario=Path(SCENARIO),
        speed=0,
        start_at_s=22 * 60,
    )
    auth = Authenticator.from_tokens(
        {
            "op": Principal(name="otto", role=Role.OPERATOR),
            "v": Principal(name="v", role=Role.VIEWER),
        }
    )
    server = build_server(settings, audit_key=AuditKey(b"k" * 32, source="test"), auth=auth)
    out = tmp_path / "remote.json"
    with serve_in_thread(server) as running:
        args = ["--service", FRAUD, "--scale", "12", "--url", running.url]
        r = run_remote(*args, "--token", "op", "--json", str(out))
        assert r.exit_code == 0, r.output
        assert server.sim is not None
        assert server.sim.service("ml", "fraud-detector").spec_replicas == 2  # nothing applied
        denied = run_remote(*args, "--token", "v")
        assert denied.exit_code == 1
        assert "not allowed" in denied.output
        mixed = run_remote(SCENARIO, *args, "--token", "op")
        assert mixed.exit_code == 2
        assert "SCENARIO" in mixed.output
    doc = json.loads(out.read_text())
    assert doc["verdict"]["decision"] == "allow"
    assert doc["predicted_action"]["replicas"] < 12
    assert doc["prediction"]["verdict"] == "helps"
    assert doc["at"] == 22 * 60
    assert "clamped to" in r.output


def run_remote(*args: str):
    return CliRunner().invoke(app, ["dry-run", *args])
