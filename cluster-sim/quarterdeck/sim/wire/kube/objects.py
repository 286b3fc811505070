"""The simulator's views rendered as Kubernetes objects (plain JSON dicts).

Each object carries every field the official client's models require (its pydantic models
validate responses) and what kubectl prints or follows (ownerReferences, the revision
annotations, pod conditions). UIDs are derived from the object's identity so they are stable
across requests and runs. `resourceVersion` and `generation` are stamped by `versions.Versions`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from quarterdeck.sim.views import EventView, NodeView, PodView, RevisionView, ServiceView
from quarterdeck.sim.wire.kube import conventions as conv

Obj = dict[str, Any]
_UID_NAMESPACE = uuid.UUID("6f1d7c43-5e0e-4a8c-9b5e-7a1c3d2b9e10")


def uid(kind: str, namespace: str, name: str) -> str:
    return str(uuid.uuid5(_UID_NAMESPACE, f"{kind}/{namespace}/{name}"))


def timestamp(unix: float) -> str:
    """RFC 3339 at second precision, as metav1.Time serialises."""
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_timestamp(unix: float) -> str:
    """RFC 3339 with microseconds, as metav1.MicroTime serialises."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cpu_quantity(cpu: float) -> str:
    return str(int(cpu)) if float(cpu).is_integer() else f"{round(cpu * 1000)}m"


def memory_quantity(gib: float) -> str:
    return f"{int(gib)}Gi" if float(gib).is_integer() else f"{round(gib * 1024)}Mi"


def _meta(kind: str, namespace: str, name: str, created: float, **extra: Any) -> Obj:
    meta: Obj = {"name": name, "uid": uid(kind, namespace, name)}
    if namespace:
        meta["namespace"] = namespace
    meta["creationTimestamp"] = timestamp(created)
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def _selector_labels(service: str) -> dict[str, str]:
    return {conv.NAME_LABEL: service}


def _template_hash(replica_set: str, service: str) -> str:
    return replica_set[len(service) + 1 :]


def pod_template(
    sv: ServiceView,
    version: str,
    replica_set: str,
    *,
    with_hash: bool,
    restarted_at: str | None = None,
) -> Obj:
    labels = {**_selector_labels(sv.name), conv.VERSION_LABEL: version}
    if with_hash:
        labels[conv.POD_TEMPLATE_HASH_LABEL] = _template_hash(replica_set, sv.name)
    requests = {"cpu": cpu_quantity(sv.pod_cpu), "memory": memory_quantity(sv.pod_memory_gib)}
    if sv.pod_gpu:
        requests[conv.GPU_RESOURCE] = str(sv.pod_gpu)
    annotations = {conv.TEMPLATE_ANNOTATION: replica_set}
    if restarted_at is not None:
        annotations[conv.RESTARTED_AT_ANNOTATION] = restarted_at
    return {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {
            "containers": [
                {
                    "name": conv.CONTAINER_NAME,
                    "image": conv.image(sv.namespace, sv.name, version),
                    "ports": [
                        {"name": "http", "containerPort": conv.BACKEND_PORT, "protocol": "TCP"}
                    ],
                    "resources": {"requests": requests, "limits": dict(requests)},
                    "readinessProbe": {
                        "httpGet": {"path": "/ready", "port": conv.BACKEND_PORT},
                        "periodSeconds": 5,
                    },
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
        },
    }


def current_revision(revisions: list[RevisionView]) -> RevisionView:
    return next(r for r in revisions if r.current)


def deployment(
    sv: ServiceView, revisions: list[RevisionView], epoch: float, restarted_at: str | None = None
) -> Obj:
    """The Deployment; `restarted_at` is the last `kubectl rollout restart` stamp written to its
    template (`Simulator.restart_stamp`)."""
    current = current_revision(revisions)
    updated = current.replicas
    ready = sv.ready_replicas
    available = ready >= sv.spec_replicas
    annotations = {
        conv.REVISION_ANNOTATION: str(sv.revision),
        conv.MIN_REPLICAS_ANNOTATION: str(sv.min_replicas),
        conv.MAX_REPLICAS_ANNOTATION: str(sv.max_replicas),
    }
    if sv.canary_version is not None:
        annotations[conv.CANARY_ANNOTATION] = sv.canary_version
    stamp = timestamp(epoch)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(
            "Deployment",
            sv.namespace,
            sv.name,
            epoch,
            labels=_selector_labels(sv.name),
            annotations=annotations,
        ),
        "spec": {
            "replicas": sv.spec_replicas,
            "selector": {"matchLabels": _selector_labels(sv.name)},
            "template": pod_template(
                sv, sv.version, current.replica_set, with_hash=False, restarted_at=restarted_at
            ),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "replicas": sv.pods,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, sv.pods - ready),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable"
                    if available
                    else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability."
                    if available
                    else "Deployment does not have minimum availability.",
                    "lastUpdateTime": stamp,
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicaSetUpdated" if sv.rolling_out else "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{current.replica_set}" '
                    + ("is progressing." if sv.rolling_out else "has successfully progressed."),
                    "lastUpdateTime": stamp,
                    "lastTransitionTime": stamp,
                },
            ],
        },
    }


