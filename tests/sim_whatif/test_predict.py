"""What-if: a fix is predicted to help, a harmful change to hurt; the original is never touched."""

from __future__ import annotations

import pickle

import pytest

from quarterdeck.core.models import ActionProposal
from quarterdeck.sim.controllers import make
from quarterdeck.sim.runner import run
from quarterdeck.sim.whatif import predict

from .conftest import API, RANKER, rollback_to, scale, spike_sim


def test_scaling_up_out_of_an_overload_is_predicted_to_help() -> None:
    sim = spike_sim(factor=3.0)  # 120 rps on 2 × 40 rps: requests dropped, p95 in seconds
    assert sim.window("ml", "api").error_ratio > 0.2
    w = predict(sim, [scale(6)])
    assert w.verdict == "helps", w.reason
    assert w.helps
    api = w.service("ml/api")
    assert api.delta.slo_violation_minutes < -5
    assert api.delta.error_ratio < -0.2
    assert api.delta.p95_ms_mean is not None
    assert api.delta.p95_ms_mean < -1000
    assert api.delta.replica_hours > 0  # it costs replicas, and says so
    assert [a.proposal_id for a in w.applied] == ["scale-6"]
    assert w.delta == w.total.delta


def test_scaling_down_during_a_spike_is_predicted_to_hurt() -> None:
    sim = spike_sim(factor=1.5, replicas=4)  # 60 rps on 4 × 40 rps: comfortably within SLO
    w = predict(sim, [scale(1)])
    assert w.verdict == "hurts", w.reason
    assert not w.helps
    api = w.service("ml/api")
    assert api.baseline.slo_violation_minutes == 0
    assert api.delta.slo_violation_minutes > 5
    assert api.delta.replica_hours < 0  # cheaper, but not worth it
    assert "more SLO-violation minutes" in w.reason


def test_the_original_simulator_is_left_byte_identical() -> None:
    sim = spike_sim(factor=3.0)
    before = pickle.dumps(sim)
    now, samples = sim.now, sim.sample("ml", "api")
    predict(sim, [scale(6)], horizon=900)
    assert pickle.dumps(sim) == before
    assert (sim.now, sim.sample("ml", "api")) == (now, samples)


def test_predictions_are_deterministic() -> None:
    sim = spike_sim(factor=3.0)
    assert predict(sim, [scale(6)]) == predict(sim, [scale(6)])


def test_doing_nothing_is_neutral_with_zero_delta() -> None:
    w = predict(spike_sim(factor=3.0), [])
    assert w.verdict == "neutral"
    assert w.total.baseline == w.total.with_actions
    assert w.services == ()


def test_a_refused_proposal_is_reported_and_the_rest_still_applied() -> None:
    bad = rollback_to("v9")
    w = predict(spike_sim(factor=3.0), [bad, scale(6)])
    assert [r.proposal_id for r in w.rejected] == [bad.id]
    assert "v9" in w.rejected[0].reason
    assert [a.proposal_id for a in w.applied] == ["scale-6"]
    assert w.helps


def test_only_refused_proposals_are_neutral() -> None:
    w = predict(spike_sim(factor=3.0), [rollback_to("v9")])
    assert w.verdict == "neutral"
    assert w.reason == "no proposal could be applied"


def test_other_services_are_unaffected_and_total_sums_the_cluster() -> None:
    sim = spike_sim(factor=3.0, second=True)
    w = predict(sim, [scale(6)])
    assert [c.service for c in w.services] == ["ml/api"]
    api = w.service("ml/api")
    # The ranker is not targeted: the cluster-wide change is exactly the api's change.
    assert w.total.delta.slo_violation_minutes == pytest.approx(api.delta.slo_violation_minutes)
    assert w.total.delta.failed_requests == pytest.approx(api.delta.failed_requests)
    assert w.total.baseline.total_requests > api.baseline.total_requests  # ranker's load counts
    w2 = predict(sim, [scale(6), scale(3, RANKER)])
    assert [c.service for c in w2.services] == ["ml/api", "ml/ranker"]


def test_the_horizon_stops_at_the_end_of_the_scenario() -> None:
    sim = spike_sim(factor=1.0, at_s=3300)  # 5 minutes before the 1 h scenario ends
    w = predict(sim, [scale(3)], horizon=3600)
    assert w.start == 3300
    assert w.horizon == 300


@pytest.mark.parametrize("horizon", [0, -5, float("nan"), float("inf")])
def test_a_bad_horizon_is_refused(horizon: float) -> None:
    with pytest.raises(ValueError, match="horizon"):
        predict(spike_sim(factor=1.0), [scale(3)], horizon=horizon)


def test_a_finished_scenario_has_nothing_to_predict() -> None:
    sim = spike_sim(factor=1.0)
    sim.run_to_end()
    with pytest.raises(ValueError, match="ended"):
        predict(sim, [scale(3)])


def test_the_figures_are_the_simulators_own_metrics() -> None:
    """One definition: predicting from t = 0 over the whole run matches the runner's `none` run."""
    sim = spike_sim(factor=3.0, at_s=0)
    w = predict(sim, [], horizon=sim.duration)
    ran = run(sim.scenario, make("none")).metrics
    assert w.total.baseline.slo_violation_minutes == pytest.approx(ran.slo_violation_minutes)
    assert w.total.baseline.failed_requests == pytest.approx(ran.failed_requests)
    assert w.total.baseline.total_requests == pytest.approx(ran.total_requests)
    assert w.total.baseline.replica_hours == pytest.approx(ran.replica_hours)


def test_the_prediction_fits_in_a_proposal() -> None:
    w = predict(spike_sim(factor=3.0), [scale(6)])
    proposal = ActionProposal.model_validate(
        scale(6).model_dump() | {"predicted": w.as_predicted()}
    )
    assert proposal.predicted is not None
    assert proposal.predicted["helps"] == 1.0
    assert proposal.predicted["slo_violation_minutes_delta"] == w.delta.slo_violation_minutes
    assert API.service in w.model_dump_json()
