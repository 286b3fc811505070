"""The agents' thinking (`runtime.Brains`) from a reasoner and the tool registry: every call is
one turn of the tool-calling graph (`graph.run_agent`), whichever backend drives it.

```python
brains = reasoner_brains(reasoner, registry, cluster, clock=clock)
Runtime.build(deps, settings, brains=brains)
```

- `diagnose(services)` → observer turn with the READ tools → one `ServiceHealth` per service
  (the brain's diagnosis in `.diagnosis`; `breach` or `risk` severity → `Health.BREACH`, since
  the loop acts only on breaches and a risk is a breach about to happen);
- `plan(health)` → planner turn with the ACT tools (they only propose) → `PlanResult`, ordered
  by the reasoner's ranking;
- `understand(text)` → coordinator turn with the read tools → `Intent`.

A turn that ends without a usable answer (LLM unreachable, out of steps, malformed payload)
gives NO_DATA health / no proposals / an `unknown` intent that says why — never an exception and
never an action.
"""

from __future__ import annotations

from typing import Any

from quarterdeck.agents.a2a.wire import Health, Intent, PlanResult, ServiceHealth
from quarterdeck.agents.brain.diagnosis import Diagnosis
from quarterdeck.agents.brain.intents import UNKNOWN_HELP
from quarterdeck.agents.graph import AgentOutcome, AgentTask, run_agent
from quarterdeck.agents.reasoning.protocol import Reasoner
from quarterdeck.agents.runtime import Brains
from quarterdeck.core.clock import Clock
from quarterdeck.core.models import (
    Action,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)
from quarterdeck.tools.cluster.base import ClusterClient, ClusterError, listed_targets
from quarterdeck.tools.registry import ToolRegistry


def _health(d: Diagnosis) -> ServiceHealth:
    bad = d.severity == "breach" or (d.severity == "risk" and d.actionable)
    summary = d.summary if d.severity != "risk" else f"at risk: {d.summary}"
    return ServiceHealth(
        target=d.target,
        health=Health.BREACH if bad else Health.OK,
        summary=f"{d.cause}: {summary}" if d.cause != "none" else summary,
        breaches=d.signals,
        evidence=d.evidence,
        diagnosis=d.to_dict(),
    )


def _why(outcome: AgentOutcome) -> str:
    if outcome.ok:  # it answered, twice, without the JSON object the task needs
        return f"{outcome.reasoner} answered without the JSON this needs: {outcome.text[:200]!r}"
    return f"{outcome.reasoner} stopped ({outcome.stopped}): {outcome.error or outcome.text}"


def reasoner_brains(
    reasoner: Reasoner,
    registry: ToolRegistry,
    cluster: ClusterClient,
    *,
    max_steps: int = 8,
    max_tokens: int | None = None,
    clock: Clock | None = None,
) -> Brains:
    def turn(role: Any, task: AgentTask) -> AgentOutcome:
        return run_agent(
            role, reasoner, registry, task, max_steps=max_steps, max_tokens=max_tokens, clock=clock
        )

    def diagnose(services: Any) -> list[ServiceHealth]:
        wanted = [Target.model_validate(t) for t in services or []]
        text = "Diagnose " + (", ".join(map(str, wanted)) if wanted else "every service")
        data = {"services": [t.model_dump() for t in wanted]} if wanted else {}
        task = AgentTask(text=text, data=data, tool_kinds=("read",), payload_key="diagnoses")
        outcome = turn("observer", task)
        raw = (outcome.payload or {}).get("diagnoses")
        if not outcome.ok or not isinstance(raw, list):
            # Every service asked about (all of them when none was named) reads as no data,
            # saying why: "the LLM is unreachable" must not pass for "no signals".
            return [
                ServiceHealth(target=t, health=Health.NO_DATA, summary=_why(outcome))
                for t in wanted or listed_targets(cluster)
            ]
        out = []
        for item in raw:
            try:
                out.append(_health(Diagnosis.from_dict(item)))
            except (ValueError, KeyError, TypeError):
                continue  # a malformed diagnosis from a model is dropped, not acted on
        return out

    def plan(health: ServiceHealth) -> PlanResult:
        if health.diagnosis is None:
            return PlanResult(proposals=[], notes="no diagnosis to plan from")
        text = f"Plan actions for {health.target}: {health.summary}"
        task = AgentTask(text=text, data={"diagnosis": health.diagnosis}, tool_kinds=("act",))
        outcome = turn("planner", task)
        ranking = [str(x) for x in (outcome.payload or {}).get("ranking") or []]
        by_id = {p.id: p for p in outcome.proposals if p.target == health.target}
        ordered = [by_id.pop(i) for i in ranking if i in by_id] + list(by_id.values())
        ordered = [
            p.model_copy(update={"evidence": p.evidence or health.evidence}) for p in ordered
        ]
        notes = outcome.text if outcome.ok else _why(outcome)
        return PlanResult(proposals=ordered, notes=notes)

    def understand(text: str) -> Intent:
        outcome = turn(
            "coordinator",
            AgentTask(text=text, data={"text": text}, tool_kinds=("read",), payload_key="intent"),
        )
        raw = (outcome.payload or {}).get("intent")
        if not outcome.ok or not isinstance(raw, dict):
            # A refusal or a malformed answer is the model's answer; no answer at all fails.
            failed = outcome.stopped in {"unavailable", "max_steps", "max_tokens", "tool_errors"}
            return Intent(kind="unknown", explanation=_why(outcome), failed=failed)
        return intent_from_parsed(raw, cluster)

    return Brains(diagnose=diagnose, plan=plan, understand=understand)


