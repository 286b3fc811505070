"""Runs one scenario with one controller and reports the SCENARIOS.md metrics.

The controller is called every `controller_interval` (at t = interval, 2·interval, …); what it
proposes is applied at once through `Simulator.apply`. A proposal the simulator refuses is
recorded with outcome "invalid" and its reason; it is not counted in `actions`. Same scenario +
seed + controller ⇒ byte-identical `to_json_dict()` except `wall_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quarterdeck.core.models import ACTION_KINDS
from quarterdeck.sim.controllers.base import Controller
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.errors import InvalidAction
from quarterdeck.sim.metrics import Metrics, Timeline
from quarterdeck.sim.scenario import Scenario

Progress = Callable[[float, float], None]  # (sim seconds done, scenario duration)


@dataclass(frozen=True)
class ActionRecord:
    t: float
    target: str
    kind: str
    action: dict[str, Any]
    outcome: str  # "applied" | "invalid"
    message: str
    proposal_id: str


@dataclass(frozen=True)
class RunResult:
    scenario: str
    controller: str
    seed: int
    duration: float
    metrics: Metrics
    actions: dict[str, int]  # applied, by kind
    invalid_actions: int
    denied: int
    approvals_requested: int
    wall_seconds: float
    action_log: tuple[ActionRecord, ...]
    timeline: Timeline

    def to_json_dict(self) -> dict[str, Any]:
        """The SCENARIOS.md fields (+ scenario, controller, seed, per-service figures)."""
        m = self.metrics
        return {
            "scenario": self.scenario,
            "controller": self.controller,
            "seed": self.seed,
            "slo_violation_minutes": round(m.slo_violation_minutes, 4),
            "failed_requests": round(m.failed_requests),
            "total_requests": round(m.total_requests),
            "replica_hours": round(m.replica_hours, 4),
            "gpu_hours": round(m.gpu_hours, 4),
            "time_to_mitigate_s": [
                {
                    "event": x.event,
                    "type": x.type,
                    "service": x.service,
                    "at": x.at,
                    "seconds": None if x.seconds is None else round(x.seconds, 3),
                }
                for x in m.time_to_mitigate_s
            ],
            "actions": dict(self.actions),
            "invalid_actions": self.invalid_actions,
            "denied": self.denied,
            "approvals_requested": self.approvals_requested,
            "wall_seconds": round(self.wall_seconds, 3),
            "per_service": [
                {
                    "service": f"{s.namespace}/{s.name}",
                    "slo_violation_minutes": round(s.slo_violation_minutes, 4),
                    "failed_requests": round(s.failed_requests),
                    "total_requests": round(s.total_requests),
                    "replica_hours": round(s.replica_hours, 4),
                    "gpu_hours": round(s.gpu_hours, 4),
                }
                for s in m.per_service
            ],
            "action_log": [
                {
                    "t": a.t,
                    "target": a.target,
                    "action": a.action,
                    "outcome": a.outcome,
                    "message": a.message,
                }
                for a in self.action_log
            ],
        }


def run(
    scenario: Scenario,
    controller: Controller,
    seed: int | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Runs `scenario` from t = 0 to its end with `controller` deciding every interval."""
    started = time.perf_counter()
    sim = Simulator(scenario, seed)
    controller.start(sim)
    interval = scenario.controller_interval
    counts: dict[str, int] = dict.fromkeys(ACTION_KINDS, 0)
    invalid = 0
    log: list[ActionRecord] = []
    next_call = interval
    while not sim.done:
        sim.advance(max(0.0, min(next_call, sim.duration) - sim.now))
        next_call += interval
        if progress is not None:
            progress(sim.now, sim.duration)
        if sim.done:
            break
        for p in controller.decide(sim):
            try:
                outcome = sim.apply(p.target, p.action)
            except InvalidAction as exc:
                invalid += 1
                log.append(
                    _record(
                        sim.now, p.target, p.action, outcome="invalid", msg=exc.reason, pid=p.id
                    )
                )
                continue
            counts[p.action.kind] += 1
            log.append(
                _record(
                    sim.now, p.target, p.action, outcome="applied", msg=outcome.message, pid=p.id
                )
            )
    stats = controller.stats()
    return RunResult(
        scenario=scenario.name,
        controller=controller.name,
        seed=sim.seed,
        duration=scenario.duration,
        metrics=sim.metrics.summary(),
        actions=counts,
        invalid_actions=invalid,
        denied=stats.denied,
        approvals_requested=stats.approvals_requested,
        wall_seconds=time.perf_counter() - started,
        action_log=tuple(log),
        timeline=sim.metrics.timeline(),
    )


def _record(
    t: float, target: Any, action: Any, *, outcome: str, msg: str, pid: str
) -> ActionRecord:
    return ActionRecord(
        t=t,
        target=str(target),
        kind=action.kind,
        action=action.model_dump(mode="json"),
        outcome=outcome,
        message=msg,
        proposal_id=pid,
    )
