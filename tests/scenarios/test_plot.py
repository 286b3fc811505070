"""plot_run writes a readable PNG; big clusters show their worst services."""

from __future__ import annotations

import struct
from pathlib import Path

from quarterdeck.sim.controllers import make
from quarterdeck.sim.plot import _marks, _pick_services, plot_run
from quarterdeck.sim.runner import run
from quarterdeck.sim.scenario import load_scenario

SUITE = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios"


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_plot_run_writes_one_row_per_service_with_every_event(tmp_path: Path) -> None:
    scn = load_scenario(SUITE / "prompt-injection.yaml")
    result = run(scn, make("hpa"))
    out = plot_run(result, tmp_path / "sub" / "injection.png", scenario=scn)
    width, height = _png_size(out)
    assert width > 1500
    assert height > 2 * 250  # two service rows
    marks = _marks(scn, result)
    assert len(marks) == len(scn.events)
    assert {m.services for m in marks} == {("ml/fraud-detector",), ("ml/recommender",)}


def test_big_clusters_plot_their_worst_services(tmp_path: Path) -> None:
    scn = load_scenario(SUITE / "fifty-services.yaml")
    result = run(scn, make("hpa"))
    rows, note = _pick_services(result, 6)
    assert len(rows) == 6
    assert "6 of 50" in note
    worst = sorted(s.slo_violation_minutes for s in result.metrics.per_service)[-6:]
    shown = sorted(result.metrics.per_service[i].slo_violation_minutes for i in rows)
    assert shown == worst
    _, height = _png_size(plot_run(result, tmp_path / "fifty.png"))
    assert height < 2500  # six rows, not fifty
