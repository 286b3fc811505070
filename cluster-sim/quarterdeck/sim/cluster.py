"""Nodes, pods and the scheduler: plain Python bookkeeping that runs only when something changes.

Placement is deterministic and spreads like kube-scheduler's default (LeastAllocated) scoring:
pods are tried in creation order, each goes to the fitting node whose requested share of
cpu/memory(/GPU) would be lowest, ties to the first listed. Pods that need no GPU try non-GPU
nodes first (like a GPU taint would make them), and GPU pods only fit nodes with enough free
GPUs. A pod that fits nowhere stays Pending and gets one FailedScheduling event. `startup`
counts from scheduling (image pull + model load) to Ready.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from quarterdeck.sim.scenario import Scenario
from quarterdeck.sim.views import EventView, PodPhase, PodRole

_EPS = 1e-9


@dataclass
class Node:
    name: str
    pool: str
    cpu: float
    memory_gib: float
    gpu: int
    used_cpu: float = 0.0
    used_mem: float = 0.0
    used_gpu: int = 0
    ready: bool = True
    pods: list[str] = field(default_factory=list)

    def fits(self, pod: Pod) -> bool:
        return (
            self.ready
            and self.used_cpu + pod.cpu <= self.cpu + _EPS
            and self.used_mem + pod.memory_gib <= self.memory_gib + _EPS
            and self.used_gpu + pod.gpu <= self.gpu
        )


@dataclass
class Pod:
    uid: int
    name: str
    svc: int  # service index in the scenario
    namespace: str
    service: str
    version: str
    gen: int  # the pod template (revision) it was created from
    role: PodRole
    cpu: float
    memory_gib: float
    gpu: int
    startup: float
    created_at: float
    node: str | None = None
    scheduled_at: float | None = None
    ready_at: float | None = None  # when it became (or will become) Ready
    ready: bool = False
    reported_unschedulable: bool = False

    @property
    def phase(self) -> PodPhase:
        if self.node is None:
            return "Pending"
        return "Ready" if self.ready else "Starting"


class EventLog:
    """Events in time order; `since` is a binary search."""

    def __init__(self) -> None:
        self.items: list[EventView] = []
        self._times: list[float] = []

    def emit(self, ev: EventView) -> None:
        self.items.append(ev)
        self._times.append(ev.t)

    def __deepcopy__(self, memo: dict[int, Any]) -> EventLog:
        new = EventLog()  # events are frozen: a fork shares them, with lists of its own
        new.items = list(self.items)
        new._times = list(self._times)
        memo[id(self)] = new
        return new

    def clear(self) -> None:
        self.items.clear()
        self._times.clear()

    def since(self, t: float) -> list[EventView]:
        return self.items[bisect.bisect_left(self._times, t) :]


class Cluster:
    """Nodes and pods. Callers create/delete pods; `schedule` places pending ones."""

    def __init__(self, scenario: Scenario, log: EventLog) -> None:
        self.log = log
        self.nodes: list[Node] = []
        for pool in scenario.cluster.node_pools:
            for i in range(pool.count):
                self.nodes.append(
                    Node(f"{pool.name}-{i}", pool.name, pool.cpu, pool.memory_gib, pool.gpu)
                )
        self._node_by_name = {n.name: n for n in self.nodes}
        self._cpu_nodes = [n for n in self.nodes if n.gpu == 0]
        self._gpu_nodes = [n for n in self.nodes if n.gpu > 0]
        self.pods: dict[str, Pod] = {}  # by name, in creation order
        self.by_uid: dict[int, Pod] = {}
        self.by_svc: list[list[Pod]] = [[] for _ in scenario.services]
        self.pending: list[Pod] = []
        self.ready_heap: list[tuple[float, int]] = []  # (ready time, pod uid)
        self._uid = 0
        self.dirty_svcs: set[int] = set()  # services whose pods changed since the last look

    def node(self, name: str) -> Node:
        return self._node_by_name[name]

    # -- pods ---------------------------------------------------------------------------------

    def create_pod(
        self, now: float, *, svc: int, namespace: str, service: str, rs_name: str, version: str,
        gen: int, role: PodRole, cpu: float, memory_gib: float, gpu: int, startup: float,
    ) -> Pod:  # fmt: skip
        self._uid += 1
        pod = Pod(
            uid=self._uid, name=f"{rs_name}-{_suffix(self._uid)}", svc=svc, namespace=namespace,
            service=service, version=version, gen=gen, role=role, cpu=cpu, memory_gib=memory_gib,
            gpu=gpu, startup=startup, created_at=now,
        )  # fmt: skip
        self.pods[pod.name] = pod
        self.by_uid[pod.uid] = pod
        self.by_svc[svc].append(pod)
        self.pending.append(pod)
        self.dirty_svcs.add(svc)
        return pod

    def delete_pod(
        self, now: float, pod: Pod, reason: str = "Killing", message: str = "",
        type_: str = "Normal",
    ) -> None:  # fmt: skip
        """Removes the pod now (graceful termination is not modelled: it stops serving at once)."""
        if pod.name not in self.pods:
            return
        del self.pods[pod.name]
        del self.by_uid[pod.uid]
        self.by_svc[pod.svc].remove(pod)
        if pod.node is None:
            self.pending.remove(pod)
        else:
            node = self._node_by_name[pod.node]
            node.used_cpu -= pod.cpu
            node.used_mem -= pod.memory_gib
            node.used_gpu -= pod.gpu
            node.pods.remove(pod.name)
            self._event(now, type_, reason, message or "Stopping container model-server", pod)
        self.dirty_svcs.add(pod.svc)

    def _event(self, now: float, type_: str, reason: str, message: str, pod: Pod) -> None:
        self.log.emit(
            EventView(
                t=now, type="Warning" if type_ == "Warning" else "Normal", reason=reason,
                message=message, namespace=pod.namespace, kind="Pod", name=pod.name,
                service=pod.service, source="sim",
            )
        )  # fmt: skip

    def schedule(self, now: float) -> None:
        """Places pending pods first-fit, in creation order."""
        if not self.pending:
            return
        still: list[Pod] = []
        for pod in self.pending:
            node = self._place(pod)
            if node is None:
                still.append(pod)
                if not pod.reported_unschedulable:
                    pod.reported_unschedulable = True
                    self._event(now, "Warning", "FailedScheduling", self._why(pod), pod)
                continue
            node.used_cpu += pod.cpu
            node.used_mem += pod.memory_gib
            node.used_gpu += pod.gpu
            node.pods.append(pod.name)
            pod.node = node.name
            pod.scheduled_at = now
            pod.ready_at = now + pod.startup
            heapq.heappush(self.ready_heap, (pod.ready_at, pod.uid))
            self.dirty_svcs.add(pod.svc)
            self._event(
                now, "Normal", "Scheduled",
                f"Successfully assigned {pod.namespace}/{pod.name} to {node.name}", pod,
            )  # fmt: skip
            self._event(now, "Normal", "Started", "Started container model-server", pod)
        self.pending = still

    def _place(self, pod: Pod) -> Node | None:
        """The node kube-scheduler's default LeastAllocated scoring would pick, or None.

        CPU-only pods look at GPU nodes only when no CPU node fits (as a GPU taint would make
        them); ties go to the node listed first, so placement is deterministic.
        """
        groups = [self._cpu_nodes, self._gpu_nodes] if pod.gpu == 0 else [self._gpu_nodes]
        for nodes in groups:
            best: Node | None = None
            best_score = math.inf
            for n in nodes:
                if not n.fits(pod):
                    continue
                score = (n.used_cpu + pod.cpu) / n.cpu + (
                    n.used_mem + pod.memory_gib
                ) / n.memory_gib
                if n.gpu:
                    score = (score + (n.used_gpu + pod.gpu) / n.gpu) / 3.0
                else:
                    score /= 2.0
                if score < best_score - 1e-12:
                    best, best_score = n, score
            if best is not None:
                return best
        return None

    def _why(self, pod: Pod) -> str:
        ready = [n for n in self.nodes if n.ready]
        reasons: list[str] = []
        short_cpu = sum(1 for n in ready if n.used_cpu + pod.cpu > n.cpu + _EPS)
        short_mem = sum(1 for n in ready if n.used_mem + pod.memory_gib > n.memory_gib + _EPS)
        short_gpu = sum(1 for n in ready if n.used_gpu + pod.gpu > n.gpu)
        if short_cpu:
            reasons.append(f"{short_cpu} Insufficient cpu")
        if short_mem:
            reasons.append(f"{short_mem} Insufficient memory")
        if short_gpu:
            reasons.append(f"{short_gpu} Insufficient nvidia.com/gpu")
        not_ready = len(self.nodes) - len(ready)
        if not_ready:
            reasons.append(
                f"{not_ready} node(s) had untolerated taint {{node.kubernetes.io/not-ready}}"
            )
        detail = ", ".join(reasons) or "no node fits"
        return f"0/{len(self.nodes)} nodes are available: {detail}."

    def pop_ready(self, now: float) -> list[Pod]:
        """Pods whose startup has finished by `now` become Ready."""
        out: list[Pod] = []
        while self.ready_heap and self.ready_heap[0][0] <= now + _EPS:
            _, uid = heapq.heappop(self.ready_heap)
            pod = self.by_uid.get(uid)
            if pod is None or pod.ready:
                continue  # deleted before it became ready
            pod.ready = True
            self.dirty_svcs.add(pod.svc)
            self._event(now, "Normal", "Ready", "Readiness probe succeeded; serving", pod)
            out.append(pod)
        return out

    def next_ready_time(self) -> float | None:
        return self.ready_heap[0][0] if self.ready_heap else None

    # -- nodes --------------------------------------------------------------------------------

    def fail_node(self, now: float, node: Node) -> list[Pod]:
        """The node goes NotReady; its pods are lost. Returns them."""
        node.ready = False
        self.log.emit(
            EventView(
                t=now, type="Warning", reason="NodeNotReady",
                message=f"Node {node.name} status is now: NodeNotReady", namespace="",
                kind="Node", name=node.name, service=None, source="sim",
            )
        )  # fmt: skip
        lost = [self.pods[name] for name in list(node.pods)]
        for pod in lost:
            self.delete_pod(
                now, pod, "NodeLost", f"Pod lost: node {node.name} is not ready", "Warning"
            )
        return lost

    def recover_node(self, now: float, node: Node) -> None:
        node.ready = True
        self.log.emit(
            EventView(
                t=now, type="Normal", reason="NodeReady",
                message=f"Node {node.name} status is now: NodeReady", namespace="",
                kind="Node", name=node.name, service=None, source="sim",
            )
        )  # fmt: skip


def _suffix(uid: int) -> str:
    """A deterministic 5-character pod-name suffix in Kubernetes' alphabet."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    x = (uid * 2654435761) % (27**5)
    out = ""
    for _ in range(5):
        x, r = divmod(x, 27)
        out += alphabet[r]
    return out
