"""Runs of the public scenarios, cached per (scenario, controller) so tests can share them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from quarterdeck.sim.controllers import make
from quarterdeck.sim.runner import RunResult, run
from quarterdeck.sim.scenario import Scenario, load_scenario

SUITE = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios"


@cache
def scenario_named(name: str) -> Scenario:
    return load_scenario(SUITE / f"{name}.yaml")


@cache
def run_named(scenario: str, controller: str) -> RunResult:
    return run(scenario_named(scenario), make(controller))


@pytest.fixture
def runs() -> object:
    """`runs(scenario, controller)` → the (cached) RunResult."""
    return run_named
