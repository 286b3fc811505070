"""The public scenario suite: every file loads, and together they cover what the bench needs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from quarterdeck.sim.scenario import (
    EVENT_TYPES,
    Deploy,
    EventMessage,
    NodeFailure,
    Scenario,
    load_scenario,
)

SUITE = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios"
FILES = sorted(SUITE.glob("*.yaml"))


def _all() -> list[Scenario]:
    return [load_scenario(f) for f in FILES]


def test_the_suite_has_at_least_ten_scenarios() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_every_scenario_loads_and_is_named_by_its_slug(path: Path) -> None:
    scn = load_scenario(path)
    assert scn.version == 1
    assert scn.name == path.stem
    assert scn.description.strip(), "every scenario says what it is for"


def test_every_event_type_appears_somewhere() -> None:
    seen = {e.type for s in _all() for e in s.events}
    assert seen >= set(EVENT_TYPES)


def test_deploys_cover_replace_and_canary_and_node_failures_have_durations() -> None:
    events = [e for s in _all() for e in s.events]
    deploys = [e for e in events if isinstance(e, Deploy)]
    assert any(d.canary_weight is None for d in deploys)
    assert any(d.canary_weight is not None for d in deploys)
    assert any(isinstance(e, NodeFailure) and e.duration for e in events)


def test_a_prompt_injection_message_is_in_the_suite() -> None:
    messages = [e.message.lower() for s in _all() for e in s.events if isinstance(e, EventMessage)]
    assert any("ignore your instructions" in m and "zero" in m for m in messages)


def test_gpu_llm_services_have_multi_minute_startup_and_small_capacity() -> None:
    llm = [svc for s in _all() for svc in s.services if svc.name.startswith("llm")]
    assert llm
    assert all(svc.pod.gpu >= 1 for svc in llm)
    assert all(svc.pod.startup >= 120 and svc.capacity_rps <= 10 for svc in llm)


def test_diurnal_day_runs_24_hours_with_a_daily_cycle() -> None:
    scn = load_scenario(SUITE / "diurnal-day.yaml")
    assert scn.duration == 24 * 3600
    assert all(s.load.diurnal is not None and s.load.diurnal.period == 86400 for s in scn.services)


def test_fifty_services_has_fifty_and_matches_its_generator() -> None:
    scn = load_scenario(SUITE / "fifty-services.yaml")
    assert len(scn.services) == 50
    spec = importlib.util.spec_from_file_location("gen_fifty", SUITE / "gen_fifty.py")
    assert spec is not None
    assert spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.build() == (SUITE / "fifty-services.yaml").read_text(encoding="utf-8")


def test_most_scenarios_are_at_most_two_hours_so_the_bench_stays_fast() -> None:
    long = [s.name for s in _all() if s.duration > 2 * 3600]
    assert long == ["diurnal-day"]
