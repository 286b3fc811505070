"""The Kubernetes REST routes (Starlette) over a simulator.

Every handler is `async` and does its work synchronously on the event loop: the real-time driver
advances the simulator on the same loop, so a request never observes a half-advanced tick.
Errors are `Status` objects (404 unknown path or object, 400 bad body or selector, 405 method,
409 stale resourceVersion, 415 patch type, 422 invalid value).

Not implemented (kubectl says so with the Status it gets): `/openapi/v2|v3` (so `kubectl apply`,
`explain` and client-side validation do not work), server-side apply, creating or deleting
Deployments, `limit`/`continue` paging (every list is one page), protobuf and CBOR.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from quarterdeck.core.models import RestartAction, Target
from quarterdeck.sim.errors import InvalidAction, NotFound
from quarterdeck.sim.wire.kube import conventions as conv
from quarterdeck.sim.wire.kube import discovery, objects, tables
from quarterdeck.sim.wire.kube.patch import JSON_PATCH, PatchError, apply_patch
from quarterdeck.sim.wire.kube.selectors import SelectorError, object_selector
from quarterdeck.sim.wire.kube.state import KubeState
from quarterdeck.sim.wire.kube.status import KubeError, not_found, status_response
from quarterdeck.sim.wire.kube.watch import watch_events
from quarterdeck.sim.wire.kube.writes import (
    Change,
    Deploy,
    check_resource_version,
    deployment_actions,
    invalid,
    replicas_of,
    restarted_at,
    route_action,
    scale_action,
)

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator

Obj = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
GATEWAY = f"{conv.GATEWAY_GROUP}/{conv.GATEWAY_VERSION}"
MAX_WATCH_S = 1800.0
log = logging.getLogger(__name__)


def _same(obj: Obj) -> Obj:
    return obj


def _guarded(handler: Handler) -> Handler:
    """Turns every failure into a Kubernetes Status response; never a traceback page."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except KubeError as error:
            return status_response(error)
        except SelectorError as error:
            return status_response(KubeError(400, str(error)))
        except PatchError as error:
            return status_response(KubeError(error.code, str(error)))
        except Exception as error:  # a bug: say so as a Status, keep serving
            log.exception("kube facade: %s %s failed", request.method, request.url.path)
            return status_response(KubeError(500, f"internal error: {error}"))

    return endpoint


def resource(path: str, **handlers: Handler) -> Route:
    """A route answering the given methods (get=, patch=, ...) and 405 Status for the rest."""

    async def dispatch(request: Request) -> Response:
        handler = handlers.get(request.method.lower())
        if handler is None and request.method == "HEAD":
            handler = handlers.get("get")
        if handler is None:
            allowed = ", ".join(m.upper() for m in handlers)
            raise KubeError(405, f"the server does not allow this method on the requested "
                            f"resource (allowed: {allowed})")  # fmt: skip
        return await handler(request)

    return Route(path, _guarded(dispatch), methods=METHODS)


async def not_found_endpoint(request: Request) -> Response:
    return status_response(KubeError(404, "the server could not find the requested resource"))


def fallback_route() -> Route:
    """404 Status for every unknown path; mount it last."""
    return Route("/{path:path}", not_found_endpoint, methods=METHODS)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise KubeError(400, "the request body is empty")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if "yaml" in media:
        raise KubeError(415, f"{media} bodies are not supported by the simulator; send JSON")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise KubeError(400, f"the request body is not valid JSON: {error}") from None


async def _patched(request: Request, current: Obj) -> tuple[Obj, Any]:
    """What a PATCH asks for: its body applied to `current` the way its Content-Type says (415
    for a type we do not speak), and the body again when it is a JSON patch — its operations
    name the fields the client meant to touch, which a merge result cannot tell (else None)."""
    body = await _body(request)
    content_type = request.headers.get("content-type", "")
    json_patch = body if content_type.startswith(JSON_PATCH) else None
    return apply_patch(content_type, current, body), json_patch


async def _replacement(request: Request, kind: str) -> Obj:
    """What a PUT sends: the whole object, which must be a JSON object (`kind` names it, with
    its article, in the 400)."""
    wanted = await _body(request)
    if not isinstance(wanted, dict):
        raise KubeError(400, f"{kind} must be a JSON object")
    return wanted


def _named(items: list[Obj], name: str, resource: str, group: str = "") -> Obj:
    """The object called `name` among `items`, or the 404 Kubernetes answers for it."""
    for item in items:
        if item["metadata"]["name"] == name:
            return item
    raise not_found(resource, name, group)


def _dry_run(request: Request) -> bool:
    return request.query_params.get("dryRun") == "All"


class KubeApi:
    """The handlers, bound to one `KubeState`."""

    def __init__(self, state: KubeState) -> None:
        self.state = state

    # --- responses ------------------------------------------------------------------------

    def _one(self, request: Request, obj: Obj, columns: tuple[tables.Column, ...]) -> Response:
        if tables.wants_table(request.headers.get("accept", "")):
            return JSONResponse(self._table(request, columns, [obj]))
        return JSONResponse(obj)

    def _table(self, request: Request, columns: tuple[tables.Column, ...], items: list[Obj]) -> Obj:
        return tables.table(
            columns,
            items,
            now=self.state.now_unix(),
            resource_version=self.state.versions.latest,
            include_object=request.query_params.get("includeObject", "Metadata"),
        )

    def _list(
        self,
        request: Request,
        produce: Callable[[str | None], list[Obj]],
        kind: str,
        api_version: str,
        columns: tuple[tables.Column, ...],
    ) -> Response:
        """A list (or a watch) of `produce(namespace)`: the objects in the URL's namespace, or in
        all of them (None) on the cluster-wide path."""
        query = request.query_params
        keep = object_selector(query.get("labelSelector"), query.get("fieldSelector"))
        as_table = tables.wants_table(request.headers.get("accept", ""))
        namespace = request.path_params.get("namespace")

        def chosen() -> list[Obj]:
            return [item for item in produce(namespace) if keep(item)]

        if query.get("watch") in ("true", "1"):
            try:
                timeout = float(query.get("timeoutSeconds") or MAX_WATCH_S)
            except ValueError:
                raise KubeError(400, "timeoutSeconds must be a number") from None
            events = watch_events(
                chosen,
                since=query.get("resourceVersion"),
                timeout_s=timeout,
                present=(lambda obj: self._table(request, columns, [obj])) if as_table else _same,
            )
            return StreamingResponse(events, media_type="application/json")
        items = chosen()
        if as_table:
            return JSONResponse(self._table(request, columns, items))
        return JSONResponse(
            {
                "kind": kind,
                "apiVersion": api_version,
                "metadata": {"resourceVersion": self.state.versions.latest},
                "items": items,
            }
        )

    def _apply(self, target: Target, actions: Sequence[Change]) -> None:
        for action in actions:
            try:
                if isinstance(action, Deploy):
                    self.state.sim.deploy(target, action.version)
                else:
                    self.state.sim.apply(target, action)
            except InvalidAction as error:
                raise KubeError(422, error.reason) from None
            except NotFound as error:
                raise KubeError(404, str(error)) from None

    # --- discovery ------------------------------------------------------------------------

    async def version(self, request: Request) -> Response:
        return JSONResponse(discovery.version_info())

    async def api(self, request: Request) -> Response:
        return JSONResponse(discovery.api_versions(request.url.netloc))

    async def apis(self, request: Request) -> Response:
        return JSONResponse(discovery.api_group_list())

    async def group(self, request: Request) -> Response:
        name = request.path_params["group"]
        if name not in discovery.GROUPS:
            raise KubeError(404, f"the server could not find the requested resource ({name})")
        return JSONResponse(discovery.api_group(name))

    async def resources(self, request: Request) -> Response:
        params = request.path_params
        group_version = f"{params['group']}/{params['version']}" if "group" in params else "v1"
        document = discovery.resource_list(group_version)
        if document is None:
            raise KubeError(404, f"the server could not find the requested resource "
                            f"({group_version})")  # fmt: skip
        return JSONResponse(document)

    # --- apps/v1 Deployments --------------------------------------------------------------

    async def list_deployments(self, request: Request) -> Response:
        return self._list(
            request, self.state.deployments, "DeploymentList", "apps/v1", tables.DEPLOYMENT
        )

    async def get_deployment(self, request: Request) -> Response:
        p = request.path_params
        obj = self.state.deployment(p["namespace"], p["name"])
        return self._one(request, obj, tables.DEPLOYMENT)

    async def patch_deployment(self, request: Request) -> Response:
        p = request.path_params
        current = self.state.deployment(p["namespace"], p["name"])
        wanted, json_patch = await _patched(request, current)
        return self._write_deployment(request, current, wanted, json_patch)

    async def put_deployment(self, request: Request) -> Response:
        p = request.path_params
        current = self.state.deployment(p["namespace"], p["name"])
        wanted = await _replacement(request, "a Deployment")
        name = (wanted.get("metadata") or {}).get("name")
        if name != p["name"]:
            raise KubeError(400, f"the name of the object ({name}) does not match the name on "
                            f"the URL ({p['name']})")  # fmt: skip
        return self._write_deployment(request, current, wanted, None)

    def _write_deployment(
        self, request: Request, current: Obj, wanted: Obj, json_patch: Any
    ) -> Response:
        namespace, name = current["metadata"]["namespace"], current["metadata"]["name"]
        check_resource_version(wanted, current, "deployments.apps")
        sv = self.state.service(namespace, name, "deployments", "apps")
        revisions = self.state.sim.revisions(namespace, name)
        actions = deployment_actions(current, wanted, sv, revisions, json_patch)
        if _dry_run(request):
            return JSONResponse(wanted)
        self._apply(Target(namespace=namespace, service=name), actions)
        if any(isinstance(a, RestartAction) and a.pods is None for a in actions):
            stamp = restarted_at(wanted)
            if stamp is not None:
                self.state.sim.stamp_restart(namespace, name, stamp)
        return JSONResponse(self.state.deployment(namespace, name))

    async def get_scale(self, request: Request) -> Response:
        p = request.path_params
        return JSONResponse(objects.scale(self.state.deployment(p["namespace"], p["name"])))

    async def patch_scale(self, request: Request) -> Response:
        p = request.path_params
        current = objects.scale(self.state.deployment(p["namespace"], p["name"]))
        wanted, _ = await _patched(request, current)
        return self._write_scale(request, current, wanted)

    async def put_scale(self, request: Request) -> Response:
        p = request.path_params
        current = objects.scale(self.state.deployment(p["namespace"], p["name"]))
        return self._write_scale(request, current, await _replacement(request, "a Scale"))

    def _write_scale(self, request: Request, current: Obj, wanted: Obj) -> Response:
        namespace, name = current["metadata"]["namespace"], current["metadata"]["name"]
        check_resource_version(wanted, current, "deployments.apps")
        replicas = replicas_of(wanted, "Scale.autoscaling", name)
        if _dry_run(request):
            return JSONResponse(wanted)
        if replicas != current["spec"]["replicas"]:
            action = scale_action(replicas, "Scale.autoscaling", name)
            self._apply(Target(namespace=namespace, service=name), [action])
        return JSONResponse(objects.scale(self.state.deployment(namespace, name)))

    # --- apps/v1 ReplicaSets --------------------------------------------------------------

    async def list_replica_sets(self, request: Request) -> Response:
        return self._list(
            request, self.state.replica_sets, "ReplicaSetList", "apps/v1", tables.REPLICASET
        )

    async def get_replica_set(self, request: Request) -> Response:
        p = request.path_params
        item = _named(self.state.replica_sets(p["namespace"]), p["name"], "replicasets", "apps")
        return self._one(request, item, tables.REPLICASET)

    # --- v1 -------------------------------------------------------------------------------

    async def list_pods(self, request: Request) -> Response:
        return self._list(request, self.state.pods, "PodList", "v1", tables.POD)

    def _pod(self, namespace: str, name: str) -> Obj:
        return _named(self.state.pods(namespace), name, "pods")

    async def get_pod(self, request: Request) -> Response:
        p = request.path_params
        return self._one(request, self._pod(p["namespace"], p["name"]), tables.POD)

    async def delete_pod(self, request: Request) -> Response:
        """Deleting a pod restarts it, if it is the pod the simulator restarts next (its
        restarts take the oldest pod first and it has no way to pick another)."""
        p = request.path_params
        pod = self._pod(p["namespace"], p["name"])
        service = pod["metadata"]["labels"][conv.NAME_LABEL]
        oldest = self.state.sim.pods(p["namespace"], service)[0].name
        if oldest != p["name"]:
            raise invalid("Pod", p["name"], "metadata.name", p["name"],
                          f"the simulator restarts the oldest pod of {service} first: "
                          f"delete {oldest}")  # fmt: skip
        if not _dry_run(request):
            self._apply(Target(namespace=p["namespace"], service=service), [RestartAction(pods=1)])
        return JSONResponse(pod)

    async def list_events(self, request: Request) -> Response:
        return self._list(request, self.state.events, "EventList", "v1", tables.EVENT)

    async def get_event(self, request: Request) -> Response:
        p = request.path_params
        item = _named(self.state.events(p["namespace"]), p["name"], "events")
        return self._one(request, item, tables.EVENT)

    async def list_nodes(self, request: Request) -> Response:
        # Cluster-scoped: the path has no namespace to pass on.
        return self._list(request, lambda _: self.state.nodes(), "NodeList", "v1", tables.NODE)

    async def get_node(self, request: Request) -> Response:
        item = _named(self.state.nodes(), request.path_params["name"], "nodes")
        return self._one(request, item, tables.NODE)

    async def list_namespaces(self, request: Request) -> Response:
        return self._list(
            request, lambda _: self.state.namespaces(), "NamespaceList", "v1", tables.NAMESPACE
        )

    async def get_namespace(self, request: Request) -> Response:
        item = _named(self.state.namespaces(), request.path_params["name"], "namespaces")
        return self._one(request, item, tables.NAMESPACE)

    # --- gateway.networking.k8s.io/v1 HTTPRoutes ------------------------------------------

    async def list_routes(self, request: Request) -> Response:
        return self._list(
            request, self.state.http_routes, "HTTPRouteList", GATEWAY, tables.HTTPROUTE
        )

    async def get_route(self, request: Request) -> Response:
        p = request.path_params
        return self._one(
            request, self.state.http_route(p["namespace"], p["name"]), tables.HTTPROUTE
        )

    async def patch_route(self, request: Request) -> Response:
        p = request.path_params
        current = self.state.http_route(p["namespace"], p["name"])
        wanted, _ = await _patched(request, current)
        return self._write_route(request, current, wanted)

    async def put_route(self, request: Request) -> Response:
        p = request.path_params
        current = self.state.http_route(p["namespace"], p["name"])
        return self._write_route(request, current, await _replacement(request, "an HTTPRoute"))

    def _write_route(self, request: Request, current: Obj, wanted: Obj) -> Response:
        namespace, name = current["metadata"]["namespace"], current["metadata"]["name"]
        check_resource_version(wanted, current, f"httproutes.{conv.GATEWAY_GROUP}")
        sv = self.state.service(namespace, name, "httproutes", conv.GATEWAY_GROUP)
        spec: Obj = wanted["spec"] if isinstance(wanted.get("spec"), dict) else {}
        for key in sorted(set(spec) | set(current["spec"])):
            if key != "rules" and spec.get(key) != current["spec"].get(key):
                raise invalid(f"HTTPRoute.{conv.GATEWAY_GROUP}", name, f"spec.{key}",
                              spec.get(key), "the simulator cannot change this field")  # fmt: skip
        action = route_action(wanted, sv)
        if _dry_run(request):
            return JSONResponse(wanted)
        if action is not None:
            self._apply(Target(namespace=namespace, service=name), [action])
        return JSONResponse(self.state.http_route(namespace, name))