def replica_set(sv: ServiceView, rv: RevisionView, epoch: float) -> Obj:
    if rv.current:
        desired = sv.spec_replicas
    elif rv.canary and sv.canary_version == rv.version:
        desired = sv.canary_replicas
    else:
        desired = 0
    annotations = {
        conv.REVISION_ANNOTATION: str(rv.number),
        "deployment.kubernetes.io/desired-replicas": str(sv.spec_replicas),
        "deployment.kubernetes.io/max-replicas": str(sv.spec_replicas + 1),
    }
    if rv.canary:
        annotations[conv.CANARY_ANNOTATION] = "true"
    template = pod_template(sv, rv.version, rv.replica_set, with_hash=True)
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": _meta(
            "ReplicaSet",
            sv.namespace,
            rv.replica_set,
            epoch + rv.created_at,
            labels=template["metadata"]["labels"],
            annotations=annotations,
            ownerReferences=[
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": sv.name,
                    "uid": uid("Deployment", sv.namespace, sv.name),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        ),
        "spec": {
            "replicas": desired,
            "selector": {"matchLabels": dict(template["metadata"]["labels"])},
            "template": template,
        },
        "status": {
            "replicas": rv.replicas,
            "fullyLabeledReplicas": rv.replicas,
            "readyReplicas": rv.ready_replicas,
            "availableReplicas": rv.ready_replicas,
            "observedGeneration": 1,
        },
    }


def pod(pv: PodView, sv: ServiceView, epoch: float) -> Obj:
    replica_set_name = pv.name.rsplit("-", 1)[0]
    template = pod_template(sv, pv.version, replica_set_name, with_hash=True)
    labels = {**template["metadata"]["labels"], conv.ROLE_LABEL: pv.role}
    spec = dict(template["spec"])
    if pv.node is not None:
        spec["nodeName"] = pv.node
    ready = pv.phase == "Ready"
    scheduled = pv.node is not None
    started = timestamp(epoch + (pv.created_at if pv.scheduled_at is None else pv.scheduled_at))
    ready_at = timestamp(epoch + pv.ready_at) if ready and pv.ready_at is not None else started

    def condition(kind: str, status: bool, reason: str | None = None) -> Obj:
        out: Obj = {
            "type": kind,
            "status": "True" if status else "False",
            "lastTransitionTime": ready_at if kind in ("Ready", "ContainersReady") else started,
        }
        if reason and not status:
            out["reason"] = reason
        return out

    status: Obj = {
        "phase": "Running" if scheduled else "Pending",
        "conditions": [
            condition("PodScheduled", scheduled, "Unschedulable"),
            condition("Initialized", True),
            condition("ContainersReady", ready, "ContainersNotReady"),
            condition("Ready", ready, "ContainersNotReady"),
        ],
        "qosClass": "Guaranteed",
    }
    if scheduled:
        status["startTime"] = started
        status["hostIP"] = "10.0.0.1"
        status["containerStatuses"] = [
            {
                "name": conv.CONTAINER_NAME,
                "image": conv.image(pv.namespace, pv.service, pv.version),
                "imageID": "",
                "ready": ready,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(
            "Pod",
            pv.namespace,
            pv.name,
            epoch + pv.created_at,
            labels=labels,
            ownerReferences=[
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": replica_set_name,
                    "uid": uid("ReplicaSet", pv.namespace, replica_set_name),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        ),
        "spec": spec,
        "status": status,
    }


def node(nv: NodeView, epoch: float) -> Obj:
    capacity = {
        "cpu": cpu_quantity(nv.cpu),
        "memory": memory_quantity(nv.memory_gib),
        "pods": "110",
    }
    if nv.gpu:
        capacity[conv.GPU_RESOURCE] = str(nv.gpu)
    stamp = timestamp(epoch)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(
            "Node",
            "",
            nv.name,
            epoch,
            labels={
                "kubernetes.io/hostname": nv.name,
                "kubernetes.io/os": "linux",
                conv.POOL_LABEL: nv.pool,
            },
        ),
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if nv.ready else "Unknown",
                    "reason": "KubeletReady" if nv.ready else "NodeStatusUnknown",
                    "message": "kubelet is posting ready status"
                    if nv.ready
                    else "Kubelet stopped posting node status.",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
            ],
            "addresses": [{"type": "Hostname", "address": nv.name}],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": uid("Boot", "", nv.name),
                "containerRuntimeVersion": "containerd://1.7.0",
                "kernelVersion": "6.1.0",
                "kubeProxyVersion": "v1.32.0",
                "kubeletVersion": "v1.32.0",
                "machineID": uid("Machine", "", nv.name).replace("-", ""),
                "operatingSystem": "linux",
                "osImage": "Quarterdeck simulated node",
                "systemUUID": uid("System", "", nv.name),
            },
        },
    }


