"""Deployments: replicas, revision history, rolling updates, canaries and the actions on them.

Kubernetes semantics where they exist:
- Every pod template is a revision (a ReplicaSet). Rolling to a template that is already in the
  history reuses it and gives it the next number, as `kubectl rollout undo` does.
- A replace rollout uses maxSurge=1, maxUnavailable=0: one new pod at a time; an old pod goes only
  when a new one is Ready.
- A canary (Flagger-style) is a second set of pods of the new revision beside the primary. It gets
  its route weight once all its pods are Ready; until then it gets 0 %.
- Scale-down removes Pending pods first, then not-ready ones, then the newest (as a ReplicaSet
  does).

The simulator does not enforce min/max replicas on actions (the guard and the controllers do),
and it clamps nothing: an action it cannot honour raises `InvalidAction` with the reason.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from quarterdeck.sim.cluster import Cluster, EventLog, Pod
from quarterdeck.sim.errors import InvalidAction
from quarterdeck.sim.scenario import Service
from quarterdeck.sim.views import EventView, PodRole


@dataclass
class Revision:
    number: int
    version: str
    gen: int
    created_at: float
    canary: bool = False


@dataclass
class Canary:
    version: str
    gen: int
    replicas: int
    target_weight: int
    weight: int = 0
    routed: bool = False  # the weight was set (automatically once ready, or by a route action)


@dataclass
class Workload:
    idx: int
    spec: Service
    replicas: int
    version: str
    gen: int
    revisions: list[Revision]
    next_revision: int = 2
    next_gen: int = 2
    canary: Canary | None = None
    slowdown: float = 1.0
    rolling: bool = False

    @property
    def label(self) -> str:
        return f"{self.spec.namespace}/{self.spec.name}"

    def rs_name(self, gen: int) -> str:
        digest = hashlib.sha256(f"{self.label}#{gen}".encode()).hexdigest()
        return f"{self.spec.name}-{digest[:10]}"

    def revision_of(self, gen: int) -> Revision | None:
        return next((r for r in self.revisions if r.gen == gen), None)

    @property
    def current(self) -> Revision:
        rev = self.revision_of(self.gen)
        assert rev is not None
        return rev


def _deletion_order(p: Pod) -> tuple[bool, bool, int]:
    """Which pod a ReplicaSet removes first: unscheduled, then not ready, then the newest."""
    return (p.node is not None, p.ready, -p.uid)


class Workloads:
    """All Deployments of the scenario, acting on the shared `Cluster`."""

    def __init__(self, services: tuple[Service, ...], cluster: Cluster, log: EventLog) -> None:
        self.cluster = cluster
        self.log = log
        self.items = [
            Workload(
                idx=i, spec=s, replicas=s.replicas, version=s.current_version, gen=1,
                revisions=[Revision(1, s.current_version, 1, 0.0)],
            )
            for i, s in enumerate(services)
        ]  # fmt: skip

    # -- events ---------------------------------------------------------------------------

    def event(
        self, now: float, w: Workload, reason: str, message: str, *, kind: str = "Deployment",
        name: str | None = None, warning: bool = False,
    ) -> None:  # fmt: skip
        self.log.emit(
            EventView(
                t=now, type="Warning" if warning else "Normal", reason=reason, message=message,
                namespace=w.spec.namespace, kind=kind, name=name or w.spec.name,
                service=w.spec.name, source="sim",
            )
        )  # fmt: skip

    # -- reconcile ------------------------------------------------------------------------

    def _create(self, now: float, w: Workload, gen: int, version: str, role: PodRole) -> Pod:
        p = w.spec.pod
        return self.cluster.create_pod(
            now, svc=w.idx, namespace=w.spec.namespace, service=w.spec.name,
            rs_name=w.rs_name(gen), version=version, gen=gen, role=role, cpu=p.cpu,
            memory_gib=p.memory_gib, gpu=p.gpu, startup=p.startup,
        )  # fmt: skip

    def _remove(self, now: float, pods: list[Pod], n: int) -> list[Pod]:
        gone = sorted(pods, key=_deletion_order)[: max(n, 0)]
        for p in gone:
            self.cluster.delete_pod(now, p)
        return gone

    def _scaled(self, now: float, w: Workload, gen: int, before: int, after: int) -> None:
        if before == after:
            return
        verb = "up" if after > before else "down"
        self.event(
            now, w, "ScalingReplicaSet", f"Scaled {verb} replica set {w.rs_name(gen)} to {after}"
        )

    def reconcile(self, now: float, w: Workload) -> None:
        """Moves the Deployment's pods one step toward its spec (level-based, idempotent)."""
        pods = self.cluster.by_svc[w.idx]
        counts_before = _count_by_gen(pods)
        prim = [p for p in pods if p.role == "primary"]
        new = [p for p in prim if p.gen == w.gen]
        old = [p for p in prim if p.gen != w.gen]
        desired = w.replicas
        if len(new) > desired:
            gone = self._remove(now, new, len(new) - desired)
            new = [p for p in new if p not in gone]
        if old:
            ready_new = sum(1 for p in new if p.ready)
            keep_old = max(0, desired - ready_new)
            if len(old) > keep_old:
                gone = self._remove(now, old, len(old) - keep_old)
                old = [p for p in old if p not in gone]
            while len(new) < desired and len(new) + len(old) < desired + 1:
                new.append(self._create(now, w, w.gen, w.version, "primary"))
        else:
            while len(new) < desired:
                new.append(self._create(now, w, w.gen, w.version, "primary"))
        if w.rolling and not old:
            self.event(
                now, w, "RolloutComplete",
                f'deployment "{w.spec.name}" successfully rolled out (revision '
                f"{w.current.number}, {w.version})",
            )  # fmt: skip
        w.rolling = bool(old)
        self._reconcile_canary(now, w)
        counts_after = _count_by_gen(self.cluster.by_svc[w.idx])
        for gen in sorted(set(counts_before) | set(counts_after)):
            self._scaled(now, w, gen, counts_before.get(gen, 0), counts_after.get(gen, 0))

    def _reconcile_canary(self, now: float, w: Workload) -> None:
        cpods = [p for p in self.cluster.by_svc[w.idx] if p.role == "canary"]
        c = w.canary
        if c is None:
            self._remove(now, cpods, len(cpods))
            return
        stale = [p for p in cpods if p.gen != c.gen]
        self._remove(now, stale, len(stale))
        cpods = [p for p in cpods if p.gen == c.gen]
        if len(cpods) > c.replicas:
            gone = self._remove(now, cpods, len(cpods) - c.replicas)
            cpods = [p for p in cpods if p not in gone]
        while len(cpods) < c.replicas:
            cpods.append(self._create(now, w, c.gen, c.version, "canary"))
        if not c.routed and all(p.ready for p in cpods):
            c.routed = True
            c.weight = c.target_weight
            self.event(
                now, w, "Synced",
                f"Advance {w.spec.name}.{w.spec.namespace} canary weight {c.weight} "
                f"({c.version})",
            )  # fmt: skip

    # -- route weights --------------------------------------------------------------------

    def weights(self, w: Workload) -> dict[str, int]:
        """The route's weights by version (primary vs canary); sums to 100."""
        if w.canary is None:
            return {w.version: 100}
        out = {w.version: 100 - w.canary.weight}
        out[w.canary.version] = out.get(w.canary.version, 0) + w.canary.weight
        return out

    # -- scenario events ------------------------------------------------------------------

    def deploy(self, now: float, w: Workload, version: str, canary_weight: int | None) -> None:
        if canary_weight is None:
            if version == w.version:
                return  # the template already matches: Kubernetes does nothing either
            self._roll_to(now, w, version, None)
            self.event(now, w, "DeploymentUpdated", f"Rolling out {w.spec.name} to {version}")
            return
        if version == w.version:
            self.event(
                now, w, "CanarySkipped", f"Canary of {version} skipped: it is the primary",
                warning=True,
            )  # fmt: skip
            return
        gen = w.next_gen
        w.next_gen += 1
        w.revisions.append(Revision(w.next_revision, version, gen, now, canary=True))
        w.next_revision += 1
        replicas = max(1, math.ceil(w.replicas * canary_weight / 100))
        w.canary = Canary(version, gen, replicas, canary_weight)
        self.event(
            now, w, "CanaryStarted",
            f"New revision detected! Starting canary analysis for {w.spec.name}.{w.spec.namespace}"
            f" ({version}, {replicas} pod(s), weight {canary_weight} once ready)",
        )  # fmt: skip

    def _roll_to(self, now: float, w: Workload, version: str, gen: int | None) -> Revision:
        """Points the primary's template at `gen` (a new one if None); records the revision."""
        rev = self.revision_of_gen(w, gen) if gen is not None else None
        if rev is None:
            gen = w.next_gen
            w.next_gen += 1
            rev = Revision(w.next_revision, version, gen, now)
        else:
            w.revisions.remove(rev)
            rev.number = w.next_revision
            rev.canary = False
        w.next_revision += 1
        w.revisions.append(rev)
        w.gen = rev.gen
        w.version = version
        return rev

    @staticmethod
    def revision_of_gen(w: Workload, gen: int) -> Revision | None:
        return w.revision_of(gen)

    def crash(self, now: float, w: Workload, count: int) -> int:
        """`count` pods die (oldest ready first); the Deployment recreates them."""
        pods = sorted(self.cluster.by_svc[w.idx], key=lambda p: (not p.ready, p.uid))[:count]
        for p in pods:
            self.cluster.delete_pod(
                now, p, "BackOff",
                "Back-off restarting failed container model-server: the pod is replaced",
                "Warning",
            )  # fmt: skip
        return len(pods)

    # -- actions --------------------------------------------------------------------------

    def scale(self, now: float, w: Workload, replicas: int) -> str:
        if replicas < 0:
            raise InvalidAction(f"replicas must be ≥ 0, got {replicas}")
        before = w.replicas
        w.replicas = replicas
        if replicas == before:
            return f"deployment.apps/{w.spec.name} scaled (unchanged at {replicas})"
        self.event(
            now, w, "ScalingReplicaSet",
            f"Deployment {w.spec.name} scaled from {before} to {replicas} replicas",
        )  # fmt: skip
        return f"deployment.apps/{w.spec.name} scaled from {before} to {replicas}"

    def rollback(
        self, now: float, w: Workload, to_revision: int | None, to_version: str | None
    ) -> tuple[str, int]:
        target = self._rollback_target(w, to_revision, to_version)
        aborted = w.canary is not None and target.gen != w.canary.gen
        promoted = w.canary is not None and target.gen == w.canary.gen
        if target.gen == w.gen and w.canary is None:
            raise InvalidAction(
                f"already at revision {target.number} ({target.version}); nothing to roll back"
            )
        w.canary = None
        if target.gen == w.gen:
            self.event(now, w, "CanaryAborted", f"Canary of {w.spec.name} rolled back")
            return (
                f"deployment.apps/{w.spec.name} canary rolled back; revision "
                f"{w.current.number} ({w.version}) keeps all traffic",
                w.current.number,
            )
        from_number = target.number
        rev = self._roll_to(now, w, target.version, target.gen)
        what = "promoted canary" if promoted else "rolled back"
        self.event(
            now, w, "DeploymentRollback",
            f"Rolled back deployment {w.spec.name} to revision {from_number} ({rev.version}); "
            f"now revision {rev.number}" + (" (canary aborted)" if aborted else ""),
        )  # fmt: skip
        return f"deployment.apps/{w.spec.name} {what} to {rev.version} (revision {rev.number})", (
            rev.number
        )

    def _rollback_target(
        self, w: Workload, to_revision: int | None, to_version: str | None
    ) -> Revision:
        known = ", ".join(f"{r.number} ({r.version})" for r in w.revisions)
        if to_revision is not None:
            rev = next((r for r in w.revisions if r.number == to_revision), None)
            if rev is None:
                raise InvalidAction(f"unknown revision {to_revision}; revisions: {known}")
            if to_version is not None and rev.version != to_version:
                raise InvalidAction(f"revision {to_revision} runs {rev.version}, not {to_version}")
            return rev
        if to_version is not None:
            if to_version not in [v.name for v in w.spec.versions]:
                names = ", ".join(v.name for v in w.spec.versions)
                raise InvalidAction(f"unknown version {to_version!r}; versions: {names}")
            revs = [r for r in w.revisions if r.version == to_version]
            if not revs:
                raise InvalidAction(f"version {to_version} has no revision (never deployed)")
            return max(revs, key=lambda r: r.number)
        cur = w.current.number
        if w.canary is not None:
            return w.current  # plain `rollout undo` during a canary: abort the canary
        prev = [r for r in w.revisions if r.number < cur and not r.canary]
        if not prev:
            raise InvalidAction(f"no previous revision to roll back to; revisions: {known}")
        return max(prev, key=lambda r: r.number)

    def route(self, now: float, w: Workload, weights: dict[str, int]) -> str:
        names = [v.name for v in w.spec.versions]
        with_pods = {p.version for p in self.cluster.by_svc[w.idx]}
        for v in weights:
            if v not in names:
                raise InvalidAction(f"unknown version {v!r}; versions: {', '.join(names)}")
            if v not in with_pods:
                raise InvalidAction(f"version {v} has no pods to route to")
        allowed = {w.version} | ({w.canary.version} if w.canary else set())
        for v in weights:
            if v not in allowed:
                raise InvalidAction(
                    f"version {v} is not routable: traffic splits between the primary "
                    f"({w.version})" + (f" and the canary ({w.canary.version})" if w.canary else "")
                )
        if w.canary is None:
            return f"httproute/{w.spec.name} unchanged: {w.version}=100"
        w.canary.weight = weights.get(w.canary.version, 0)
        w.canary.routed = True
        # More weight, more canary pods: Flagger's canary has its own HPA, so the canary grows
        # with its traffic (sized like the deploy: ceil(replicas × weight / 100)); never shrinks.
        w.canary.replicas = max(w.canary.replicas, math.ceil(w.replicas * w.canary.weight / 100))
        text = " ".join(f"{k}={v}" for k, v in sorted(self.weights(w).items()))
        self.event(now, w, "RouteUpdated", f"Route weights of {w.spec.name}: {text}")
        return f"httproute/{w.spec.name} weights {text}"

    def restart(self, now: float, w: Workload, pods: int | None) -> str:
        existing = self.cluster.by_svc[w.idx]
        if not existing:
            raise InvalidAction(f"{w.label} has no pods to restart")
        if pods is None:
            self._roll_to(now, w, w.version, None)
            self.event(now, w, "DeploymentRestarted", f"Rolling restart of {w.spec.name}")
            return f"deployment.apps/{w.spec.name} restarted (revision {w.current.number})"
        if pods < 1 or pods > len(existing):
            raise InvalidAction(f"cannot restart {pods} pods: {w.label} has {len(existing)}")
        victims = sorted(existing, key=lambda p: p.uid)[:pods]
        for p in victims:
            self.cluster.delete_pod(now, p, "Killing", "Stopping container model-server (restart)")
        return f"{pods} pod(s) of {w.label} deleted and recreated"


def _count_by_gen(pods: list[Pod]) -> dict[int, int]:
    out: dict[int, int] = {}
    for p in pods:
        out[p.gen] = out.get(p.gen, 0) + 1
    return out