def kube_routes(get_sim: Callable[[], Simulator]) -> list[BaseRoute]:
    """The Kubernetes API routes over the simulator `get_sim()` returns. Unknown paths are not
    handled here: mount `fallback_route()` after every other route of the app."""
    api = KubeApi(KubeState(get_sim))
    ns = "/namespaces/{namespace}"
    apps = "/apis/apps/v1"
    gw = f"/apis/{GATEWAY}"
    return [
        resource("/version", get=api.version),
        resource("/version/", get=api.version),  # the official client asks with the slash
        resource("/api", get=api.api),
        resource("/api/v1", get=api.resources),
        resource("/apis", get=api.apis),
        resource("/apis/{group}", get=api.group),
        resource("/apis/{group}/{version}", get=api.resources),
        # apps/v1
        resource(f"{apps}/deployments", get=api.list_deployments),
        resource(f"{apps}{ns}/deployments", get=api.list_deployments),
        resource(
            f"{apps}{ns}/deployments/{{name}}",
            get=api.get_deployment,
            patch=api.patch_deployment,
            put=api.put_deployment,
        ),
        resource(
            f"{apps}{ns}/deployments/{{name}}/scale",
            get=api.get_scale,
            patch=api.patch_scale,
            put=api.put_scale,
        ),
        resource(f"{apps}/replicasets", get=api.list_replica_sets),
        resource(f"{apps}{ns}/replicasets", get=api.list_replica_sets),
        resource(f"{apps}{ns}/replicasets/{{name}}", get=api.get_replica_set),
        # v1
        resource("/api/v1/pods", get=api.list_pods),
        resource(f"/api/v1{ns}/pods", get=api.list_pods),
        resource(f"/api/v1{ns}/pods/{{name}}", get=api.get_pod, delete=api.delete_pod),
        resource("/api/v1/events", get=api.list_events),
        resource(f"/api/v1{ns}/events", get=api.list_events),
        resource(f"/api/v1{ns}/events/{{name}}", get=api.get_event),
        resource("/api/v1/nodes", get=api.list_nodes),
        resource("/api/v1/nodes/{name}", get=api.get_node),
        resource("/api/v1/namespaces", get=api.list_namespaces),
        resource("/api/v1/namespaces/{name}", get=api.get_namespace),
        # gateway.networking.k8s.io/v1
        resource(f"{gw}/httproutes", get=api.list_routes),
        resource(f"{gw}{ns}/httproutes", get=api.list_routes),
        resource(
            f"{gw}{ns}/httproutes/{{name}}",
            get=api.get_route,
            patch=api.patch_route,
            put=api.put_route,
        ),
    ]
