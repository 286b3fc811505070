"""Discovery documents: what kubectl and the official client read to learn which resources exist.

Only the legacy (non-aggregated) discovery format is served. kubectl 1.32 asks for the aggregated
format first (`as=APIGroupDiscoveryList`) and falls back to the legacy documents when the response
is plain `application/json`, which is what these handlers always return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GATEWAY_GROUP = "gateway.networking.k8s.io"
SERVER_VERSION = {"major": "1", "minor": "32"}


@dataclass(frozen=True)
class Resource:
    """One entry of an APIResourceList."""

    name: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    group: str | None = None  # for subresources served by another group (deployments/scale)
    version: str | None = None

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "singularName": "" if "/" in self.name else self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            doc["shortNames"] = list(self.short_names)
        if self.group is not None:
            doc["group"] = self.group
            doc["version"] = self.version or "v1"
        if "/" not in self.name and self.kind in ("Deployment", "Pod", "ReplicaSet"):
            doc["categories"] = ["all"]
        return doc


_READ = ("get", "list")
_WRITE = ("get", "list", "patch", "update")

RESOURCES: dict[str, tuple[Resource, ...]] = {
    "v1": (
        Resource("pods", "Pod", True, (*_READ, "delete"), ("po",)),
        Resource("events", "Event", True, _READ, ("ev",)),
        Resource("nodes", "Node", False, _READ, ("no",)),
        Resource("namespaces", "Namespace", False, _READ, ("ns",)),
    ),
    "apps/v1": (
        Resource("deployments", "Deployment", True, _WRITE, ("deploy",)),
        Resource(
            "deployments/scale",
            "Scale",
            True,
            ("get", "patch", "update"),
            group="autoscaling",
            version="v1",
        ),
        Resource("replicasets", "ReplicaSet", True, _READ, ("rs",)),
    ),
    f"{GATEWAY_GROUP}/v1": (Resource("httproutes", "HTTPRoute", True, _WRITE),),
}
# autoscaling/v1 is not listed: `deployments/scale` names it as its kind's group, which is all
# kubectl's scale client needs; an empty group would make kubectl report discovery errors.
GROUPS = ("apps", GATEWAY_GROUP)


def version_info() -> dict[str, Any]:
    return {
        **SERVER_VERSION,
        "gitVersion": "v1.32.0-quarterdeck-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group(name: str) -> dict[str, Any]:
    version = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": [version],
        "preferredVersion": version,
    }


def api_group_list() -> dict[str, Any]:
    groups = [api_group(name) for name in GROUPS]
    for group in groups:
        group.pop("kind")
        group.pop("apiVersion")
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(group_version: str) -> dict[str, Any] | None:
    """The APIResourceList of `group_version`, or None when it is not served."""
    resources = RESOURCES.get(group_version)
    if resources is None:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [r.document() for r in resources],
    }
