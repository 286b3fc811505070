"""Agent-facing ACTION tools: scale, rollback, set route weights, restart.

They apply nothing. Each checks its arguments against the cluster as it is now (the service
exists, the version is in its history and has pods, the change is not a no-op) and returns
`ToolResult(status=APPROVAL_REQUIRED, proposal=ActionProposal(...))`: the proposal then goes to
the guard, maybe a human, and the executor. Bounds (min/max replicas, step sizes) are the guard's
to decide, not the tools'; the current values travel in `data` so the guard and the model see
them. Every failure — bad arguments, an unknown version, an unreachable cluster — is an ERROR
result naming the problem, never an exception.

Register them with `register_action_tools(registry, ActionContext(cluster, clock))`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from quarterdeck.core.clock import Clock
from quarterdeck.core.models import (
    Action,
    ActionProposal,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
    ToolResult,
    ToolStatus,
)
from quarterdeck.tools.cluster.base import ClusterClient, ClusterError, Deployment
from quarterdeck.tools.cluster.history import rollback_target
from quarterdeck.tools.registry import ToolRegistry

NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def sequential_ids(prefix: str = "p") -> Callable[[], str]:
    """Deterministic proposal ids: p-000001, p-000002, ..."""
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):06d}"


@dataclass(frozen=True)
class ActionContext:
    """What the action tools need; injected, never read from globals."""

    cluster: ClusterClient
    clock: Clock
    new_id: Callable[[], str] = field(default_factory=sequential_ids)
    requested_by: str = "agent"


# -- parameters ------------------------------------------------------------------------------


class _ActionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(pattern=NAME, max_length=63, description="the service's namespace")
    service: str = Field(pattern=NAME, max_length=63, description="the service (Deployment)")
    reason: str = Field(
        default="", max_length=4000, description="why: the evidence, in a sentence or two"
    )

    @property
    def target(self) -> Target:
        return Target(namespace=self.namespace, service=self.service)


class ScaleParams(_ActionParams):
    replicas: int = Field(ge=0, le=10_000, description="the desired replica count")


class RollbackParams(_ActionParams):
    to_revision: int | None = Field(default=None, ge=1, description="a revision number")
    to_version: str | None = Field(
        default=None, max_length=63, description="a version name, e.g. v1 (its newest revision)"
    )


class RouteParams(_ActionParams):
    weights: dict[str, int] = Field(
        description="percent of traffic per version, summing to 100, e.g. {'v1': 90, 'v2': 10}"
    )

    @field_validator("weights")
    @classmethod
    def _valid_weights(cls, v: dict[str, int]) -> dict[str, int]:
        RouteAction(weights=v)  # one definition of valid weights: the model's
        return v


class RestartParams(_ActionParams):
    pods: int | None = Field(
        default=None, ge=1, description="how many pods to recreate; omit for a rolling restart"
    )


# -- the tools -------------------------------------------------------------------------------


class Refused(ValueError):
    """An action that makes no sense against the cluster's current state."""


def _state(d: Deployment) -> dict[str, Any]:
    return {
        "replicas": d.replicas,
        "ready": d.ready,
        "version": d.version,
        "revision": d.revision,
        "min_replicas": d.min_replicas,
        "max_replicas": d.max_replicas,
    }