def intent_from_parsed(raw: dict[str, Any], cluster: ClusterClient) -> Intent:
    """The coordinator's `Intent` from a parsed intent (`brain.intents.ParsedIntent` as a dict),
    with the action built against the cluster's current state."""
    kind = raw.get("kind")
    explanation = str(raw.get("explanation") or "")
    try:
        target = Target.model_validate(raw["target"]) if raw.get("target") else None
    except ValueError:
        return Intent(kind="unknown", explanation="the request named an invalid service")
    if kind in ("diagnose", "fix"):
        return Intent(kind=kind, target=target, explanation=explanation)
    if kind == "unknown" or target is None:
        return Intent(kind="unknown", target=target, explanation=explanation or UNKNOWN_HELP)
    try:
        action = _action(str(kind), raw, target, cluster)
    except (ClusterError, ValueError) as exc:
        return Intent(kind="unknown", target=target, explanation=f"cannot do that: {exc}")
    return Intent(kind="act", target=target, action=action, explanation=explanation)


def _action(kind: str, raw: dict[str, Any], target: Target, cluster: ClusterClient) -> Action:
    if kind == "scale":
        if raw.get("replicas") is not None:
            return ScaleAction(replicas=int(raw["replicas"]))
        replicas = cluster.deployment(target).replicas
        size = int(raw.get("step") or 1)
        if size < 1:
            raise ValueError(f"a scale step is a positive number of replicas, not {size}")
        step = size if raw.get("direction") == "up" else -size
        return ScaleAction(replicas=max(0, replicas + step))
    if kind == "rollback":
        return RollbackAction(to_version=raw.get("version"))
    if kind == "route":
        version, pct = str(raw["version"]), int(raw["percent"])
        current = cluster.deployment(target).version
        if version == current:
            raise ValueError(f"{version} is already the current version of {target}")
        weights = {version: pct, current: 100 - pct} if pct < 100 else {version: 100}
        return RouteAction(weights=weights)
    if kind == "restart":
        return RestartAction(pods=raw.get("pods"))
    raise ValueError(f"unknown intent kind {kind!r}")


def embedded_brains(deps: Any, reads: Any = None) -> Brains:
    """A `BrainFactory` for `quarterdeck.agents.embedded.build_embedded(brains=…)`: the runtime's
    reasoner (the embedded one when none is set) over its registry, with the action tools added
    if they are not there yet."""
    from quarterdeck.agents.reasoning.embedded import EmbeddedReasoner
    from quarterdeck.tools.actions import ActionContext, register_action_tools, sequential_ids

    registry: ToolRegistry = deps.registry
    if "scale" not in registry:
        register_action_tools(
            registry,
            ActionContext(
                cluster=deps.cluster,
                clock=deps.clock,
                new_id=sequential_ids("plan"),
                requested_by="agent:planner",
            ),
        )
    reasoner = deps.reasoner if deps.reasoner is not None else EmbeddedReasoner()
    return reasoner_brains(reasoner, registry, deps.cluster, clock=deps.clock)
