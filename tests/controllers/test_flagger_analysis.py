"""Flagger's canary analysis as the `baseline` controller runs it (pure state machine)."""

from __future__ import annotations

from quarterdeck.sim.controllers.baseline import (
    Analysis,
    CheckResult,
    FlaggerSettings,
    advance,
    metric_checks,
    run_checks,
    start_analysis,
)

S = FlaggerSettings()
PASS = CheckResult(True)
FAIL = CheckResult(False, "request-success-rate 88 < 99")


def run(a: Analysis, results: list[CheckResult]) -> tuple[Analysis, list[str]]:
    """Feeds one result per due interval; returns the final status and the steps taken."""
    steps: list[str] = []
    t = a.next_run_at
    for r in results:
        a, step = advance(a, r, t, S)
        steps.append(step)
        t += S.interval_s
    return a, steps


def test_defaults_are_the_documented_ones() -> None:
    """canary.go AnalysisInterval 60 s; tutorials threshold 5, maxWeight 50, stepWeight 10;
    metrics.md builtin success rate ≥ 99 %, duration ≤ 500 ms."""
    assert (S.interval_s, S.threshold, S.max_weight, S.step_weight) == (60.0, 5, 50, 10)
    assert (S.min_success_rate_pct, S.max_request_duration_ms) == (99.0, 500.0)


def test_rolls_back_after_threshold_failed_checks_and_not_before() -> None:
    """deployment-strategies.md: "check if the number of failed checks reached the threshold →
    route all traffic to primary"; the threshold is checked before the next analysis runs."""
    a = start_analysis("v1", "v2", "canary", now=0.0, weight=20, s=S)
    a, steps = run(a, [FAIL] * 5)
    assert steps == ["halt"] * 5
    assert a.failed_checks == 5
    assert a.phase == "progressing"
    assert a.weight == 20  # a failed check halts advancement
    a, step = advance(a, FAIL, a.next_run_at, S)
    assert step == "rollback"
    assert a.phase == "failed"
    # Rollback lands interval × (threshold + 1) after the canary started.
    assert a.next_run_at - S.interval_s == 6 * S.interval_s


def test_passes_do_not_reset_the_failed_checks_counter() -> None:
    """scheduler.go only increments FailedChecks during a run; a pass advances but does not
    forgive earlier failures."""
    a = start_analysis("v1", "v2", "canary", now=0.0, weight=10, s=S)
    a, steps = run(a, [FAIL, PASS, FAIL, PASS, FAIL, FAIL, FAIL, FAIL])
    assert "rollback" in steps
    assert steps.index("rollback") == 7


def test_promotes_after_stepping_to_max_weight_when_checks_pass() -> None:
    """ "increase canary traffic weight by stepWeight till it reaches maxWeight" then "promote
    canary to primary" and "route all traffic to primary"."""
    a = start_analysis("v1", "v2", "canary", now=0.0, weight=20, s=S)
    weights = []
    steps = []
    t = a.next_run_at
    for _ in range(6):
        a, step = advance(a, PASS, t, S)
        steps.append(step)
        weights.append(a.weight)
        t += S.interval_s
    assert steps == ["advance", "advance", "advance", "promote", "finalise", "done"]
    assert weights[:3] == [30, 40, 50]
    assert a.phase == "succeeded"


def test_nothing_happens_before_the_interval_is_due() -> None:
    a = start_analysis("v1", "v2", "canary", now=100.0, weight=10, s=S)
    b, step = advance(a, FAIL, 130.0, S)
    assert step == "wait"
    assert b == a


def test_blue_green_mode_finishes_after_iterations_or_rolls_back() -> None:
    """Kubernetes provider: "Setting canaryAnalysis.iterations: 10"."""
    ok = start_analysis("v1", "v2", "blue_green", now=0.0, weight=0, s=S)
    ok, steps = run(ok, [PASS] * 10)
    assert steps[-1] == "done"
    assert ok.phase == "succeeded"
    bad = start_analysis("v1", "v2", "blue_green", now=0.0, weight=0, s=S)
    bad, steps = run(bad, [FAIL] * 6)
    assert steps[-1] == "rollback"


def test_checks_use_the_slo_or_the_builtin_thresholds() -> None:
    slo = metric_checks(S, slo_p95_ms=150.0, slo_error_ratio=0.01)
    assert run_checks(slo, {"request-success-rate": 99.5, "request-duration": 120.0}).ok
    r = run_checks(slo, {"request-success-rate": 99.5, "request-duration": 180.0})
    assert not r.ok
    assert "request-duration" in r.message
    builtin = metric_checks(FlaggerSettings(use_service_slo=False), 150.0, 0.01)
    assert run_checks(builtin, {"request-success-rate": 99.5, "request-duration": 180.0}).ok
    assert not run_checks(builtin, {"request-success-rate": 98.0, "request-duration": 10.0}).ok


def test_no_data_fails_the_check() -> None:
    """Flagger: "Halt advancement no values found for metric ... probably not receiving
    traffic"."""
    checks = metric_checks(S, 150.0, 0.01)
    r = run_checks(checks, {"request-success-rate": None, "request-duration": None})
    assert not r.ok
    assert "no values found" in r.message
