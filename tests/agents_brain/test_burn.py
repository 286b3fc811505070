from __future__ import annotations

from dataclasses import replace

from quarterdeck.agents.brain.burn import Sample, assess, window_from_samples
from quarterdeck.agents.brain.observation import ServiceObservation
from quarterdeck.core.models import Target

T = Target(namespace="ml", service="ranker")


def _obs(samples: list[Sample], now: float) -> ServiceObservation:
    windows = tuple(window_from_samples(samples, now, s) for s in (60.0, 300.0))
    return ServiceObservation(
        target=T, at=now, slo_p95_ms=200, slo_error_ratio=0.01, spec_replicas=3, ready=3,
        windows=windows,
    )  # fmt: skip


def _steady(now: float, p95: float = 100.0, err: float = 0.001) -> list[Sample]:
    times = range(5, int(now) + 1, 5)
    return [Sample(t=float(t), request_rate=50, error_ratio=err, p95_ms=p95) for t in times]


def test_one_noisy_sample_is_not_a_breach() -> None:
    samples = _steady(600)
    # One noisy 5 s sample: 20× the error budget and 1.5× the latency SLO.
    samples[-3] = replace(samples[-3], p95_ms=300.0, error_ratio=0.2)
    v = assess(_obs(samples, 600))
    assert v.short.worst > 1.0  # the short window alone would page...
    assert not v.breach  # ...the long window says it is not significant
    assert v.signals == ()


def test_sustained_burn_is_a_breach_in_both_windows() -> None:
    samples = _steady(600)[:-36] + _steady(600, p95=320.0)[-36:]  # the last 3 minutes slow
    v = assess(_obs(samples, 600))
    assert v.breach
    assert v.signals == ("p95_latency_ms",)
    assert v.long.latency is not None
    assert v.long.latency >= 1.0


def test_hard_failure_breaches_fast() -> None:
    samples = _steady(600)[:-2] + _steady(600, err=0.2)[-2:]  # 10 s of 20 % errors
    v = assess(_obs(samples, 600))
    assert v.breach
    assert v.fast
    assert "error_ratio" in v.signals


def test_missing_data_is_never_read_as_zero() -> None:
    times = range(5, 301, 5)
    samples = [Sample(t=float(t), request_rate=0, error_ratio=None, p95_ms=None) for t in times]
    w = window_from_samples(samples, 300, 60)
    assert w.error_ratio is None
    assert w.p95_ms is None
    assert not assess(_obs(samples, 300)).breach
