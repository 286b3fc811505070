"""Writes: a changed Kubernetes object becomes simulator actions.

The facade compares the object a client wants (after its patch or PUT) with the one it has and
derives the `Action`s that make them equal, as a controller would:
- Deployment `spec.replicas` (or the scale subresource)        -> `ScaleAction`
- Deployment `spec.template` of an existing ReplicaSet          -> `RollbackAction(to_revision)`
  (this is what `kubectl rollout undo` writes)
- `spec.template` naming a version already in the history        -> `RollbackAction(to_version)`
- `spec.template` naming another version of the scenario         -> `Deploy(version)`, a rolling
  update (`kubectl set image`; refused while a canary runs)
- `spec.template` with a new `kubectl.kubernetes.io/restartedAt` -> `RestartAction()`
- a JSON patch that replaces `/spec/template` with the primary's own template while a canary
  runs                                                           -> `RollbackAction` to the
  primary's revision, which aborts the canary (the simulator's rollback semantics)
- HTTPRoute `backendRefs` weights                               -> `RouteAction`
- deleting the pod the simulator would restart next             -> `RestartAction(pods=1)`

Anything else the simulator cannot represent (a version the scenario does not define, other spec
fields) is refused with 422 rather than silently dropped. Metadata edits (labels, annotations)
are accepted and not kept: the objects are rendered from the simulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from quarterdeck.core.models import (
    Action,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
)
from quarterdeck.sim.views import RevisionView, ServiceView
from quarterdeck.sim.wire.kube import conventions as conv
from quarterdeck.sim.wire.kube.status import KubeError

Obj = dict[str, Any]


@dataclass(frozen=True)
class Deploy:
    """A rollout to a version of the scenario not in the revision history (`kubectl set image`):
    a person's or a pipeline's write, not one of the agents' `Action`s."""

    version: str


Change = Action | Deploy


def invalid(kind: str, name: str, field: str, value: Any, why: str) -> KubeError:
    """422 worded as the API server words validation errors."""
    return KubeError(
        422,
        f'{kind} "{name}" is invalid: {field}: Invalid value: {value!r}: {why}',
        details={"name": name, "kind": kind, "causes": [{"field": field, "message": why}]},
    )


def check_resource_version(wanted: Obj, current: Obj, resource: str) -> None:
    """409 when the client's `metadata.resourceVersion` is set and is not the current one."""
    meta = wanted.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    if version and version != current["metadata"]["resourceVersion"]:
        raise KubeError(
            409,
            f'Operation cannot be fulfilled on {resource} "{current["metadata"]["name"]}": '
            "the object has been modified; please apply your changes to the latest version "
            "and try again",
            details={"name": current["metadata"]["name"], "kind": resource},
        )


def replicas_of(obj: Obj, kind: str, name: str) -> int:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise invalid(kind, name, "spec", spec, "must be an object")
    value = spec.get("replicas", 1)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(kind, name, "spec.replicas", value, "must be an integer")
    if value < 0:
        raise invalid(kind, name, "spec.replicas", value, "must be greater than or equal to 0")
    return value


def scale_action(replicas: int, kind: str, name: str) -> ScaleAction:
    try:
        return ScaleAction(replicas=replicas)
    except ValidationError as error:
        why = error.errors()[0]["msg"]
        raise invalid(kind, name, "spec.replicas", replicas, why) from None


def _template_version(template: Obj) -> tuple[str | None, str | None]:
    """(version label, image tag of the model-server container) of a pod template."""
    labels = (template.get("metadata") or {}).get("labels") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    named = [c for c in containers if isinstance(c, dict) and c.get("name") == conv.CONTAINER_NAME]
    chosen = named or [c for c in containers if isinstance(c, dict)]
    image = chosen[0].get("image") if chosen else None
    tag = conv.image_tag(image) if isinstance(image, str) else None
    return labels.get(conv.VERSION_LABEL), tag


def _annotation(template: Obj, key: str) -> Any:
    return ((template.get("metadata") or {}).get("annotations") or {}).get(key)


def restarted_at(deployment: Obj) -> str | None:
    """The `kubectl.kubernetes.io/restartedAt` stamp on a Deployment's pod template, if any."""
    template = (deployment.get("spec") or {}).get("template") or {}
    value = (
        _annotation(template, conv.RESTARTED_AT_ANNOTATION) if isinstance(template, dict) else None
    )
    return None if value is None else str(value)


def _replaces_template(patch: Any) -> bool:
    return isinstance(patch, list) and any(
        isinstance(op, dict) and op.get("op") == "replace" and op.get("path") == "/spec/template"
        for op in patch
    )


def deployment_actions(
    current: Obj,
    wanted: Obj,
    sv: ServiceView,
    revisions: list[RevisionView],
    json_patch: Any = None,
) -> list[Change]:
    """The actions that turn Deployment `current` into `wanted` (template first, then scale)."""
    name = sv.name
    kind = "Deployment.apps"
    spec = wanted.get("spec")
    if not isinstance(spec, dict):
        raise invalid(kind, name, "spec", spec, "must be an object")
    for key in sorted(set(spec) | set(current["spec"])):
        if key in ("replicas", "template"):
            continue
        if spec.get(key) != current["spec"].get(key):
            raise invalid(
                kind, name, f"spec.{key}", spec.get(key), "the simulator cannot change this field"
            )
    actions: list[Change] = []
    template = spec.get("template")
    if not isinstance(template, dict):
        raise invalid(kind, name, "spec.template", template, "must be an object")
    if template != current["spec"]["template"] or _replaces_template(json_patch):
        action = _template_action(current["spec"]["template"], template, sv, revisions, json_patch)
        if action is not None:
            actions.append(action)
    replicas = replicas_of(wanted, kind, name)
    if replicas != current["spec"]["replicas"]:
        actions.append(scale_action(replicas, kind, name))
    return actions


def _template_action(
    old: Obj, new: Obj, sv: ServiceView, revisions: list[RevisionView], json_patch: Any
) -> Change | None:
    kind, name = "Deployment.apps", sv.name
    old_label, old_tag = _template_version(old)
    new_label, new_tag = _template_version(new)
    # `kubectl set image` changes only the image; an edit may change only the label. A changed
    # image tag wins, as it is what a kubelet would run.
    if new_tag is not None and new_tag != old_tag:
        version = new_tag
    elif new_label is not None and new_label != old_label:
        version = new_label
    else:
        version = sv.version
    by_rs = {r.replica_set: r for r in revisions}
    current = next(r for r in revisions if r.current)
    marker = _annotation(new, conv.TEMPLATE_ANNOTATION)
    named = by_rs.get(marker) if isinstance(marker, str) else None
    if named is not None and not named.current and named.version == version:
        return RollbackAction(to_revision=named.number)
    if version != sv.version:
        if any(r.version == version for r in revisions):
            return RollbackAction(to_version=version)
        if version in sv.versions:
            return Deploy(version)
        known = ", ".join(sv.versions)
        raise invalid(kind, name, "spec.template", version, f"unknown version (versions: {known})")
    restarted = conv.RESTARTED_AT_ANNOTATION
    if _annotation(new, restarted) is not None and _annotation(new, restarted) != _annotation(
        old, restarted
    ):
        return RestartAction()
    if _replaces_template(json_patch) and sv.canary_version is not None:
        return RollbackAction(to_revision=current.number)
    if _comparable(new) != _comparable(old):
        raise invalid(
            kind,
            name,
            "spec.template",
            "…",
            "the simulator can change only the version (image or label) and restartedAt",
        )
    return None


def _comparable(template: Obj) -> Obj:
    """A template minus what a rollout undo or restart legitimately rewrites."""
    meta = dict(template.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    labels.pop(conv.POD_TEMPLATE_HASH_LABEL, None)
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(conv.TEMPLATE_ANNOTATION, None)
    annotations.pop(conv.RESTARTED_AT_ANNOTATION, None)
    return {**template, "metadata": {**meta, "labels": labels, "annotations": annotations}}


def route_action(wanted: Obj, sv: ServiceView) -> RouteAction | None:
    """The RouteAction for an HTTPRoute's new backendRefs, or None if the weights are unchanged."""
    kind, name = f"HTTPRoute.{conv.GATEWAY_GROUP}", sv.name
    spec = wanted.get("spec")
    rules = spec.get("rules") if isinstance(spec, dict) else None
    if not isinstance(rules, list) or not rules or not isinstance(rules[0], dict):
        raise invalid(kind, name, "spec.rules", rules, "must hold one rule with backendRefs")
    refs = rules[0].get("backendRefs")
    if not isinstance(refs, list) or not refs:
        raise invalid(kind, name, "spec.rules[0].backendRefs", refs, "must not be empty")
    weights: dict[str, int] = {}
    for i, ref in enumerate(refs):
        field = f"spec.rules[0].backendRefs[{i}]"
        if not isinstance(ref, dict):
            raise invalid(kind, name, field, ref, "must be an object")
        version = conv.version_of_backend(sv.name, str(ref.get("name", "")))
        if version is None:
            raise invalid(
                kind,
                name,
                f"{field}.name",
                ref.get("name"),
                f"backends are named {sv.name}-<version>",
            )
        weight = ref.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise invalid(kind, name, f"{field}.weight", weight, "must be an integer")
        weights[version] = weights.get(version, 0) + weight
    if weights == sv.route_weights:
        return None
    try:
        return RouteAction(weights=weights)
    except ValidationError as error:
        why = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise invalid(kind, name, "spec.rules[0].backendRefs", weights, why) from None