def _api_version_of(kind: str) -> str:
    return "apps/v1" if kind in ("Deployment", "ReplicaSet") else "v1"


EVENT_NAMESPACE_FOR_CLUSTER_OBJECTS = "default"


def event(ev: EventView, index: int, epoch: float) -> Obj:
    """Event number `index` of the simulator's log (append-only, so the name is stable)."""
    namespace = ev.namespace or EVENT_NAMESPACE_FOR_CLUSTER_OBJECTS
    name = f"{ev.name}.{index:016x}"
    involved: Obj = {
        "apiVersion": _api_version_of(ev.kind),
        "kind": ev.kind,
        "name": ev.name,
        "uid": uid(ev.kind, ev.namespace, ev.name),
    }
    if ev.namespace:
        involved["namespace"] = ev.namespace
    component = "quarterdeck-scenario" if ev.source == "scenario" else "quarterdeck-sim"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": _meta("Event", namespace, name, epoch + ev.t),
        "involvedObject": involved,
        "reason": ev.reason,
        "message": ev.message,
        "type": ev.type,
        "count": 1,
        "firstTimestamp": timestamp(epoch + ev.t),
        "lastTimestamp": timestamp(epoch + ev.t),
        "eventTime": micro_timestamp(epoch + ev.t),
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
        "action": ev.reason,
    }


def namespace(name: str, epoch: float) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(
            "Namespace", "", name, epoch, labels={"kubernetes.io/metadata.name": name}
        ),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def http_route(sv: ServiceView, epoch: float) -> Obj:
    refs = [
        {
            "group": "",
            "kind": "Service",
            "name": conv.backend_name(sv.name, version),
            "port": conv.BACKEND_PORT,
            "weight": weight,
        }
        for version, weight in sorted(sv.route_weights.items())
    ]
    return {
        "apiVersion": f"{conv.GATEWAY_GROUP}/{conv.GATEWAY_VERSION}",
        "kind": "HTTPRoute",
        "metadata": _meta(
            "HTTPRoute", sv.namespace, sv.name, epoch, labels=_selector_labels(sv.name)
        ),
        "spec": {
            "parentRefs": [
                {"group": conv.GATEWAY_GROUP, "kind": "Gateway", "name": conv.GATEWAY_NAME}
            ],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": refs,
                }
            ],
        },
    }


def scale(deployment_obj: Obj) -> Obj:
    """The `autoscaling/v1` Scale subresource of a rendered Deployment."""
    meta = deployment_obj["metadata"]
    labels = deployment_obj["spec"]["selector"]["matchLabels"]
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion", ""),
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": deployment_obj["spec"]["replicas"]},
        "status": {
            "replicas": deployment_obj["status"]["replicas"],
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }
