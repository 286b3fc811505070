"""`quarterdeck bench`: the JSON rows, the ratios in the table, bad input, the full suite (slow)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quarterdeck.cli import sim_cmd
from quarterdeck.cli.main import app
from quarterdeck.core.models import ActionProposal
from quarterdeck.sim.bench import (
    FIELDS,
    BenchError,
    BenchReport,
    load_suite,
    ratio,
    resolve_controllers,
    run_bench,
)
from quarterdeck.sim.controllers import ControllerStats
from quarterdeck.sim.engine import Simulator

SUITE = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios"
SMALL = ("lunch-spike", "pod-crash")
runner = CliRunner()


@pytest.fixture
def small_suite(tmp_path: Path) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    for name in SMALL:
        shutil.copy(SUITE / f"{name}.yaml", folder / f"{name}.yaml")
    return folder


def _fmt(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.2f}"


def test_bench_json_has_the_contract_shape_and_the_table_shows_measured_ratios(
    small_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    res = runner.invoke(
        app,
        [
            "bench",
            "--scenarios",
            str(small_suite),
            "--controllers",
            "none,hpa,baseline,oracle",
            "--json",
            str(out),
            "--seed",
            "3",
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert set(doc) == {"format", "rows"}
    assert doc["format"] == 1
    rows = doc["rows"]
    assert [(r["scenario"], r["controller"]) for r in rows] == [
        (s, c) for s in SMALL for c in ("none", "hpa", "baseline", "oracle")
    ]
    for r in rows:
        assert tuple(r) == FIELDS
        assert r["seed"] == 3
        assert set(r["actions"]) == {"scale", "rollback", "route", "restart"}
        assert r["total_requests"] > 0
    report = BenchReport(rows)
    # Every ratio the table prints is the row's number over the reference's number.
    for r in rows:
        base = report.row(r["scenario"], "baseline")
        assert base is not None
        expected = ratio(r["slo_violation_minutes"], base["slo_violation_minutes"])
        assert report.ratio_to(r, "baseline", "slo_violation_minutes") == expected
    hpa = report.row("lunch-spike", "hpa")
    oracle = report.row("lunch-spike", "oracle")
    assert hpa is not None
    assert oracle is not None
    lines = res.output.splitlines()
    start = next(i for i, ln in enumerate(lines) if "lunch-spike" in ln)
    line = next(ln for ln in lines[start:] if " hpa " in ln)  # the scenario is named once
    rh = hpa["replica_hours"] / oracle["replica_hours"]
    assert _fmt(rh) in line  # replica-hours × oracle
    assert f"{hpa['slo_violation_minutes']:.1f}" in line


def test_ratio_edge_cases() -> None:
    assert ratio(3.0, 1.5) == 2.0
    assert ratio(0.0, 0.0) == 1.0
    assert math.isinf(ratio(1.0, 0.0))


def test_unknown_controller_exits_2_naming_the_known_ones(small_suite: Path) -> None:
    res = runner.invoke(app, ["bench", "--scenarios", str(small_suite), "--controllers", "hpa,x"])
    assert res.exit_code == 2
    assert "unknown controller 'x'" in res.output
    assert "baseline" in res.output
    assert "oracle" in res.output


@pytest.mark.parametrize("kind", ["missing", "empty", "broken"])
def test_bad_scenario_folder_exits_2(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "s"
    if kind != "missing":
        folder.mkdir()
    if kind == "broken":
        (folder / "x.yaml").write_text("version: 1\nname: x\n")
    res = runner.invoke(app, ["bench", "--scenarios", str(folder)])
    assert res.exit_code == 2
    assert "error" in res.output
    assert "Traceback" not in res.output


def test_relative_scenario_folder_resolves_from_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    from quarterdeck.cli.bench_cmd import _scenario_dir

    monkeypatch.chdir("/")
    assert _scenario_dir(Path("cluster-sim/scenarios")) == SUITE
    assert _scenario_dir(None) == SUITE


class _Quiet:
    """An injected controller, as the CLI layer would add `agent`."""

    name = "quiet"

    def start(self, sim: Simulator) -> None:
        return None

    def decide(self, sim: Simulator) -> Sequence[ActionProposal]:
        return ()

    def stats(self) -> ControllerStats:
        return ControllerStats(denied=1)


def test_extra_controllers_join_the_default_list(
    small_suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sim_cmd.EXTRA_CONTROLLERS, "agent", _Quiet)
    out = tmp_path / "b.json"
    (small_suite / "pod-crash.yaml").unlink()
    res = runner.invoke(app, ["bench", "--scenarios", str(small_suite), "--json", str(out)])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())["rows"]
    assert [r["controller"] for r in rows] == ["none", "hpa", "baseline", "oracle", "agent"]
    assert rows[-1]["denied"] == 1


def test_library_api_errors_are_bench_errors(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="known: baseline, hpa, none, oracle"):
        resolve_controllers(["nope"])
    with pytest.raises(BenchError, match="does not exist"):
        load_suite(tmp_path / "nowhere")


@pytest.mark.slow
def test_full_suite_oracle_beats_or_matches_hpa_and_none_everywhere() -> None:
    suite = load_suite(SUITE)
    report = run_bench(suite, resolve_controllers(["none", "hpa", "baseline", "oracle"]))
    for scn in report.scenarios():
        minutes = {c: report.row(scn, c)["slo_violation_minutes"] for c in report.controllers()}  # type: ignore[index]
        assert minutes["oracle"] <= minutes["hpa"], scn
        assert minutes["oracle"] <= minutes["baseline"], scn
        assert minutes["baseline"] <= minutes["none"], scn
