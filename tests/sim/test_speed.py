"""The performance target, behind `-m slow`: 50 services × 24 h at 1 s ticks in ≤ 30 s, < 1 GiB."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
import yaml

from quarterdeck.sim.controllers import make
from quarterdeck.sim.runner import run
from quarterdeck.sim.scenario import scenario_from_dict

FIFTY = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios" / "fifty-services.yaml"


@pytest.mark.slow
def test_fifty_services_for_a_day_within_budget():
    data = yaml.safe_load(FIFTY.read_text(encoding="utf-8"))
    data["duration"] = "24h"
    scn = scenario_from_dict(data, FIFTY)
    assert len(scn.services) == 50
    cpu0 = time.process_time()
    result = run(scn, make("none"))
    cpu = time.process_time() - cpu0
    assert result.metrics.total_requests > 0
    assert cpu <= 30.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1024 * 1024  # KiB
