"""The facade reads every request the same way whatever the resource: PATCH and PUT bodies to
Deployments, their scale subresource and HTTPRoutes fail alike (and change nothing), named reads
of anything missing are 404 Statuses that name it, and a namespaced list stays in its namespace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.wire.server import build_app

MERGE = {"Content-Type": "application/merge-patch+json"}
DEPLOY = "/apis/apps/v1/namespaces/ml/deployments/ranker"
WRITABLE = {
    "deployment": (DEPLOY, "a Deployment"),
    "scale": (f"{DEPLOY}/scale", "a Scale"),
    "httproute": (
        "/apis/gateway.networking.k8s.io/v1/namespaces/ml/httproutes/scorer",
        "an HTTPRoute",
    ),
}


@pytest.fixture
def api(sim: Simulator) -> Iterator[TestClient]:
    with TestClient(build_app(sim, speed=0)) as client:
        yield client


def _status(response: Any, code: int) -> dict[str, Any]:
    body = response.json()
    assert (response.status_code, body["kind"], body["code"]) == (code, "Status", code)
    return dict(body)


def _world(sim: Simulator) -> tuple[int, dict[str, int]]:
    return sim.service("ml", "ranker").spec_replicas, sim.service("ml", "scorer").route_weights


@pytest.mark.parametrize("resource", list(WRITABLE))
@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        pytest.param((b"", MERGE), (400, "empty"), id="empty"),
        pytest.param((b"{not json", MERGE), (400, "not valid JSON"), id="bad-json"),
        pytest.param(
            (b"spec: {}", {"Content-Type": "application/apply-patch+yaml"}),
            (415, "send JSON"),
            id="yaml",
        ),
        pytest.param((b"{}", {"Content-Type": "application/xml"}), (415, "unsupported"), id="xml"),
        pytest.param((b"[]", MERGE), (400, "must be a JSON object"), id="merge-of-a-list"),
    ],
)
def test_bad_patch_bodies_fail_alike_and_change_nothing(
    api: TestClient,
    sim: Simulator,
    resource: str,
    sent: tuple[bytes, dict[str, str]],
    expected: tuple[int, str],
) -> None:
    before = _world(sim)
    path, _ = WRITABLE[resource]
    (body, headers), (code, says) = sent, expected
    assert says in _status(api.patch(path, content=body, headers=headers), code)["message"]
    assert _world(sim) == before


@pytest.mark.parametrize("resource", list(WRITABLE))
def test_a_put_of_anything_but_an_object_is_refused_by_kind(
    api: TestClient, sim: Simulator, resource: str
) -> None:
    before = _world(sim)
    path, kind = WRITABLE[resource]
    message = _status(api.put(path, json=[1, 2]), 400)["message"]
    assert message == f"{kind} must be a JSON object"
    assert _world(sim) == before


def test_a_json_patch_to_the_scale_subresource_scales(api: TestClient, sim: Simulator) -> None:
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 5}]
    headers = {"Content-Type": "application/json-patch+json"}
    response = api.patch(f"{DEPLOY}/scale", json=patch, headers=headers)
    assert (response.status_code, response.json()["spec"]["replicas"]) == (200, 5)
    assert sim.service("ml", "ranker").spec_replicas == 5


@pytest.mark.parametrize(
    ("path", "kind", "group"),
    [
        ("/apis/apps/v1/namespaces/ml/replicasets/nope", "replicasets", "apps"),
        ("/api/v1/namespaces/ml/pods/nope", "pods", ""),
        ("/api/v1/namespaces/ml/events/nope", "events", ""),
        ("/api/v1/nodes/nope", "nodes", ""),
        ("/api/v1/namespaces/nope", "namespaces", ""),
    ],
    ids=["replicaset", "pod", "event", "node", "namespace"],
)
def test_a_missing_named_object_is_a_404_naming_it(
    api: TestClient, path: str, kind: str, group: str
) -> None:
    body = _status(api.get(path), 404)
    assert body["details"] == {"name": "nope", "group": group, "kind": kind}


@pytest.mark.parametrize(
    "collection",
    [
        "/apis/apps/v1/namespaces/{ns}/deployments",
        "/apis/apps/v1/namespaces/{ns}/replicasets",
        "/api/v1/namespaces/{ns}/pods",
        "/api/v1/namespaces/{ns}/events",
        "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes",
    ],
    ids=["deployments", "replicasets", "pods", "events", "httproutes"],
)
def test_a_namespaced_list_holds_only_that_namespace(
    api: TestClient, sim: Simulator, collection: str
) -> None:
    sim.advance(61)  # events have happened
    items = api.get(collection.format(ns="ml")).json()["items"]
    assert items
    assert {item["metadata"]["namespace"] for item in items} == {"ml"}
    assert api.get(collection.format(ns="elsewhere")).json()["items"] == []
