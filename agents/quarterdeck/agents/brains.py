"""Adapters that sharpen the agents' callables (`runtime.Brains`) with what the target offers.

- `with_whatif`: on the simulator, every planned proposal gets its predicted effect from the
  what-if (`quarterdeck.sim.whatif.predict`, a dry run on forks), and the candidates are ranked by
  it: fewer SLO-violation minutes first, then fewer failed requests, then fewer replica-hours.
  The executor later verifies the signals against that prediction;
- `AuditedReasoner`: every reasoner step lands in the audit log as a `reasoner_call`, under the
  trace id of the incident or request it served (`ReasonerRequest.trace_id`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from quarterdeck.agents.a2a.planner_agent import Planner
from quarterdeck.agents.a2a.wire import PlanResult, ServiceHealth
from quarterdeck.agents.executor import AuditSink
from quarterdeck.agents.reasoning.protocol import Reasoner, ReasonerReply, ReasonerRequest

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator

WHATIF_HORIZON_S = 600.0


def with_whatif(plan: Planner, sim: Simulator, *, horizon_s: float = WHATIF_HORIZON_S) -> Planner:
    """`plan`, with each proposal's `predicted` filled in and the list ranked by the what-if."""

    def planned(health: ServiceHealth) -> PlanResult:
        result = plan(health)
        if not result.proposals or sim.done:
            return result
        from quarterdeck.sim.whatif import predict

        scored = []
        for i, p in enumerate(result.proposals):
            w = predict(sim, [p], horizon_s)
            d = w.delta
            score = (d.slo_violation_minutes, d.failed_requests, d.replica_hours, i)
            scored.append((score, p.model_copy(update={"predicted": w.as_predicted()})))
        scored.sort(key=lambda s: s[0])
        notes = f"{result.notes} (ranked by a {horizon_s:.0f} s what-if)".strip()
        return PlanResult(proposals=[p for _, p in scored], notes=notes)

    return planned


class AuditedReasoner:
    """A `Reasoner` that writes every step it takes to the audit log (`reasoner_call`): which
    backend, for which role, how many tokens (null when the backend does not say), and how the
    step ended — filed under the request's trace id. The reasoning is untouched."""

    def __init__(self, reasoner: Reasoner, audit: AuditSink, *, principal: str = "") -> None:
        self._inner = reasoner
        self._audit = audit
        self.name = reasoner.name
        self._principal = principal

    def step(self, request: ReasonerRequest) -> ReasonerReply:
        started = time.perf_counter()  # a measurement for /metrics, not an input to any decision
        reply = self._inner.step(request)
        latency_s = time.perf_counter() - started
        usage = reply.usage
        outcome = "tool_calls" if reply.tool_calls else "refusal" if reply.refusal else "final"
        self._audit.append(
            "reasoner_call",
            {
                "backend": self.name,
                "role": request.role,
                "outcome": outcome,
                "tools_called": [c.name for c in reply.tool_calls],
                "prompt_tokens": usage.prompt_tokens if usage else None,
                "completion_tokens": usage.completion_tokens if usage else None,
                "total_tokens": usage.total if usage else None,
                "latency_s": round(latency_s, 6),
            },
            principal=self._principal or f"agent:{request.role}",
            trace_id=request.trace_id,
        )
        return reply
