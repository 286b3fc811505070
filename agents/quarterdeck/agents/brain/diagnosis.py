"""Diagnosis: why a service is (or is about to be) out of SLO, with the evidence behind it.

`diagnose(obs)` is a pure function of one `ServiceObservation`. Causes, checked in this order
(the first that holds wins, because it names the action that helps):

- `bad_version`: a canary, or the newer version of a rollout, is worse than the stable one
  (errors over SLO and over stable's, or p95 over SLO / 25 % over stable's); or a revision
  deployed in the last 30 min while the service breaches with capacity to spare.
  Evidence: per-version error ratio and p95.
- `lost_capacity`: pods were lost recently (event *reasons* BackOff, NodeLost, Evicted,
  OOMKilled, …; never their message text) and fewer replicas are ready than desired.
- `slow_dependency`: each replica serves markedly less than nominal (observed capacity < 75 %)
  with no new revision — the service time grew, e.g. a slow downstream; or p95 breaches at a
  low utilisation with no other explanation.
- `load`: the offered load, projected one pod start-up ahead on its trend, needs more replicas
  than exist or are starting (projected utilisation over `high_utilisation`), or the SLO
  breaches at a high utilisation.
- `overprovisioned`: over the long window the load fits in clearly fewer replicas (utilisation
  under `low_utilisation`) and nothing else is wrong.
- `none`: nothing worth acting on (a breach with no explainable cause is `none` with severity
  `breach`, for a human to look at). A healthy canary ready to promote is `none` with
  `details["promote"]`.

`severity`: `breach` (the burn-rate rule fired, see `burn`), `risk` (not yet, but the cause will
breach if left alone: a bad canary, load about to exceed capacity, lost pods), `ok`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from quarterdeck.agents.brain.burn import BurnPolicy, BurnVerdict, assess
from quarterdeck.agents.brain.observation import ServiceObservation, VersionStats
from quarterdeck.core.models import Evidence, Target

Cause = Literal[
    "load", "bad_version", "lost_capacity", "slow_dependency", "overprovisioned", "none"
]
CAUSES: tuple[Cause, ...] = (
    "load",
    "bad_version",
    "lost_capacity",
    "slow_dependency",
    "overprovisioned",
    "none",
)
Severity = Literal["breach", "risk", "ok"]

# Event reasons that mean pods were lost (Kubernetes' own words). Only reasons and kinds are
# read: an event's message is free text anyone with event-create rights can write.
LOSS_REASONS = frozenset(
    {"BackOff", "CrashLoopBackOff", "NodeLost", "Evicted", "OOMKilled", "Preempting", "Killing"}
)
NODE_LOSS_REASONS = frozenset({"NodeNotReady", "NodeLost"})
SCALE_DOWN_CAPACITY_MARGIN = 0.9  # node-loss spare kept on scale-down for capacity 10 % lower


@dataclass(frozen=True)
class DiagnosisSettings:
    burn: BurnPolicy = field(default_factory=BurnPolicy)
    target_utilisation: float = 0.72
    """Size for this utilisation: p95 stays well under the SLO and a lost pod or a noisy minute
    still fits (the HPA's usual 70 %)."""
    high_utilisation: float = 0.85
    """Projected utilisation above this is load about to exceed what the SLO tolerates."""
    low_utilisation: float = 0.6
    """Long-window utilisation below this (with the load fitting in fewer pods at the target) is
    waste. Between this and `high_utilisation` nothing moves: hysteresis around the target."""
    lead_s: float = 75.0
    """How far ahead to project a rising load: about one pod start-up plus a decision interval
    (the observation's `startup_s` + 15 s is used when known)."""
    recent_deploy_s: float = 1800.0
    """A revision younger than this is a suspect when the service breaches for no other reason."""
    loss_window_s: float = 600.0
    """Loss events this recent explain missing replicas."""
    worse_latency: float = 1.25
    """A version whose p95 is this many times the stable one's is worse."""
    slow_capacity: float = 0.75
    """Observed capacity per replica under this share of nominal = the service got slower."""
    min_version_rps: float = 0.5
    """A version serving less than this (req/s) has too little traffic to judge."""
    latency_headroom: float = 0.85
    """p95 above this share of the SLO at a real utilisation is load too: with few replicas,
    queueing makes p95 climb before the utilisation looks high, so add a replica."""
    latency_min_utilisation: float = 0.4
    """...but only when the service is busy enough for capacity to matter."""
    down_latency: float = 0.7
    """No scale-down while p95 is above this share of the SLO (less capacity, more queueing)."""
    promote_after_s: float = 300.0
    """A canary within SLO and no worse than stable for this long is ready to promote."""
    slow_start_s: float | None = None
    """Services whose pods take at least this long to start (model loads: minutes) get the
    utilisation band moved down to `slow_start_utilisation`: a lost node or a surge is upon them
    long before a new pod serves, so only capacity already running absorbs it. None: one band
    for every service. It costs replica-hours; `benchmarks/agent_tradeoff.py` measures how many."""
    slow_start_utilisation: float = 0.5
    """The target utilisation of slow-starting services (the band keeps its width)."""
    node_loss_start_s: float | None = None
    """Services whose pods take at least this long to start keep enough replicas to lose the
    node holding most of their pods and still serve the load at `node_loss_utilisation` (N+1
    by failure domain): a replacement pod would come too late. None: off, the default — it
    costs replica-hours (`benchmarks/agent_tradeoff.py` measures how many)."""
    node_loss_utilisation: float = 0.9
    """The utilisation the survivors of a node loss may run at until replacements are up."""

    def for_startup(self, startup_s: float | None) -> DiagnosisSettings:
        """These settings for a service whose pods take `startup_s` to serve."""
        if self.slow_start_s is None or startup_s is None or startup_s < self.slow_start_s:
            return self
        shift = self.target_utilisation - self.slow_start_utilisation
        return replace(
            self,
            target_utilisation=self.slow_start_utilisation,
            high_utilisation=self.high_utilisation - shift,
            low_utilisation=self.low_utilisation - shift,
        )


@dataclass(frozen=True)
class Diagnosis:
    target: Target
    cause: Cause
    severity: Severity
    summary: str
    at: float
    evidence: tuple[Evidence, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    signals: tuple[str, ...] = ()  # SLIs in breach

    @property
    def actionable(self) -> bool:
        return self.cause != "none" or bool(self.details.get("promote"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.model_dump(),
            "cause": self.cause,
            "severity": self.severity,
            "summary": self.summary,
            "at": self.at,
            "evidence": [e.model_dump(mode="json") for e in self.evidence],
            "details": self.details,
            "signals": list(self.signals),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diagnosis:
        cause = d.get("cause", "none")
        if cause not in CAUSES:
            raise ValueError(f"unknown cause {cause!r} (known: {', '.join(CAUSES)})")
        severity = d.get("severity", "ok")
        if severity not in ("breach", "risk", "ok"):
            raise ValueError(f"unknown severity {severity!r}")
        return cls(
            target=Target.model_validate(d["target"]),
            cause=cause,
            severity=severity,
            summary=str(d.get("summary", "")),
            at=float(d.get("at", 0.0)),
            evidence=tuple(Evidence.model_validate(e) for e in d.get("evidence", ())),
            details=dict(d.get("details") or {}),
            signals=tuple(d.get("signals", ())),
        )


def _ev(
    obs: ServiceObservation, signal: str, value: float, threshold: float | None = None
) -> Evidence:
    v = value if math.isfinite(value) else 1e9  # "infinitely" high stays a number for the guard
    return Evidence(
        signal=signal, value=round(v, 6), observed_at=obs.at, threshold=threshold, source="observer"
    )


def _sli_evidence(obs: ServiceObservation, burn: BurnVerdict) -> list[Evidence]:
    out = []
    w = obs.short
    if w is not None and w.p95_ms is not None:
        out.append(_ev(obs, "p95_latency_ms", w.p95_ms, obs.slo_p95_ms))
    if w is not None and w.error_ratio is not None:
        out.append(_ev(obs, "error_ratio", w.error_ratio, obs.slo_error_ratio))
    out.append(_ev(obs, "burn_rate_short", burn.short.worst, 1.0))
    out.append(_ev(obs, "burn_rate_long", burn.long.worst, 1.0))
    if obs.utilisation is not None:
        out.append(_ev(obs, "utilisation", obs.utilisation))
    out.append(_ev(obs, "ready_replicas", float(obs.ready), float(obs.spec_replicas)))
    return out


def replicas_needed(
    obs: ServiceObservation, s: DiagnosisSettings, rate: float | None
) -> int | None:
    """Replicas serving `rate` at the target utilisation, by the observed per-replica capacity."""
    cap = obs.capacity_per_replica
    if rate is None or cap is None or cap <= 0:
        return None
    return max(1, math.ceil(rate / (cap * s.target_utilisation) - 1e-9))


def node_loss_need(
    obs: ServiceObservation, s: DiagnosisSettings, rate: float | None, *, margin: float = 1.0
) -> int | None:
    """Replicas that still serve `rate` at `node_loss_utilisation` after losing the node with
    the most of the service's pods (one pod when placement is unknown), each replica serving
    `margin` × its observed capacity; None when the rule is off, does not apply to this service
    or cannot be computed."""
    if s.node_loss_start_s is None or obs.startup_s is None or obs.startup_s < s.node_loss_start_s:
        return None
    if obs.rolling_out or len(obs.versions) > 1:
        return None  # pods come and go while versions change; the version rules come first
    cap = obs.capacity_per_replica
    if rate is None or cap is None or cap <= 0:
        return None
    lost = obs.busiest_node_pods or 1
    return math.ceil(rate / (cap * margin * s.node_loss_utilisation) - 1e-9) + lost


def projected_load(obs: ServiceObservation, s: DiagnosisSettings) -> float | None:
    """The offered load one start-up ahead: now plus the rising trend (a falling one is ignored:
    capacity is released by the slower, long-window rule)."""
    if obs.offered_rps is None:
        return None
    lead = obs.startup_s + 15.0 if obs.startup_s is not None else s.lead_s
    slope = max(0.0, obs.load_slope or 0.0)
    return obs.offered_rps + slope * lead


def _stable_and_suspect(
    obs: ServiceObservation, s: DiagnosisSettings
) -> tuple[VersionStats | None, VersionStats | None, str | None]:
    """The stable version's and the suspect version's stats, and how the suspect got there:
    "canary" or "rollout". None when there is no second version serving."""
    if obs.canary_version and obs.canary_version != obs.version:
        return obs.version_stats(obs.version), obs.version_stats(obs.canary_version), "canary"
    if len(obs.versions) > 1:
        current = obs.version_stats(obs.version)
        others = [v for v in obs.versions if v.version != obs.version]
        stable = max(others, key=lambda v: v.request_rate or 0.0)
        return stable, current, "rollout"
    return None, None, None


def _worse(
    suspect: VersionStats,
    stable: VersionStats | None,
    obs: ServiceObservation,
    s: DiagnosisSettings,
    *,
    relative: bool = True,
) -> list[str]:
    """Why `suspect` is worse than `stable` (empty = it is not, or cannot be judged). A slower
    but within-SLO version counts only when `relative` (canary analysis); a rollout must break
    the SLO (a promoted canary's rollout mixes warm and cold pods)."""
    if suspect.request_rate is None or suspect.request_rate < s.min_version_rps:
        return []
    why = []
    err, lat = suspect.error_ratio, suspect.p95_ms
    s_err = stable.error_ratio if stable and stable.error_ratio is not None else 0.0
    s_lat = stable.p95_ms if stable else None
    if err is not None and err > obs.slo_error_ratio and err > 2 * s_err:
        why.append(f"error ratio {err:.3f} vs {s_err:.3f} on stable (SLO {obs.slo_error_ratio:g})")
    if lat is not None:
        if lat > obs.slo_p95_ms and (s_lat is None or s_lat <= obs.slo_p95_ms):
            why.append(f"p95 {lat:.0f} ms over the SLO {obs.slo_p95_ms:g} ms")
        elif relative and s_lat is not None and s_lat > 0 and lat > s.worse_latency * s_lat:
            why.append(f"p95 {lat:.0f} ms vs {s_lat:.0f} ms on stable")
    return why


def _previous_version(obs: ServiceObservation) -> tuple[int, str] | None:
    """The revision a rollback goes to: the newest older revision of another version."""
    older = sorted(
        (r for r in obs.revisions if r.number < obs.revision and r.version != obs.version),
        key=lambda r: r.number,
    )
    return (older[-1].number, older[-1].version) if older else None


def _recent_losses(obs: ServiceObservation, s: DiagnosisSettings) -> int:
    return sum(
        1
        for e in obs.events
        if obs.at - e.t <= s.loss_window_s
        and (e.reason in LOSS_REASONS or (e.kind == "Node" and e.reason in NODE_LOSS_REASONS))
    )


def diagnose(obs: ServiceObservation, settings: DiagnosisSettings | None = None) -> Diagnosis:
    """The cause of `obs`'s trouble (or its absence), with evidence. Pure."""
    s = (settings or DiagnosisSettings()).for_startup(obs.startup_s)
    burn = assess(obs, s.burn)
    base = Diagnosis(
        target=obs.target,
        cause="none",
        severity="breach" if burn.breach else "ok",
        summary="within SLO",
        at=obs.at,
        evidence=tuple(_sli_evidence(obs, burn)),
        signals=burn.signals,
    )
    load = projected_load(obs, s)
    need = replicas_needed(obs, s, load)
    details: dict[str, Any] = {
        "replicas": obs.spec_replicas,
        "ready": obs.ready,
        "starting": obs.starting,
        "pending": obs.pending,
        "needed": need,
        "projected_load_rps": load,
        "rising": (obs.load_slope or 0.0) > 0,
        "min_replicas": obs.min_replicas,
        "max_replicas": obs.max_replicas,
        "route_weights": dict(obs.route_weights),
    }
    severe: Severity = "breach" if burn.breach else "risk"

    # 1. a bad version
    stable, suspect, how = _stable_and_suspect(obs, s)
    if suspect is not None and how is not None:
        why = _worse(suspect, stable, obs, s, relative=how == "canary")
        if why:
            ev = [*base.evidence]
            for v in (suspect, stable):
                if v is None:
                    continue
                if v.error_ratio is not None:
                    ev.append(
                        _ev(
                            obs,
                            f"error_ratio{{version={v.version}}}",
                            v.error_ratio,
                            obs.slo_error_ratio,
                        )
                    )
                if v.p95_ms is not None:
                    ev.append(
                        _ev(obs, f"p95_latency_ms{{version={v.version}}}", v.p95_ms, obs.slo_p95_ms)
                    )
            prev = _previous_version(obs) if how == "rollout" else None
            return replace(
                base,
                cause="bad_version",
                severity=severe,
                summary=f"{how} version {suspect.version} is worse than "
                f"{stable.version if stable else 'stable'}: " + "; ".join(why),
                evidence=tuple(ev),
                details=details
                | {
                    "how": how,
                    "suspect": suspect.version,
                    "stable": stable.version if stable else None,
                    "rollback_to": prev[1] if prev else (stable.version if stable else None),
                    "rollback_revision": prev[0] if prev else None,
                },
            )
        if how == "canary" and stable is not None and not burn.breach:
            details = details | _promotion(obs, s, suspect, stable)
    cur = obs.revision_info(obs.revision)
    # A revision is new (a suspect) when it was created recently and is the newest one created:
    # a rollback re-uses the old ReplicaSet (renumbered, created long ago), so it is not new.
    young = (
        cur is not None
        and cur.created_at is not None
        and obs.at - cur.created_at <= s.recent_deploy_s
        and any(r.number < cur.number for r in obs.revisions)  # the first one is not "new"
        and all(
            r.created_at is None or r.created_at <= cur.created_at
            for r in obs.revisions
            if not r.canary
        )
    )
    prev = _previous_version(obs)
    util = obs.utilisation
    # A breach after a recent rollout, with enough capacity: the new version is the suspect.
    if (
        burn.breach
        and young
        and prev is not None
        and (util is None or util < s.high_utilisation)
        and obs.ready >= obs.spec_replicas
    ):
        return replace(
            base,
            cause="bad_version",
            severity="breach",
            summary=f"SLO breached ({', '.join(burn.signals)}) since revision {obs.revision} "
            f"({obs.version}) was deployed, with capacity to spare",
            details=details
            | {
                "how": "rollout",
                "suspect": obs.version,
                "stable": prev[1],
                "rollback_to": prev[1],
                "rollback_revision": prev[0],
            },
        )

    # 2. lost capacity
    losses = _recent_losses(obs, s)
    missing = obs.spec_replicas - obs.ready
    if losses and missing > 0:
        return replace(
            base,
            cause="lost_capacity",
            severity=severe,
            summary=f"{missing} of {obs.spec_replicas} replicas not ready after {losses} loss "
            f"event(s); {obs.starting - obs.pending} starting, {obs.pending} unschedulable",
            evidence=(*base.evidence, _ev(obs, "loss_events", float(losses))),
            details=details | {"lost": missing, "loss_events": losses},
        )

    # 3. a slow dependency (service time grew without a new version)
    cap, nominal = obs.capacity_per_replica, obs.nominal_capacity_rps
    # Only in a steady state: pods coming up (or just up) distort the per-replica figure.
    slow = (
        cap is not None
        and nominal
        and cap < s.slow_capacity * nominal
        and not young
        and obs.starting == 0
    )
    over = need is not None and need > obs.spec_replicas
    if slow and (burn.breach or over or (util or 0) > s.high_utilisation):
        assert cap is not None
        assert nominal is not None
        return replace(
            base,
            cause="slow_dependency",
            severity=severe,
            summary=f"each replica serves {cap:.1f} req/s instead of {nominal:g}: "
            "the service got slower (a dependency?)",
            evidence=(*base.evidence, _ev(obs, "capacity_per_replica_rps", cap, nominal)),
            details=details | {"capacity_per_replica": cap, "nominal_capacity": nominal},
        )

    # 4. load beyond capacity (now, or one start-up ahead on the trend)
    coming = obs.ready + obs.starting - obs.pending
    cap_now = obs.capacity_per_replica
    proj_util = load / (coming * cap_now) if load is not None and cap_now and coming > 0 else util
    short = obs.short
    # The short window's p95 speaks for the pods ready now only if none turned ready inside it
    # (a pod that did leaves a p95 from fewer replicas); unknown placement is taken as steady.
    steady = (
        short is not None
        and obs.starting == 0
        and (obs.last_ready_at is None or obs.at - obs.last_ready_at >= short.seconds)
    )
    hot = (
        steady
        and short is not None
        and short.p95_ms is not None
        and short.p95_ms > s.latency_headroom * obs.slo_p95_ms
        and (util or 0.0) >= s.latency_min_utilisation
    )
    # The load per replica that ran hot, for the caller's scale-down memory
    # (`stabilise.HotLoads`).
    if hot and obs.offered_rps is not None and obs.ready > 0:
        details = details | {"hot_load_per_replica": obs.offered_rps / obs.ready}
    if hot and not over:
        need = obs.spec_replicas + 1
        over = True
        details = details | {"needed": need, "latency_headroom": True}
    # Insurance is bought in calm weather: while the SLO is breached or a version looks worse
    # the other rules act, and an insurance action would hold the service while it settles.
    calm = not burn.breach and not (
        short is not None
        and (
            (short.error_ratio or 0.0) > obs.slo_error_ratio
            or (short.p95_ms or 0.0) > obs.slo_p95_ms
        )
    )
    # ...and on a settled set of pods: not in the start-up after one turned ready (a rollout's
    # new pods land where the scheduler put them; the version rules judge them first).
    settled = obs.starting == 0 and (
        obs.last_ready_at is None or obs.at - obs.last_ready_at >= (obs.startup_s or s.lead_s)
    )
    spare = node_loss_need(obs, s, load) if calm and settled else None
    if spare is not None and spare > max(need or 0, obs.spec_replicas):
        return replace(
            base,
            cause="load",
            severity=severe,
            summary=f"{obs.spec_replicas} replicas cannot lose their busiest node "
            f"({obs.busiest_node_pods or 1} pod(s)) and serve {load or 0:.0f} req/s at "
            f"{s.node_loss_utilisation:.0%}; {spare} can (pods take {obs.startup_s or 0:.0f} s "
            "to start)",
            evidence=(*base.evidence, _ev(obs, "projected_load_rps", load or 0.0)),
            details=details | {"needed": spare, "node_loss_headroom": True},
        )
    if (
        (proj_util is not None and proj_util > s.high_utilisation and over)
        or (burn.breach and util is not None and util >= s.target_utilisation and over)
        or hot
    ):
        return replace(
            base,
            cause="load",
            severity=severe,
            summary=f"load {load or 0:.0f} req/s needs {need} replicas at "
            f"{s.target_utilisation:.0%} utilisation; {obs.spec_replicas} desired, "
            f"{obs.ready} ready",
            evidence=(*base.evidence, _ev(obs, "projected_load_rps", load or 0.0)),
            details=details,
        )
    if burn.breach:
        what = ", ".join(burn.signals)
        if "p95_latency_ms" in burn.signals and not young and (util or 0) < s.target_utilisation:
            return replace(
                base,
                cause="slow_dependency",
                summary=f"p95 over SLO at utilisation {util or 0:.2f}: not load, no new "
                "version — a slow dependency?",
                details=details,
            )
        return replace(
            base,
            summary=f"SLO breached ({what}); no cause found that an action would fix",
            details=details,
        )

    # 5. more replicas than the load needs, over the long window
    long = obs.window(s.burn.long_s)
    long_rate = long.request_rate if long else None
    # The observed capacity per replica wobbles by a tenth from reading to reading: a
    # scale-down keeps the node-loss spare for a tenth less, or it gives back a replica one
    # reading and buys it again the next.
    spare_floor = node_loss_need(obs, s, long_rate, margin=SCALE_DOWN_CAPACITY_MARGIN)
    long_need = max(replicas_needed(obs, s, long_rate) or 0, spare_floor or 0) or None
    if (
        long_need is not None
        and obs.starting == 0
        and not obs.rolling_out
        and cap_now
        and long is not None
        and long.request_rate is not None
        and obs.ready > 0
        and long.request_rate / (obs.ready * cap_now) < s.low_utilisation
        and max(long_need, need or 0, obs.min_replicas) < obs.spec_replicas
        and (
            short is None or short.p95_ms is None or short.p95_ms <= s.down_latency * obs.slo_p95_ms
        )
    ):
        want = max(long_need, need or 0, obs.min_replicas)
        return replace(
            base,
            cause="overprovisioned",
            severity="ok",
            summary=f"{obs.spec_replicas} replicas where {want} would serve the load "
            f"at {s.target_utilisation:.0%}",
            details=details | {"needed": want},
        )
    if details.get("promote"):
        return replace(
            base,
            summary=f"canary {details['promote']} is healthy and ready to promote",
            details=details,
        )
    return replace(base, details=details)


def _promotion(
    obs: ServiceObservation, s: DiagnosisSettings, canary: VersionStats, stable: VersionStats
) -> dict[str, Any]:
    """`{"promote": version}` when a canary has served long enough within SLO, no worse than
    stable; else nothing."""
    rev = next((r for r in obs.revisions if r.canary), None)
    if rev is None or rev.created_at is None or obs.at - rev.created_at < s.promote_after_s:
        return {}
    if canary.request_rate is None or canary.request_rate < s.min_version_rps:
        return {}
    ok = canary_fit(
        canary.error_ratio,
        canary.p95_ms,
        stable.p95_ms,
        slo_error_ratio=obs.slo_error_ratio,
        slo_p95_ms=obs.slo_p95_ms,
        worse_latency=s.worse_latency,
    )
    return {"promote": canary.version, "promote_revision": rev.number} if ok else {}


def canary_fit(
    error_ratio: float | None,
    p95_ms: float | None,
    stable_p95_ms: float | None,
    *,
    slo_error_ratio: float,
    slo_p95_ms: float,
    worse_latency: float,
) -> bool:
    """Whether a canary may be promoted on its signals: error ratio and p95 within the SLO, and
    p95 no more than `worse_latency` × the stable version's. The brain's promotion rule and the
    executor's own check before a promotion both ask this."""
    if error_ratio is None or p95_ms is None:
        return False
    if error_ratio > slo_error_ratio or p95_ms > slo_p95_ms:
        return False
    return not (stable_p95_ms and p95_ms > worse_latency * stable_p95_ms)