class ActionTools:
    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx

    def _propose(
        self, tool: str, p: _ActionParams, check: Callable[[], tuple[Action, str, dict[str, Any]]]
    ) -> ToolResult:
        try:
            action, summary, current = check()
            proposal = ActionProposal(
                id=self.ctx.new_id(),
                target=p.target,
                action=action,
                reason=p.reason,
                requested_by=self.ctx.requested_by,
                created_at=self.ctx.clock.now(),
            )
        except ClusterError as error:
            return ToolResult(tool=tool, status=ToolStatus.ERROR, error=f"cluster: {error}")
        except (Refused, ValidationError) as error:
            return ToolResult(tool=tool, status=ToolStatus.ERROR, error=f"{tool}: {error}")
        data = {
            "proposal_id": proposal.id,
            "summary": summary,
            "current": current,
            "note": "proposed, not applied: the guard (and maybe a human) decides",
        }
        return ToolResult(
            tool=tool, status=ToolStatus.APPROVAL_REQUIRED, data=data, proposal=proposal
        )

    def scale(self, p: ScaleParams) -> ToolResult:
        def check() -> tuple[Action, str, dict[str, Any]]:
            d = self.ctx.cluster.deployment(p.target)
            if d.replicas == p.replicas:
                raise Refused(f"{p.target} already has {d.replicas} replicas; nothing to change")
            summary = f"scale {p.target} from {d.replicas} to {p.replicas} replicas"
            return ScaleAction(replicas=p.replicas), summary, _state(d)

        return self._propose("scale", p, check)

    def rollback(self, p: RollbackParams) -> ToolResult:
        def check() -> tuple[Action, str, dict[str, Any]]:
            d = self.ctx.cluster.deployment(p.target)
            action = RollbackAction(to_revision=p.to_revision, to_version=p.to_version)
            history = self.ctx.cluster.revisions(p.target)
            choice = rollback_target(p.target, history, action)
            canary = next((r for r in history if r.canary), None)
            if choice.current and canary is not None:
                summary = (
                    f"abort the canary of {p.target} ({canary.version}, revision "
                    f"{canary.revision}); revision {choice.revision} ({choice.version}) keeps "
                    "all traffic"
                )
            else:
                summary = (
                    f"roll {p.target} back from revision {d.revision} ({d.version}) to "
                    f"revision {choice.revision} ({choice.version})"
                )
            current = {**_state(d), "history": [r.model_dump() for r in history]}
            return action, summary, current

        return self._propose("rollback", p, check)

    def set_route_weights(self, p: RouteParams) -> ToolResult:
        def check() -> tuple[Action, str, dict[str, Any]]:
            weights = self.ctx.cluster.route_weights(p.target)
            history = self.ctx.cluster.revisions(p.target)
            running = {r.version for r in history if r.replicas > 0}
            known = {r.version for r in history}
            for version in p.weights:
                if version not in known:
                    listed = ", ".join(sorted(known))
                    raise Refused(f"{p.target} has no version {version!r} (revisions: {listed})")
                if version not in running:
                    raise Refused(f"version {version} of {p.target} has no pods to route to")
            if dict(p.weights) == weights:
                raise Refused(f"{p.target} already routes {weights}; nothing to change")
            summary = f"route {p.target}: {weights} -> {dict(p.weights)}"
            return RouteAction(weights=p.weights), summary, {"weights": weights}

        return self._propose("set_route_weights", p, check)

    def restart(self, p: RestartParams) -> ToolResult:
        def check() -> tuple[Action, str, dict[str, Any]]:
            d = self.ctx.cluster.deployment(p.target)
            pods = self.ctx.cluster.pods(p.target.namespace, p.target.service)
            if not pods:
                raise Refused(f"{p.target} has no pods to restart")
            if p.pods is not None and p.pods > len(pods):
                raise Refused(f"cannot restart {p.pods} pods: {p.target} has {len(pods)}")
            what = "every pod (rolling)" if p.pods is None else f"{p.pods} pod(s)"
            current = {**_state(d), "pods": len(pods)}
            return RestartAction(pods=p.pods), f"restart {what} of {p.target}", current

        return self._propose("restart", p, check)

    def register(self, registry: ToolRegistry) -> None:
        registry.register(
            "scale",
            "Propose setting a service's replica count. Applies nothing: returns a proposal "
            "for the guard and, if required, a human.",
            ScaleParams,
            self.scale,
            kind="act",
        )
        registry.register(
            "rollback",
            "Propose rolling a service back to an earlier revision (by number or version); "
            "without either, to the previous revision, or aborting a running canary.",
            RollbackParams,
            self.rollback,
            kind="act",
        )
        registry.register(
            "set_route_weights",
            "Propose traffic weights (percent per version, summing to 100) between a "
            "service's primary and canary versions.",
            RouteParams,
            self.set_route_weights,
            kind="act",
        )
        registry.register(
            "restart",
            "Propose recreating some pods of a service (oldest first), or all of them one at "
            "a time when `pods` is omitted.",
            RestartParams,
            self.restart,
            kind="act",
        )


def register_action_tools(registry: ToolRegistry, ctx: ActionContext) -> ActionTools:
    tools = ActionTools(ctx)
    tools.register(registry)
    return tools
