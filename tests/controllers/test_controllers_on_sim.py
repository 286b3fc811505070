"""hpa, baseline and oracle driving the simulator on the public scenarios."""

from __future__ import annotations

import itertools

import pytest

from quarterdeck.sim.controllers import known, make
from quarterdeck.sim.controllers.baseline import BaselineController, FlaggerSettings
from quarterdeck.sim.engine import Simulator
from tests.controllers.conftest import run_named, scenario_named

COMPARED = ("hpa", "baseline", "oracle")


def test_make_knows_every_comparison_controller() -> None:
    assert set(COMPARED) <= set(known())
    for name in COMPARED:
        assert make(name).name == name


def _fingerprint(sim: Simulator) -> tuple[object, ...]:
    return (
        sim.now,
        tuple(sim.services()),
        tuple(sim.pods()),
        tuple(sim.nodes()),
        len(sim.events()),
        sim.rng.bit_generator.state["state"]["state"],
    )


@pytest.mark.parametrize("name", COMPARED)
def test_decide_reads_the_sim_and_never_changes_it(name: str) -> None:
    sim = Simulator(scenario_named("incident-storm"))
    ctl = make(name)
    ctl.start(sim)
    for _ in range(8):  # into the first spike, so every controller has something to say
        sim.advance(240)
        before = _fingerprint(sim)
        proposals = ctl.decide(sim)
        assert _fingerprint(sim) == before
        for p in proposals:
            assert p.requested_by == name
            assert p.created_at == sim.now


@pytest.mark.parametrize("name", COMPARED)
def test_runs_are_deterministic(name: str) -> None:
    a = run_named("lunch-spike", name).to_json_dict()
    from quarterdeck.sim.runner import run

    b = run(scenario_named("lunch-spike"), make(name)).to_json_dict()
    a.pop("wall_seconds")
    b.pop("wall_seconds")
    assert a == b


@pytest.mark.parametrize("name", COMPARED)
@pytest.mark.parametrize("scenario", ["lunch-spike", "llm-surge", "incident-storm"])
def test_scale_actions_stay_within_min_and_max_replicas(name: str, scenario: str) -> None:
    scn = scenario_named(scenario)
    bounds = {f"{s.namespace}/{s.name}": (s.min_replicas, s.max_replicas) for s in scn.services}
    result = run_named(scenario, name)
    scales = [a for a in result.action_log if a.kind == "scale"]
    for a in scales:
        lo, hi = bounds[a.target]
        assert lo <= a.action["replicas"] <= hi, a
    assert result.invalid_actions == 0


def test_hpa_scales_up_for_the_spike_and_back_down_after_the_window() -> None:
    result = run_named("lunch-spike", "hpa")
    scales = [(a.t, a.action["replicas"]) for a in result.action_log if a.kind == "scale"]
    spike_at, spike_end = 600.0, 600.0 + 60 + 900 + 60
    ups = [t for t, _ in scales if spike_at <= t <= spike_at + 300]
    assert ups, "the HPA reacts within five minutes of the spike"
    peak = max(r for _, r in scales)
    assert peak >= 7  # 250 rps ÷ (50 rps × 70 %) ≈ 7.1
    downs = [t for (_, before), (t, after) in itertools.pairwise(scales) if after < before]
    assert downs
    # No scale-down while the spike holds, and none within the 300 s stabilisation window of
    # the sync that recommended the peak.
    peak_at = min(t for t, r in scales if r == peak)
    assert min(downs) >= max(spike_end - 60, peak_at + 300)
    none = run_named("lunch-spike", "none").metrics.slo_violation_minutes
    assert result.metrics.slo_violation_minutes < none


def test_baseline_rolls_back_a_bad_canary_after_threshold_failed_checks() -> None:
    result = run_named("canary-regression", "baseline")
    rollbacks = [a for a in result.action_log if a.kind == "rollback"]
    assert len(rollbacks) == 1
    assert rollbacks[0].action["to_version"] == "v1"
    s = FlaggerSettings()
    canary_at, startup = 900.0, 60.0
    # Routed at +startup; checks from one interval later; threshold failures; then the rollback.
    earliest = canary_at + startup + s.interval_s * (s.threshold + 1)
    assert earliest <= rollbacks[0].t <= earliest + 2 * s.interval_s
    hpa = run_named("canary-regression", "hpa").metrics.slo_violation_minutes
    assert result.metrics.slo_violation_minutes < hpa / 3


def test_baseline_promotes_a_good_canary_step_by_step() -> None:
    scn = scenario_named("canary-promotion")
    ctl = BaselineController()
    from quarterdeck.sim.runner import run

    result = run(scn, ctl)
    routes = [a.action["weights"]["v2"] for a in result.action_log if a.kind == "route"]
    assert routes == [20, 30, 40, 50]  # from the deploy's 10 % in stepWeight 10 up to maxWeight
    promote = [a for a in result.action_log if a.kind == "rollback"]
    assert [a.action["to_version"] for a in promote] == ["v2"]
    assert "promoted canary" in promote[0].message
    assert result.metrics.slo_violation_minutes == 0


def test_baseline_undoes_a_bad_replace_deploy() -> None:
    result = run_named("bad-rollout", "baseline")
    rollbacks = [a for a in result.action_log if a.kind == "rollback"]
    assert [a.action["to_version"] for a in rollbacks] == ["v1"]
    assert "rolled back to v1" in rollbacks[0].message


@pytest.mark.parametrize("scenario", ["lunch-spike", "llm-surge"])
def test_oracle_beats_or_matches_hpa_on_a_spike(scenario: str) -> None:
    oracle = run_named(scenario, "oracle").metrics
    hpa = run_named(scenario, "hpa").metrics
    assert oracle.slo_violation_minutes <= hpa.slo_violation_minutes
    assert oracle.slo_violation_minutes == 0  # it has ready pods before the load arrives


def test_oracle_pre_scales_before_the_spike_starts() -> None:
    """The spike ramps from 30m over 5 minutes and new GPU pods need 5 minutes: the oracle asks
    for them before the ramp starts, not when the load shows up."""
    result = run_named("llm-surge", "oracle")
    first_up = min(a.t for a in result.action_log if a.kind == "scale")
    assert first_up < 1800.0


def test_oracle_undoes_regressions_before_they_serve() -> None:
    for scenario in ("bad-rollout", "canary-regression"):
        result = run_named(scenario, "oracle")
        rollbacks = [a for a in result.action_log if a.kind == "rollback"]
        assert len(rollbacks) == 1
        assert rollbacks[0].t - 900.0 <= scenario_named(scenario).controller_interval
        assert result.metrics.slo_violation_minutes == 0
