"""How a model-serving service is laid out in Kubernetes objects, shared by this facade (which
renders them) and the `kube` adapter in quarterdeck.tools (which reads them from any cluster):

- one Deployment per service, named after it, selecting `app.kubernetes.io/name=<service>`;
- the version is the pod template's `app.kubernetes.io/version` label (else the image tag);
- revisions are the Deployment's ReplicaSets, numbered by `deployment.kubernetes.io/revision`;
- optional replica bounds in the annotations `quarterdeck.io/min-replicas` / `max-replicas`;
- traffic weights are a Gateway API HTTPRoute named after the service whose first rule's
  `backendRefs` are `<service>-<version>` Services with a `weight` each.
"""

from __future__ import annotations

NAME_LABEL = "app.kubernetes.io/name"
VERSION_LABEL = "app.kubernetes.io/version"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
MIN_REPLICAS_ANNOTATION = "quarterdeck.io/min-replicas"
MAX_REPLICAS_ANNOTATION = "quarterdeck.io/max-replicas"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_VERSION = "v1"
HTTPROUTES = "httproutes"


def backend_name(service: str, version: str) -> str:
    return f"{service}-{version}"


def version_of_backend(service: str, backend: str) -> str | None:
    """The version a backendRef name stands for, or None if it is not `<service>-<version>`."""
    prefix = f"{service}-"
    return backend[len(prefix) :] if backend.startswith(prefix) else None


def image_tag(image: str) -> str:
    """`registry/ns/app:v2` -> `v2`; an untagged image reads as `latest`."""
    last = image.rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[1] if ":" in last else "latest"


TEMPLATE_ANNOTATION = "quarterdeck.io/template"  # which ReplicaSet a pod template came from
CANARY_ANNOTATION = "quarterdeck.io/canary"
ROLE_LABEL = "quarterdeck.io/role"
POOL_LABEL = "quarterdeck.io/pool"
GPU_RESOURCE = "nvidia.com/gpu"
CONTAINER_NAME = "model-server"
GATEWAY_NAME = "model-gateway"
BACKEND_PORT = 8080


def image(namespace: str, service: str, version: str) -> str:
    return f"quarterdeck.local/{namespace}/{service}:{version}"
