"""`meta.k8s.io/v1` Table responses, so `kubectl get` prints the same columns it prints against a
real API server (NAME READY UP-TO-DATE AVAILABLE AGE for Deployments, ...).

kubectl asks for them with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. The cells are
computed from the rendered JSON objects, so a table and a plain list never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Obj = dict[str, Any]


def wants_table(accept: str) -> bool:
    """True when the Accept header's first acceptable type is a meta.k8s.io Table."""
    for media in accept.split(","):
        params = {p.strip() for p in media.split(";")[1:]}
        if "as=Table" in params and "g=meta.k8s.io" in params:
            return True
        if media.split(";", 1)[0].strip() in ("application/json", "*/*"):
            return False
    return False


def parse_time(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def human_duration(seconds: float) -> str:
    """kubectl's `duration.HumanDuration` (apimachinery), so AGE reads as it does on a cluster."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    return f"{hours // 24}d"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    cell: Callable[[Obj, float], Any]  # (object, now in Unix seconds) -> cell value
    priority: int = 0  # 1 = only with -o wide
    format: str = ""
    description: str = ""


def _name(obj: Obj, now: float) -> str:
    return str(obj["metadata"]["name"])


def _age(obj: Obj, now: float) -> str:
    created = parse_time(obj["metadata"].get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration(now - created)


NAME = Column("Name", "string", _name, format="name", description="Name of the object")
AGE = Column("Age", "string", _age, description="Time since the object was created")


def _status(obj: Obj, key: str, default: int = 0) -> int:
    return int(obj.get("status", {}).get(key) or default)


def _images(obj: Obj) -> list[dict[str, Any]]:
    return list(obj["spec"]["template"]["spec"]["containers"])


def _selector(obj: Obj) -> str:
    labels = obj["spec"]["selector"].get("matchLabels", {})
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


DEPLOYMENT = (
    NAME,
    Column(
        "Ready",
        "string",
        lambda o, n: f"{_status(o, 'readyReplicas')}/{o['spec'].get('replicas', 0)}",
    ),
    Column("Up-to-date", "integer", lambda o, n: _status(o, "updatedReplicas")),
    Column("Available", "integer", lambda o, n: _status(o, "availableReplicas")),
    AGE,
    Column("Containers", "string", lambda o, n: ",".join(c["name"] for c in _images(o)), 1),
    Column("Images", "string", lambda o, n: ",".join(c.get("image", "") for c in _images(o)), 1),
    Column("Selector", "string", lambda o, n: _selector(o), 1),
)

REPLICASET = (
    NAME,
    Column("Desired", "integer", lambda o, n: int(o["spec"].get("replicas", 0))),
    Column("Current", "integer", lambda o, n: _status(o, "replicas")),
    Column("Ready", "integer", lambda o, n: _status(o, "readyReplicas")),
    AGE,
    Column("Images", "string", lambda o, n: ",".join(c.get("image", "") for c in _images(o)), 1),
)


def _pod_ready(obj: Obj, now: float) -> str:
    statuses = obj.get("status", {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(obj['spec']['containers'])}"


def _pod_restarts(obj: Obj, now: float) -> int:
    return sum(s.get("restartCount", 0) for s in obj.get("status", {}).get("containerStatuses", []))


POD = (
    NAME,
    Column("Ready", "string", _pod_ready),
    Column("Status", "string", lambda o, n: o.get("status", {}).get("phase", "Unknown")),
    Column("Restarts", "integer", _pod_restarts),
    AGE,
    Column("Node", "string", lambda o, n: o["spec"].get("nodeName") or "<none>", 1),
)


def _node_status(obj: Obj, now: float) -> str:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            return "Ready" if condition.get("status") == "True" else "NotReady"
    return "Unknown"


NODE = (
    NAME,
    Column("Status", "string", _node_status),
    Column("Roles", "string", lambda o, n: "<none>"),
    AGE,
    Column(
        "Version",
        "string",
        lambda o, n: o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
    ),
)

NAMESPACE = (
    NAME,
    Column("Status", "string", lambda o, n: o.get("status", {}).get("phase", "Active")),
    AGE,
)


def _last_seen(obj: Obj, now: float) -> str:
    seen = parse_time(obj.get("lastTimestamp") or obj.get("eventTime"))
    return "<unknown>" if seen is None else human_duration(now - seen)


def _involved(obj: Obj, now: float) -> str:
    ref = obj["involvedObject"]
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


EVENT = (
    Column("Last Seen", "string", _last_seen),
    Column("Type", "string", lambda o, n: o.get("type", "")),
    Column("Reason", "string", lambda o, n: o.get("reason", "")),
    Column("Object", "string", _involved),
    Column("Message", "string", lambda o, n: o.get("message", "")),
)


def _backends(obj: Obj, now: float) -> str:
    refs = [ref for rule in obj["spec"].get("rules", []) for ref in rule.get("backendRefs", [])]
    return ",".join(f"{ref['name']}={ref.get('weight', 1)}" for ref in refs)


HTTPROUTE = (NAME, Column("Backends", "string", _backends), AGE)


def table(
    columns: tuple[Column, ...],
    objects: list[Obj],
    *,
    now: float,
    resource_version: str,
    include_object: str = "Metadata",
) -> Obj:
    """A Table of `objects`; `include_object` is the request's `includeObject` (None, Metadata,
    Object)."""
    rows = []
    for obj in objects:
        row: Obj = {"cells": [column.cell(obj, now) for column in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": c.name,
                "type": c.type,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            }
            for c in columns
        ],
        "rows": rows,
    }
