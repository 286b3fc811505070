"""SLO-breach detection by multi-window burn rate (Google SRE workbook, "Alerting on SLOs").

Burn rate = how fast the error budget is being spent, 1.0 meaning exactly at the SLO:
- errors: observed error ratio ÷ the SLO's error ratio;
- latency: observed p95 ÷ the SLO's p95. p95 > SLO ⟺ more than 5 % of requests were slower
  than the SLO latency ⟺ the latency budget (5 % slow) burns faster than 1.0, so the ratio is a
  monotone stand-in for the budget burn when only the quantile is known.

A breach needs BOTH windows over their thresholds (the workbook's multi-window rule):
- the short window (60 s) says it is happening now, and lets the alert end quickly;
- the long window (5 min) says it is significant — one noisy sample lifts the short window's
  average but barely moves the long one, so it does not page.

Thresholds (`BurnPolicy`): short ≥ 1.0 and long ≥ 1.0 for a *breach* (the benchmark counts every
second the 60 s p95 or error ratio is over its SLO, so the budget is spent as soon as the short
window is over 1); a *fast burn* (short ≥ 2.0 and long ≥ 0.5) catches a sudden hard failure
(e.g. a bad deploy) before five minutes of it have accumulated, still needing the long window to
have moved. The workbook's 14.4 / 6 multipliers are for 30-day budgets; ours is per window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quarterdeck.agents.brain.observation import ServiceObservation, Window

SHORT_S = 60.0
LONG_S = 300.0


@dataclass(frozen=True)
class BurnPolicy:
    short_s: float = SHORT_S
    long_s: float = LONG_S
    breach_short: float = 1.0
    """Short-window burn at or above which the SLO is being violated now."""
    breach_long: float = 1.0
    """Long-window burn needed with it: the violation is significant, not one noisy sample."""
    fast_short: float = 2.0
    """A hard, sudden failure: this much short-window burn..."""
    fast_long: float = 0.5
    """...is a breach as soon as the long window shows this much (half the budget rate)."""


@dataclass(frozen=True)
class BurnRates:
    seconds: float
    error: float | None
    latency: float | None

    @property
    def worst(self) -> float:
        return max((v for v in (self.error, self.latency) if v is not None), default=0.0)


@dataclass(frozen=True)
class BurnVerdict:
    breach: bool
    short: BurnRates
    long: BurnRates
    signals: tuple[str, ...]  # which SLIs breach: "error_ratio", "p95_latency_ms"
    fast: bool = False


def burn_rates(w: Window | None, slo_p95_ms: float, slo_error_ratio: float) -> BurnRates:
    if w is None:
        return BurnRates(0.0, None, None)
    err = None
    if w.error_ratio is not None and slo_error_ratio > 0:
        err = w.error_ratio / slo_error_ratio
    lat = None
    if w.p95_ms is not None and slo_p95_ms > 0:
        lat = w.p95_ms / slo_p95_ms
    return BurnRates(w.seconds, err, lat)


def _over(short: float | None, long: float | None, p: BurnPolicy) -> tuple[bool, bool]:
    if short is None or long is None:
        return False, False
    slow = short >= p.breach_short and long >= p.breach_long
    fast = short >= p.fast_short and long >= p.fast_long
    return slow or fast, fast and not slow


def assess(obs: ServiceObservation, policy: BurnPolicy | None = None) -> BurnVerdict:
    """Is `obs`'s service breaching its SLO, by the multi-window rule?"""
    p = policy or BurnPolicy()
    short = burn_rates(obs.window(p.short_s), obs.slo_p95_ms, obs.slo_error_ratio)
    long = burn_rates(obs.window(p.long_s), obs.slo_p95_ms, obs.slo_error_ratio)
    signals = []
    fast_any = False
    for name, s, lg in (
        ("error_ratio", short.error, long.error),
        ("p95_latency_ms", short.latency, long.latency),
    ):
        hit, fast = _over(s, lg, p)
        if hit:
            signals.append(name)
            fast_any = fast_any or fast
    return BurnVerdict(
        breach=bool(signals), short=short, long=long, signals=tuple(signals), fast=fast_any
    )


@dataclass(frozen=True)
class Sample:
    """One instantaneous SLI reading, for sources that give samples rather than windows."""

    t: float
    request_rate: float
    error_ratio: float | None
    p95_ms: float | None


def window_from_samples(samples: Sequence[Sample], now: float, seconds: float) -> Window:
    """A `Window` over the samples in (now − seconds, now]: rate-weighted error ratio, mean p95
    (a sample without data is skipped, never read as zero)."""
    inside = [s for s in samples if now - seconds < s.t <= now]
    if not inside:
        return Window(seconds, None, None, None)
    rate = sum(s.request_rate for s in inside) / len(inside)
    weighted = [(s.error_ratio, s.request_rate) for s in inside if s.error_ratio is not None]
    total = sum(r for _, r in weighted)
    err = sum(e * r for e, r in weighted) / total if total > 0 else None
    lats = [s.p95_ms for s in inside if s.p95_ms is not None]
    p95 = sum(lats) / len(lats) if lats else None
    return Window(seconds, rate, err, p95)
