"""`ClusterClient` over an in-process `Simulator`: the fast path for benchmarks and tests.

It answers exactly what the `kube` adapter answers over the simulator's HTTP facade (the
contract tests hold both to it), except that times are sim seconds instead of Unix seconds.
Each call holds the simulator's lock, so it may run on another thread than the one advancing
the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quarterdeck.core.models import Action, RestartAction, RollbackAction, Target
from quarterdeck.sim.errors import InvalidAction, NotFound
from quarterdeck.sim.views import PodView, ServiceView
from quarterdeck.sim.world import holding_sim_lock
from quarterdeck.tools.cluster.base import (
    ApplyResult,
    ClusterEvent,
    Deployment,
    InvalidRequest,
    NotFoundError,
    Pod,
    Revision,
)
from quarterdeck.tools.cluster.history import rollback_target

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator

# Cluster-scoped objects' events (nodes) are filed here, as the API server does.
CLUSTER_EVENTS_NAMESPACE = "default"


class SimClusterClient:
    """A `ClusterClient` reading and acting on a `Simulator` directly."""

    kind = "sim"

    def __init__(self, sim: Simulator, *, namespaces: tuple[str, ...] = ()) -> None:
        self.sim = sim
        self._namespaces = namespaces

    def _visible(self, namespace: str) -> bool:
        return not self._namespaces or namespace in self._namespaces

    def _check_namespace(self, namespace: str) -> None:
        if not self._visible(namespace):
            raise NotFoundError(f"namespace {namespace!r} is outside this client's namespaces")

    def _service(self, target: Target) -> ServiceView:
        self._check_namespace(target.namespace)
        try:
            return self.sim.service(target.namespace, target.service)
        except NotFound:
            raise NotFoundError(f'deployments.apps "{target.service}" not found') from None

    @staticmethod
    def _deployment(sv: ServiceView) -> Deployment:
        return Deployment(
            namespace=sv.namespace,
            name=sv.name,
            replicas=sv.spec_replicas,
            ready=sv.ready_replicas,
            version=sv.version,
            revision=sv.revision,
            min_replicas=sv.min_replicas,
            max_replicas=sv.max_replicas,
        )

    @holding_sim_lock
    def deployments(self, namespace: str | None = None) -> list[Deployment]:
        if namespace is not None:
            self._check_namespace(namespace)
        values = [
            self._deployment(sv)
            for sv in self.sim.services()
            if (namespace is None or sv.namespace == namespace) and self._visible(sv.namespace)
        ]
        return sorted(values, key=lambda d: (d.namespace, d.name))

    @holding_sim_lock
    def deployment(self, target: Target) -> Deployment:
        return self._deployment(self._service(target))

    @holding_sim_lock
    def revisions(self, target: Target) -> list[Revision]:
        self._service(target)
        return [
            Revision(
                revision=rv.number,
                version=rv.version,
                replicas=rv.replicas,
                ready=rv.ready_replicas,
                current=rv.current,
                canary=rv.canary,
                created_at=rv.created_at,
            )
            for rv in self.sim.revisions(target.namespace, target.service)
        ]

    @holding_sim_lock
    def pods(self, namespace: str | None = None, service: str | None = None) -> list[Pod]:
        if namespace is not None:
            self._check_namespace(namespace)
        values = [
            Pod(
                namespace=pv.namespace,
                name=pv.name,
                service=pv.service,
                version=pv.version,
                node=pv.node,
                phase="Pending" if pv.phase == "Pending" else "Running",
                ready=pv.phase == "Ready",
                restarts=0,
                startup_s=_startup(pv),
                ready_since=pv.ready_at if pv.phase == "Ready" else None,
            )
            for pv in self.sim.pods(namespace=namespace, service=service)
            if self._visible(pv.namespace)
        ]
        return sorted(values, key=lambda p: (p.namespace, p.name))

    @holding_sim_lock
    def events(
        self,
        *,
        since: float | None = None,
        namespace: str | None = None,
        involved: str | None = None,
    ) -> list[ClusterEvent]:
        if namespace is not None:
            self._check_namespace(namespace)
        values = []
        for ev in self.sim.events(since or 0.0):
            ns = ev.namespace or CLUSTER_EVENTS_NAMESPACE
            if namespace is not None and ns != namespace:
                continue
            if involved is not None and ev.name != involved:
                continue
            if not self._visible(ns):
                continue
            values.append(
                ClusterEvent(
                    time=ev.t,
                    namespace=ns,
                    kind=ev.kind,
                    name=ev.name,
                    type=ev.type,
                    reason=ev.reason,
                    message=ev.message,
                )
            )
        return values

    @holding_sim_lock
    def route_weights(self, target: Target) -> dict[str, int]:
        return dict(self._service(target).route_weights)

    @holding_sim_lock
    def apply(self, target: Target, action: Action) -> ApplyResult:
        self._service(target)
        applied: Action = action
        if isinstance(action, RollbackAction):
            choice = rollback_target(target, self.revisions(target), action)
            applied = RollbackAction(to_revision=choice.revision)
        try:
            outcome = self.sim.apply(target, applied)
        except InvalidAction as error:
            raise InvalidRequest(f"{action.kind} {target}: {error.reason}") from None
        return ApplyResult(target=target, action=action, applied=True, message=outcome.message)

    @holding_sim_lock
    def restart_marker(self, target: Target) -> str | None:
        self._service(target)
        return self.sim.restart_stamp(target.namespace, target.service)

    @holding_sim_lock
    def restart_marked(self, target: Target, marker: str) -> ApplyResult:
        if self.restart_marker(target) == marker:
            return ApplyResult(
                target=target,
                action=RestartAction(),
                applied=False,
                message=f"already restarted ({marker})",
            )
        result = self.apply(target, RestartAction())
        self.sim.stamp_restart(target.namespace, target.service, marker)
        return result

    def is_online(self) -> bool:
        return True


def _startup(pv: PodView) -> float | None:
    if pv.phase != "Ready" or pv.ready_at is None or pv.scheduled_at is None:
        return None
    return pv.ready_at - pv.scheduled_at
