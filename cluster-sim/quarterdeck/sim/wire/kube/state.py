"""The cluster as Kubernetes objects: renders the simulator's current views, stamped with
resourceVersions. Read on the event loop only, so a render never sees a half-advanced tick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quarterdeck.sim.errors import NotFound
from quarterdeck.sim.views import ServiceView
from quarterdeck.sim.wire.kube import objects
from quarterdeck.sim.wire.kube.conventions import GATEWAY_GROUP
from quarterdeck.sim.wire.kube.status import not_found
from quarterdeck.sim.wire.kube.versions import Versions

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator

Obj = dict[str, Any]


class KubeState:
    def __init__(self, get_sim: Callable[[], Simulator]) -> None:
        self._get_sim = get_sim
        self.versions = Versions()
        # Events never change once emitted (the log is append-only), so each is rendered once.
        self._events: list[Obj] = []
        self._events_of: int | None = None  # id() of the simulator they were rendered from

    @property
    def sim(self) -> Simulator:
        return self._get_sim()

    @property
    def epoch(self) -> float:
        return self.sim.epoch

    def now_unix(self) -> float:
        sim = self.sim
        return sim.epoch + sim.now

    def _stamp(self, items: list[Obj]) -> list[Obj]:
        return [self.versions.stamp(item) for item in items]

    def service(self, namespace: str, name: str, resource: str, group: str = "") -> ServiceView:
        try:
            return self.sim.service(namespace, name)
        except NotFound:
            raise not_found(resource, name, group) from None

    def _services(self, namespace: str | None) -> list[ServiceView]:
        return [s for s in self.sim.services() if namespace is None or s.namespace == namespace]

    # --- apps/v1 --------------------------------------------------------------------------

    def deployments(self, namespace: str | None = None) -> list[Obj]:
        sim = self.sim
        return self._stamp(
            [
                objects.deployment(
                    sv,
                    sim.revisions(sv.namespace, sv.name),
                    sim.epoch,
                    sim.restart_stamp(sv.namespace, sv.name),
                )
                for sv in self._services(namespace)
            ]
        )

    def deployment(self, namespace: str, name: str) -> Obj:
        sv = self.service(namespace, name, "deployments", "apps")
        sim = self.sim
        return self.versions.stamp(
            objects.deployment(
                sv,
                sim.revisions(namespace, name),
                sim.epoch,
                sim.restart_stamp(namespace, name),
            )
        )

    def replica_sets(self, namespace: str | None = None) -> list[Obj]:
        sim = self.sim
        return self._stamp(
            [
                objects.replica_set(sv, rv, sim.epoch)
                for sv in self._services(namespace)
                for rv in sim.revisions(sv.namespace, sv.name)
            ]
        )

    # --- v1 -------------------------------------------------------------------------------

    def pods(self, namespace: str | None = None) -> list[Obj]:
        sim = self.sim
        services = {(s.namespace, s.name): s for s in sim.services()}
        return self._stamp(
            [
                objects.pod(pv, services[(pv.namespace, pv.service)], sim.epoch)
                for pv in sim.pods(namespace=namespace)
            ]
        )

    def nodes(self) -> list[Obj]:
        sim = self.sim
        return self._stamp([objects.node(nv, sim.epoch) for nv in sim.nodes()])

    def events(self, namespace: str | None = None) -> list[Obj]:
        sim = self.sim
        if self._events_of != id(sim):
            self._events, self._events_of = [], id(sim)
        log = sim.events(0.0)
        for i in range(len(self._events), len(log)):
            self._events.append(self.versions.stamp(objects.event(log[i], i, sim.epoch)))
        return [
            e for e in self._events if namespace is None or e["metadata"]["namespace"] == namespace
        ]

    def namespace_names(self) -> list[str]:
        names = {s.namespace for s in self.sim.services()}
        names.add(objects.EVENT_NAMESPACE_FOR_CLUSTER_OBJECTS)
        return sorted(names)

    def namespaces(self) -> list[Obj]:
        return self._stamp([objects.namespace(n, self.epoch) for n in self.namespace_names()])

    # --- gateway.networking.k8s.io/v1 -----------------------------------------------------

    def http_routes(self, namespace: str | None = None) -> list[Obj]:
        epoch = self.epoch
        return self._stamp([objects.http_route(sv, epoch) for sv in self._services(namespace)])

    def http_route(self, namespace: str, name: str) -> Obj:
        sv = self.service(namespace, name, "httproutes", GATEWAY_GROUP)
        return self.versions.stamp(objects.http_route(sv, self.epoch))
