"""`ClusterClient` over the Kubernetes API with the official `kubernetes` client.

Works against a real cluster (kubeconfig or in-cluster service account) and against the
simulator's facade (`sim serve`, a plain URL). Layout conventions (labels, annotations, the
HTTPRoute per service) are in `quarterdeck.sim.wire.kube.conventions`.

Transient failures — connection refused, timeouts, 429 and 5xx — are retried a bounded number of
times with exponential backoff (honouring `Retry-After`, capped); then `ClusterUnavailable` is
raised. The client's own urllib3 retries are switched off so this is the only retry loop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from quarterdeck.core.models import (
    Action,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)
from quarterdeck.sim.wire.kube import conventions as conv
from quarterdeck.tools.cluster.base import (
    ApplyResult,
    ClusterError,
    ClusterEvent,
    ClusterUnavailable,
    ConflictError,
    Deployment,
    InvalidRequest,
    NotFoundError,
    Pod,
    Revision,
)
from quarterdeck.tools.cluster.config import ClusterConfig
from quarterdeck.tools.cluster.history import rollback_target

_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


def _api_message(error: ApiException) -> str:
    """The `message` of a Kubernetes Status body, else the HTTP reason."""
    import json

    try:
        body = json.loads(error.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return f"HTTP {error.status} {error.reason or ''}".strip()


def _retry_after(error: ApiException) -> float | None:
    value = (error.headers or {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int_annotation(annotations: dict[str, str] | None, key: str) -> int | None:
    try:
        return int((annotations or {})[key])
    except (KeyError, ValueError):
        return None


def _template_version(template: Any) -> str:
    labels = (template.metadata.labels if template.metadata else None) or {}
    if conv.VERSION_LABEL in labels:
        return str(labels[conv.VERSION_LABEL])
    containers = template.spec.containers if template.spec else []
    return conv.image_tag(containers[0].image or "") if containers else "unknown"


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class KubeClusterClient:
    """A `ClusterClient` over a Kubernetes API server."""

    kind = "kube"

    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        namespaces: tuple[str, ...] = (),
        connect_timeout_s: float = 2.0,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        backoff_max_s: float = 2.0,
        epoch: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api_client
        self._apps = k8s.AppsV1Api(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)
        self._namespaces = namespaces
        self._timeout = (connect_timeout_s, timeout_s)
        self._retries = retries
        self._backoff = backoff_s
        self._backoff_max = backoff_max_s
        self._sleep = sleep
        self._epoch = epoch  # Unix time of clock 0: event times are reported as Unix - epoch

    @classmethod
    def from_config(cls, config: ClusterConfig) -> KubeClusterClient:
        """Connects as `config` says: a plain URL, the in-cluster account, or a kubeconfig."""
        configuration = k8s.Configuration()
        if config.url:
            configuration.host = config.url.rstrip("/")
        elif config.in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            try:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(config.kubeconfig) if config.kubeconfig else None,
                    context=config.context,
                    client_configuration=configuration,
                )
            except (k8s_config.ConfigException, OSError) as error:
                raise ValueError(f"cannot load kubeconfig: {error}") from error
        configuration.retries = 0  # ours is the only retry loop (see module docstring)
        return cls(
            k8s.ApiClient(configuration),
            namespaces=config.namespaces,
            connect_timeout_s=config.connect_timeout_s,
            timeout_s=config.timeout_s,
            retries=config.retries,
            backoff_s=config.backoff_s,
            backoff_max_s=config.backoff_max_s,
            epoch=config.epoch,
        )

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    # --- transport ------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Calls the API with bounded retries on transient failures; maps errors to ours."""
        attempts = self._retries + 1
        last = ""
        for attempt in range(attempts):
            delay = min(self._backoff_max, self._backoff * 2**attempt)
            try:
                return fn(*args, _request_timeout=self._timeout, **kwargs)
            except ApiException as error:
                status = int(error.status or 0)
                message = _api_message(error)
                if status not in _TRANSIENT:
                    raise self._permanent(what, status, message) from error
                last = f"HTTP {status}: {message}"
                after = _retry_after(error)
                if after is not None:
                    delay = min(self._backoff_max, max(delay, after))
            except urllib3.exceptions.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            except (ValidationError, ValueError) as error:
                raise ClusterError(
                    f"{what}: malformed answer from the API server: {error}"
                ) from error
            if attempt + 1 < attempts:
                self._sleep(delay)
        raise ClusterUnavailable(f"{what}: cluster unavailable after {attempts} attempts ({last})")

    @staticmethod
    def _permanent(what: str, status: int, message: str) -> ClusterError:
        text = f"{what}: {message}"
        if status == 404:
            return NotFoundError(text)
        if status == 409:
            return ConflictError(text)
        if status in (400, 422):
            return InvalidRequest(text)
        return ClusterError(f"{text} (HTTP {status})")

    def _check_namespace(self, namespace: str) -> None:
        if self._namespaces and namespace not in self._namespaces:
            raise NotFoundError(f"namespace {namespace!r} is outside this client's namespaces")

    def _visible(self, namespace: str | None) -> bool:
        return not self._namespaces or namespace in self._namespaces

    def _list(
        self,
        what: str,
        namespaced: Callable[..., Any],
        everywhere: Callable[..., Any],
        namespace: str | None,
        **kwargs: Any,
    ) -> list[Any]:
        """The items of one namespace, of each configured namespace in turn (a client limited
        to some namespaces may have no right to list the whole cluster), or of all."""
        if namespace is not None:
            self._check_namespace(namespace)
            return list(self._call(what, namespaced, namespace, **kwargs).items)
        if self._namespaces:
            return [
                item
                for ns in self._namespaces
                for item in self._call(what, namespaced, ns, **kwargs).items
            ]
        return list(self._call(what, everywhere, **kwargs).items)

    # --- reads ----------------------------------------------------------------------------

    def _deployment_value(self, item: Any) -> Deployment:
        meta, spec, status = item.metadata, item.spec, item.status
        annotations = meta.annotations or {}
        return Deployment(
            namespace=meta.namespace,
            name=meta.name,
            replicas=spec.replicas if spec.replicas is not None else 1,
            ready=(status.ready_replicas or 0) if status else 0,
            version=_template_version(spec.template),
            revision=_int_annotation(annotations, conv.REVISION_ANNOTATION) or 0,
            min_replicas=_int_annotation(annotations, conv.MIN_REPLICAS_ANNOTATION),
            max_replicas=_int_annotation(annotations, conv.MAX_REPLICAS_ANNOTATION),
        )

    def deployments(self, namespace: str | None = None) -> list[Deployment]:
        items = self._list(
            "list deployments",
            self._apps.list_namespaced_deployment,
            self._apps.list_deployment_for_all_namespaces,
            namespace,
        )
        values = [
            self._deployment_value(item) for item in items if self._visible(item.metadata.namespace)
        ]
        return sorted(values, key=lambda d: (d.namespace, d.name))

    def _read_deployment(self, target: Target) -> Any:
        self._check_namespace(target.namespace)
        return self._call(
            f"read deployment {target}",
            self._apps.read_namespaced_deployment,
            target.service,
            target.namespace,
        )

    def deployment(self, target: Target) -> Deployment:
        return self._deployment_value(self._read_deployment(target))

    def _replica_sets(self, deployment: Any) -> list[Any]:
        """The Deployment's ReplicaSets (owned by it), oldest revision first."""
        selector = deployment.spec.selector.match_labels or {}
        answer = self._call(
            f"list replicasets of {deployment.metadata.namespace}/{deployment.metadata.name}",
            self._apps.list_namespaced_replica_set,
            deployment.metadata.namespace,
            label_selector=",".join(f"{k}={v}" for k, v in sorted(selector.items())),
        )
        owned = [
            rs
            for rs in answer.items
            if any(ref.uid == deployment.metadata.uid for ref in rs.metadata.owner_references or [])
        ]
        return sorted(
            owned,
            key=lambda rs: _int_annotation(rs.metadata.annotations, conv.REVISION_ANNOTATION) or 0,
        )

    def _history(self, deployment: Any, replica_sets: list[Any]) -> list[Revision]:
        current = _int_annotation(deployment.metadata.annotations, conv.REVISION_ANNOTATION)
        history = []
        for rs in replica_sets:
            annotations = rs.metadata.annotations or {}
            number = _int_annotation(annotations, conv.REVISION_ANNOTATION) or 0
            created = _timestamp(rs.metadata.creation_timestamp)
            history.append(
                Revision(
                    revision=number,
                    version=_template_version(rs.spec.template),
                    replicas=rs.status.replicas if rs.status else 0,
                    ready=(rs.status.ready_replicas or 0) if rs.status else 0,
                    current=number == current,
                    canary=annotations.get(conv.CANARY_ANNOTATION) == "true",
                    created_at=created - self._epoch if created is not None else None,
                )
            )
        return history

    def revisions(self, target: Target) -> list[Revision]:
        deployment = self._read_deployment(target)
        return self._history(deployment, self._replica_sets(deployment))

    def pods(self, namespace: str | None = None, service: str | None = None) -> list[Pod]:
        # Only pods that name their service: the others belong to no service (and on a big
        # cluster they are most of the listing).
        selector = f"{conv.NAME_LABEL}={service}" if service else conv.NAME_LABEL
        items = self._list(
            "list pods",
            self._core.list_namespaced_pod,
            self._core.list_pod_for_all_namespaces,
            namespace,
            label_selector=selector,
        )
        values = []
        for item in items:
            if not self._visible(item.metadata.namespace):
                continue
            labels = item.metadata.labels or {}
            status = item.status
            statuses = (status.container_statuses if status else None) or []
            ready_condition = next(
                (
                    c
                    for c in ((status.conditions if status else None) or [])
                    if c.type == "Ready" and c.status == "True"
                ),
                None,
            )
            ready_since = (
                _timestamp(ready_condition.last_transition_time) if ready_condition else None
            )
            started = _timestamp(status.start_time) if status else None
            values.append(
                Pod(
                    namespace=item.metadata.namespace,
                    name=item.metadata.name,
                    service=labels.get(conv.NAME_LABEL, ""),
                    version=labels.get(conv.VERSION_LABEL, ""),
                    node=item.spec.node_name if item.spec else None,
                    phase=(status.phase if status else None) or "Unknown",
                    ready=ready_condition is not None,
                    restarts=sum(c.restart_count for c in statuses),
                    # Ready's last transition is its start-up only if it never flipped since;
                    # readers take a median over pods for that reason.
                    startup_s=ready_since - started
                    if ready_since is not None and started is not None
                    else None,
                    ready_since=ready_since - self._epoch if ready_since is not None else None,
                )
            )
        return sorted(values, key=lambda p: (p.namespace, p.name))

    def events(
        self,
        *,
        since: float | None = None,
        namespace: str | None = None,
        involved: str | None = None,
    ) -> list[ClusterEvent]:
        fields = f"involvedObject.name={involved}" if involved else None
        items = self._list(
            "list events",
            self._core.list_namespaced_event,
            self._core.list_event_for_all_namespaces,
            namespace,
            field_selector=fields,
        )
        values = []
        for item in items:
            when = (
                _timestamp(item.event_time)
                or _timestamp(item.last_timestamp)
                or _timestamp(item.first_timestamp)
                or _timestamp(item.metadata.creation_timestamp)
                or self._epoch
            ) - self._epoch
            if since is not None and when < since:
                continue
            if not self._visible(item.metadata.namespace):
                continue
            ref = item.involved_object
            values.append(
                ClusterEvent(
                    time=when,
                    namespace=item.metadata.namespace or ref.namespace or "",
                    kind=ref.kind or "",
                    name=ref.name or "",
                    type=item.type or "Normal",
                    reason=item.reason or "",
                    message=item.message or "",
                )
            )
        return sorted(values, key=lambda e: e.time)

    def _read_route(self, target: Target) -> dict[str, Any]:
        self._check_namespace(target.namespace)
        route = self._call(
            f"read httproute {target}",
            self._custom.get_namespaced_custom_object,
            conv.GATEWAY_GROUP,
            conv.GATEWAY_VERSION,
            target.namespace,
            conv.HTTPROUTES,
            target.service,
        )
        if not isinstance(route, dict):
            raise ClusterError(f"read httproute {target}: malformed answer")
        return route

    def route_weights(self, target: Target) -> dict[str, int]:
        route = self._read_route(target)
        rules = route.get("spec", {}).get("rules") or []
        weights: dict[str, int] = {}
        for ref in (rules[0].get("backendRefs") or []) if rules else []:
            version = conv.version_of_backend(target.service, str(ref.get("name", "")))
            if version is not None:
                weights[version] = weights.get(version, 0) + int(ref.get("weight", 1))
        return weights

    # --- actions --------------------------------------------------------------------------

    def apply(self, target: Target, action: Action) -> ApplyResult:
        if isinstance(action, ScaleAction):
            return self._scale(target, action)
        if isinstance(action, RollbackAction):
            return self._rollback(target, action)
        if isinstance(action, RouteAction):
            return self._route(target, action)
        return self._restart(target, action)

    def _scale(self, target: Target, action: ScaleAction) -> ApplyResult:
        self._check_namespace(target.namespace)
        self._call(
            f"scale {target}",
            self._apps.patch_namespaced_deployment_scale,
            target.service,
            target.namespace,
            {"spec": {"replicas": action.replicas}},
            _content_type="application/merge-patch+json",
        )
        return ApplyResult(
            target=target, action=action, applied=True, message=f"scaled to {action.replicas}"
        )

    def _rollback(self, target: Target, action: RollbackAction) -> ApplyResult:
        """What `kubectl rollout undo` does: put an older ReplicaSet's template back."""
        deployment = self._read_deployment(target)
        replica_sets = self._replica_sets(deployment)
        choice = rollback_target(target, self._history(deployment, replica_sets), action)
        rs = next(
            rs
            for rs in replica_sets
            if _int_annotation(rs.metadata.annotations, conv.REVISION_ANNOTATION) == choice.revision
        )
        template = self._api.sanitize_for_serialization(rs.spec.template)  # type: ignore[no-untyped-call]
        template.get("metadata", {}).get("labels", {}).pop(conv.POD_TEMPLATE_HASH_LABEL, None)
        self._call(
            f"rollback {target}",
            self._apps.patch_namespaced_deployment,
            target.service,
            target.namespace,
            [{"op": "replace", "path": "/spec/template", "value": template}],
        )
        done = "canary aborted; " if choice.current else ""
        return ApplyResult(
            target=target,
            action=action,
            applied=True,
            message=f"{done}rolled back to revision {choice.revision} ({choice.version})",
        )

    def _route(self, target: Target, action: RouteAction) -> ApplyResult:
        route = self._read_route(target)
        rules = list(route.get("spec", {}).get("rules") or [{}])
        backend = dict((rules[0].get("backendRefs") or [{}])[0])
        backend.pop("weight", None)
        refs = [
            {**backend, "name": conv.backend_name(target.service, version), "weight": weight}
            for version, weight in sorted(action.weights.items())
        ]
        rules[0] = {**rules[0], "backendRefs": refs}
        self._call(
            f"set route weights of {target}",
            self._custom.patch_namespaced_custom_object,
            conv.GATEWAY_GROUP,
            conv.GATEWAY_VERSION,
            target.namespace,
            conv.HTTPROUTES,
            target.service,
            {"spec": {"rules": rules}},
            _content_type="application/merge-patch+json",
        )
        text = ", ".join(f"{v}={w}" for v, w in sorted(action.weights.items()))
        return ApplyResult(target=target, action=action, applied=True, message=f"weights {text}")

    def _restart(self, target: Target, action: RestartAction) -> ApplyResult:
        """`pods=None`: `kubectl rollout restart`; `pods=N`: delete N pods (ready ones last)."""
        self._check_namespace(target.namespace)
        if action.pods is None:
            stamp = datetime.now().astimezone().isoformat(timespec="seconds")
            return self.restart_marked(target, stamp)
        existing = len(self.pods(target.namespace, target.service))
        if action.pods > existing:
            raise InvalidRequest(
                f"restart {target}: cannot restart {action.pods} pods, {existing} exist"
            )
        deleted: list[str] = []
        for _ in range(action.pods):
            oldest = self._oldest_pod(target)
            if oldest is None:
                raise InvalidRequest(f"restart {target}: no pods left to restart")
            # a pod already gone (e.g. after a retried delete) is the outcome we wanted
            with contextlib.suppress(NotFoundError):
                self._call(
                    f"delete pod {target.namespace}/{oldest}",
                    self._core.delete_namespaced_pod,
                    oldest,
                    target.namespace,
                )
            deleted.append(oldest)
        return ApplyResult(
            target=target, action=action, applied=True, message=f"deleted {', '.join(deleted)}"
        )

    def restart_marker(self, target: Target) -> str | None:
        template = self._read_deployment(target).spec.template
        annotations = (template.metadata.annotations if template.metadata else None) or {}
        value = annotations.get(conv.RESTARTED_AT_ANNOTATION)
        return None if value is None else str(value)

    def restart_marked(self, target: Target, marker: str) -> ApplyResult:
        """`kubectl rollout restart` with `marker` as the restartedAt stamp; a no-op when the
        template already carries it (the API server would not roll the pods again either)."""
        action = RestartAction()
        if self.restart_marker(target) == marker:
            return ApplyResult(
                target=target, action=action, applied=False, message=f"already restarted ({marker})"
            )
        patch = {
            "spec": {
                "template": {"metadata": {"annotations": {conv.RESTARTED_AT_ANNOTATION: marker}}}
            }
        }
        self._call(
            f"restart {target}",
            self._apps.patch_namespaced_deployment,
            target.service,
            target.namespace,
            patch,
            _content_type="application/strategic-merge-patch+json",
        )
        return ApplyResult(target=target, action=action, applied=True, message="rolling restart")

    def _oldest_pod(self, target: Target) -> str | None:
        """The pod created first (ties: in the API server's order), which is the one a
        ReplicaSet-style restart replaces first and the one the simulator's facade accepts."""
        answer = self._call(
            f"list pods of {target}",
            self._core.list_namespaced_pod,
            target.namespace,
            label_selector=f"{conv.NAME_LABEL}={target.service}",
        )
        items = sorted(
            answer.items,
            key=lambda p: _timestamp(p.metadata.creation_timestamp) or 0.0,
        )
        return str(items[0].metadata.name) if items else None

    def is_online(self) -> bool:
        try:
            k8s.VersionApi(self._api).get_code(_request_timeout=self._timeout)
        except Exception:
            return False
        return True
