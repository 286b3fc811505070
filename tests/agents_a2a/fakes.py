"""Small stand-ins for the executor's dependencies: a cluster that counts every apply, a guard
with a decision per action kind, and a signal board the test moves by hand."""

from __future__ import annotations

from dataclasses import dataclass, field

from quarterdeck.agents.verify import Signals
from quarterdeck.core.models import (
    Action,
    ActionProposal,
    Decision,
    RollbackAction,
    RouteAction,
    RuleMatch,
    ScaleAction,
    Target,
    Verdict,
)
from quarterdeck.policies.context import GuardContext
from quarterdeck.tools.cluster.base import (
    ApplyResult,
    ClusterEvent,
    Deployment,
    NotFoundError,
    Pod,
    Revision,
)


@dataclass
class FakeService:
    replicas: int = 2
    version: str = "v1"
    versions: tuple[str, ...] = ("v1",)
    weights: dict[str, int] = field(default_factory=dict)


class FakeCluster:
    """An in-memory cluster. `applied` lists every `apply` call, in order."""

    kind = "sim"

    def __init__(self, services: dict[str, FakeService] | None = None) -> None:
        self.services = services or {"fraud-detector": FakeService()}
        self.applied: list[tuple[Target, Action]] = []
        self.fail_with: Exception | None = None

    def _svc(self, target: Target) -> FakeService:
        if target.namespace != "ml" or target.service not in self.services:
            raise NotFoundError(f"no service {target}")
        return self.services[target.service]

    def deployments(self, namespace: str | None = None) -> list[Deployment]:
        return [self.deployment(Target(namespace="ml", service=n)) for n in sorted(self.services)]

    def deployment(self, target: Target) -> Deployment:
        s = self._svc(target)
        return Deployment(
            namespace="ml",
            name=target.service,
            replicas=s.replicas,
            ready=s.replicas,
            version=s.version,
            revision=s.versions.index(s.version) + 1,
            min_replicas=1,
            max_replicas=20,
        )

    def revisions(self, target: Target) -> list[Revision]:
        s = self._svc(target)
        return [
            Revision(revision=i + 1, version=v, replicas=0, ready=0, current=v == s.version)
            for i, v in enumerate(s.versions)
        ]

    def pods(self, namespace: str | None = None, service: str | None = None) -> list[Pod]:
        return []

    def events(
        self,
        *,
        since: float | None = None,
        namespace: str | None = None,
        involved: str | None = None,
    ) -> list[ClusterEvent]:
        return []

    def route_weights(self, target: Target) -> dict[str, int]:
        s = self._svc(target)
        return dict(s.weights) or {s.version: 100}

    def apply(self, target: Target, action: Action) -> ApplyResult:
        if self.fail_with is not None:
            raise self.fail_with
        s = self._svc(target)
        self.applied.append((target, action))
        if isinstance(action, ScaleAction):
            s.replicas = action.replicas
        elif isinstance(action, RouteAction):
            s.weights = dict(action.weights)
        elif isinstance(action, RollbackAction) and action.to_version:
            s.version = action.to_version
        return ApplyResult(target=target, action=action, applied=True)

    def is_online(self) -> bool:
        return True


class FakeGuard:
    """Decides by action kind (default allow); clamps scale above `max_replicas`."""

    def __init__(self, decisions: dict[str, Decision] | None = None, max_replicas: int = 20):
        self.decisions = decisions or {}
        self.max_replicas = max_replicas
        self.evaluated: list[str] = []
        self.recorded: list[str] = []

    def evaluate(self, proposal: ActionProposal, context: GuardContext) -> Verdict:
        self.evaluated.append(proposal.id)
        decision = self.decisions.get(proposal.kind, Decision.ALLOW)
        action = proposal.action
        matches: tuple[RuleMatch, ...] = ()
        if isinstance(action, ScaleAction) and action.replicas > self.max_replicas:
            action = ScaleAction(replicas=self.max_replicas)
            matches = (
                RuleMatch(
                    rule_id="max-step", policy="test", effect="clamp", message="clamped to max"
                ),
            )
        return Verdict(
            proposal_id=proposal.id,
            decision=decision,
            action=action,
            matches=matches,
            message=f"test guard says {decision.value}",
        )

    def record(self, proposal: ActionProposal, verdict: Verdict, applied_at: float) -> None:
        self.recorded.append(proposal.id)


class SignalBoard:
    """Signals per service, set by the test; a reader for `ExecutorDeps.signals`."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, float | None]] = {}
        self.stale: set[str] = set()
        self.slo = {"p95_latency_ms": 150.0, "error_ratio": 0.01}

    def set(self, service: str, p95: float | None, errors: float | None = 0.0) -> None:
        self.values[service] = {"p95_latency_ms": p95, "error_ratio": errors}

    def read(self, target: Target) -> Signals:
        return Signals(
            values=dict(self.values.get(target.service, {})),
            stale=target.service in self.stale,
            slo=dict(self.slo),
        )


def proposal(
    pid: str = "p-1",
    action: Action | None = None,
    service: str = "fraud-detector",
    predicted: dict[str, float] | None = None,
    requested_by: str = "alice",
) -> ActionProposal:
    return ActionProposal(
        id=pid,
        target=Target(namespace="ml", service=service),
        action=action or ScaleAction(replicas=6),
        reason="p95 above SLO",
        requested_by=requested_by,
        predicted=predicted,
    )
