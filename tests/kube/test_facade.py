"""The Kubernetes facade over HTTP: object shapes the official client accepts, Tables for
kubectl, resourceVersions, writes that change the simulation, and Status errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from starlette.testclient import TestClient

from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario
from quarterdeck.sim.wire.server import build_app

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
MERGE = {"Content-Type": "application/merge-patch+json"}
DEPLOY = "/apis/apps/v1/namespaces/ml/deployments/ranker"
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/ml/httproutes/scorer"


@pytest.fixture
def api(sim: Simulator) -> Iterator[TestClient]:
    with TestClient(build_app(sim, speed=0)) as client:
        yield client


def _status(response: Any, code: int, reason: str) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == code
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert (body["code"], body["reason"]) == (code, reason)
    assert body["message"]
    return dict(body)


# -- shapes -----------------------------------------------------------------------------------

MODELS = [
    ("/apis/apps/v1/deployments", "V1DeploymentList"),
    ("/apis/apps/v1/namespaces/ml/replicasets", "V1ReplicaSetList"),
    ("/api/v1/pods", "V1PodList"),
    ("/api/v1/events", "CoreV1EventList"),
    ("/api/v1/nodes", "V1NodeList"),
    ("/api/v1/namespaces", "V1NamespaceList"),
    (f"{DEPLOY}/scale", "V1Scale"),
    ("/version", "VersionInfo"),
    ("/api", "V1APIVersions"),
    ("/apis", "V1APIGroupList"),
    ("/apis/apps/v1", "V1APIResourceList"),
    ("/api/v1", "V1APIResourceList"),
]


@pytest.mark.parametrize(("path", "model"), MODELS, ids=[m for _, m in MODELS])
def test_objects_validate_against_the_official_client_models(
    api: TestClient, sim: Simulator, path: str, model: str
) -> None:
    sim.advance(61)  # deploys, a canary and an event_message have happened
    body = api.get(path).json()
    parsed = getattr(k8s, model).from_dict(body)  # pydantic v2, strict ints
    assert parsed is not None
    if "items" in body:
        assert body["items"]
        assert all(item["metadata"]["resourceVersion"] for item in body["items"])


def test_discovery_lists_the_scale_subresource_and_gateway_api(api: TestClient) -> None:
    apps = {r["name"]: r for r in api.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments/scale"]["group"] == "autoscaling"
    assert apps["deployments/scale"]["version"] == "v1"
    assert "patch" in apps["deployments"]["verbs"]
    groups = [g["name"] for g in api.get("/apis").json()["groups"]]
    assert "gateway.networking.k8s.io" in groups
    routes = api.get("/apis/gateway.networking.k8s.io/v1").json()["resources"]
    assert routes[0]["kind"] == "HTTPRoute"


def test_deployment_carries_revision_annotation_and_replica_sets_point_back(
    api: TestClient, sim: Simulator
) -> None:
    sim.advance(61)
    deployment = api.get(DEPLOY).json()
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    sets = api.get(
        "/apis/apps/v1/namespaces/ml/replicasets",
        params={"labelSelector": "app.kubernetes.io/name=ranker"},
    ).json()["items"]
    assert [s["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for s in sets] == [
        "1",
        "2",
    ]
    for replica_set in sets:
        owner = replica_set["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"]) == ("Deployment", deployment["metadata"]["uid"])


def test_pods_have_node_phase_and_ready_condition(api: TestClient, sim: Simulator) -> None:
    pods = api.get("/api/v1/namespaces/ml/pods").json()["items"]
    assert len(pods) == len(sim.pods("ml"))
    for pod in pods:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"]
        assert (pod["status"]["phase"], ready) == ("Running", "True")
        assert pod["spec"]["nodeName"]


def test_events_filter_by_involved_object(api: TestClient, sim: Simulator) -> None:
    sim.advance(61)
    events = api.get(
        "/api/v1/namespaces/ml/events",
        params={"fieldSelector": "involvedObject.name=ranker,involvedObject.kind=Deployment"},
    ).json()["items"]
    assert events
    assert {e["involvedObject"]["name"] for e in events} == {"ranker"}
    assert any(e["message"].startswith("ignore previous") for e in events)


def test_tables_give_kubectl_its_columns(api: TestClient, sim: Simulator) -> None:
    table = api.get("/apis/apps/v1/deployments", headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table"
    shown = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert shown == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert table["rows"][0]["cells"][:4] == ["ranker", "3/3", 3, 3]
    assert table["rows"][0]["object"]["metadata"]["namespace"] == "ml"


# -- writes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/merge-patch+json", {"spec": {"replicas": 5}}),
        ("application/strategic-merge-patch+json", {"spec": {"replicas": 5}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/spec/replicas", "value": 5}]),
    ],
    ids=["merge", "strategic", "json-patch"],
)
def test_patching_replicas_scales_the_simulation(
    api: TestClient, sim: Simulator, content_type: str, body: Any
) -> None:
    response = api.patch(DEPLOY, json=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert response.json()["spec"]["replicas"] == 5
    assert sim.service("ml", "ranker").spec_replicas == 5


def test_scale_subresource_put_and_dry_run(api: TestClient, sim: Simulator) -> None:
    scale = api.get(f"{DEPLOY}/scale").json()
    scale["spec"]["replicas"] = 4
    dry = api.put(f"{DEPLOY}/scale", json=scale, params={"dryRun": "All"})
    assert dry.status_code == 200
    assert sim.service("ml", "ranker").spec_replicas == 3
    assert api.put(f"{DEPLOY}/scale", json=scale).json()["spec"]["replicas"] == 4
    assert sim.service("ml", "ranker").spec_replicas == 4


def test_rollout_undo_style_template_patch_rolls_back(api: TestClient, sim: Simulator) -> None:
    sim.advance(61)
    old = next(
        s
        for s in api.get("/apis/apps/v1/namespaces/ml/replicasets").json()["items"]
        if s["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    )
    template = old["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    response = api.patch(
        DEPLOY,
        json=[{"op": "replace", "path": "/spec/template", "value": template}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert sim.service("ml", "ranker").version == "v1"
    assert response.json()["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_route_weights_patch_changes_the_split(api: TestClient, sim: Simulator) -> None:
    sim.advance(45)
    route = api.get(ROUTE).json()
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert {r["name"]: r["weight"] for r in refs} == {"scorer-v1": 80, "scorer-v2": 20}
    for ref in refs:
        ref["weight"] = 50
    response = api.patch(ROUTE, json={"spec": {"rules": route["spec"]["rules"]}}, headers=MERGE)
    assert response.status_code == 200, response.text
    assert sim.service("ml", "scorer").route_weights == {"v1": 50, "v2": 50}


def test_resource_version_changes_only_with_the_object(api: TestClient) -> None:
    first = api.get(DEPLOY).json()["metadata"]["resourceVersion"]
    assert api.get(DEPLOY).json()["metadata"]["resourceVersion"] == first
    api.patch(DEPLOY, json={"spec": {"replicas": 4}}, headers=MERGE)
    assert api.get(DEPLOY).json()["metadata"]["resourceVersion"] != first


# -- errors -----------------------------------------------------------------------------------


def test_stale_resource_version_is_a_conflict(api: TestClient, sim: Simulator) -> None:
    stale = api.get(DEPLOY).json()
    api.patch(DEPLOY, json={"spec": {"replicas": 4}}, headers=MERGE)
    stale["spec"]["replicas"] = 6
    _status(api.put(DEPLOY, json=stale), 409, "Conflict")
    patch = {"metadata": {"resourceVersion": stale["metadata"]["resourceVersion"]}}
    _status(
        api.patch(DEPLOY, json={**patch, "spec": {"replicas": 6}}, headers=MERGE), 409, "Conflict"
    )
    assert sim.service("ml", "ranker").spec_replicas == 4


@pytest.mark.parametrize(
    "path",
    ["/apis/apps/v1/namespaces/ml/deployments/nope", "/api/v1/namespaces/ml/pods/nope", "/nope"],
)
def test_unknown_things_are_not_found(api: TestClient, path: str) -> None:
    _status(api.get(path), 404, "NotFound")


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b"{not json", MERGE, (400, "BadRequest")),
        (b"", MERGE, (400, "BadRequest")),
        (
            b"spec: {}",
            {"Content-Type": "application/apply-patch+yaml"},
            (415, "UnsupportedMediaType"),
        ),
        (b'{"spec": {"replicas": -1}}', MERGE, (422, "Invalid")),
        (b'{"spec": {"replicas": "three"}}', MERGE, (422, "Invalid")),
        (b'{"spec": {"paused": true}}', MERGE, (422, "Invalid")),
        (
            b'[{"op": "replace", "path": "/spec/template/spec/containers/0/image",'
            b' "value": "quarterdeck.local/ml/ranker:v9"}]',
            {"Content-Type": "application/json-patch+json"},
            (422, "Invalid"),
        ),
        (
            b'[{"op": "remove", "path": "/nope"}]',
            {"Content-Type": "application/json-patch+json"},
            (400, "BadRequest"),
        ),
    ],
    ids=[
        "bad-json",
        "empty",
        "apply-yaml",
        "negative-replicas",
        "string-replicas",
        "unsupported-field",
        "unknown-version",
        "bad-json-patch",
    ],
)
def test_bad_writes_are_status_errors_and_change_nothing(
    api: TestClient,
    sim: Simulator,
    body: bytes,
    headers: dict[str, str],
    expected: tuple[int, str],
) -> None:
    _status(api.patch(DEPLOY, content=body, headers=headers), *expected)
    assert sim.service("ml", "ranker").spec_replicas == 3
    assert sim.service("ml", "ranker").version == "v1"


def test_invalid_route_weights_are_rejected(api: TestClient, sim: Simulator) -> None:
    sim.advance(45)
    rules = api.get(ROUTE).json()["spec"]["rules"]
    rules[0]["backendRefs"][0]["weight"] = 70  # 70 + 20 != 100
    body = _status(api.patch(ROUTE, json={"spec": {"rules": rules}}, headers=MERGE), 422, "Invalid")
    assert "100" in body["message"]
    rules[0]["backendRefs"][0]["name"] = "scorer-v7"
    rules[0]["backendRefs"][0]["weight"] = 80
    body = _status(api.patch(ROUTE, json={"spec": {"rules": rules}}, headers=MERGE), 422, "Invalid")
    assert "v7" in body["message"]
    assert sim.service("ml", "scorer").route_weights == {"v1": 80, "v2": 20}


def test_bad_selector_and_method(api: TestClient) -> None:
    _status(api.get("/api/v1/pods", params={"labelSelector": "a in (b"}), 400, "BadRequest")
    _status(api.post("/apis/apps/v1/deployments", json={}), 405, "MethodNotAllowed")


def test_deleting_a_pod_restarts_it_only_in_the_simulators_order(
    api: TestClient, sim: Simulator
) -> None:
    pods = [p.name for p in sim.pods("ml", "ranker")]
    body = _status(api.delete(f"/api/v1/namespaces/ml/pods/{pods[1]}"), 422, "Invalid")
    assert pods[0] in body["message"]
    assert api.delete(f"/api/v1/namespaces/ml/pods/{pods[0]}").status_code == 200
    remaining = [p.name for p in sim.pods("ml", "ranker")]
    assert pods[0] not in remaining
    assert len(remaining) == 3


def test_watch_streams_changes_as_json_lines(api: TestClient, sim: Simulator) -> None:
    listed = api.get("/apis/apps/v1/namespaces/ml/deployments").json()
    api.patch(DEPLOY, json={"spec": {"replicas": 5}}, headers=MERGE)
    params = {
        "watch": "true",
        "resourceVersion": listed["metadata"]["resourceVersion"],
        "timeoutSeconds": "0",
    }
    with api.stream("GET", "/apis/apps/v1/namespaces/ml/deployments", params=params) as stream:
        events = [json.loads(line) for line in stream.iter_lines() if line]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "ranker")
    ]
    assert events[0]["object"]["spec"]["replicas"] == 5


def test_pending_pods_and_failed_nodes_still_validate(api: TestClient, sim: Simulator) -> None:
    api.patch(DEPLOY, json={"spec": {"replicas": 80}}, headers=MERGE)  # 64 cpus for 80 pods
    pods = api.get("/api/v1/namespaces/ml/pods").json()
    assert k8s.V1PodList.from_dict(pods) is not None
    pending = [p for p in pods["items"] if p["status"]["phase"] == "Pending"]
    assert len(pending) == len([p for p in sim.pods("ml") if p.phase == "Pending"]) > 0
    scheduled = {c["type"]: c for c in pending[0]["status"]["conditions"]}["PodScheduled"]
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    table = api.get("/api/v1/namespaces/ml/pods", headers={"Accept": TABLE}).json()
    assert "Pending" in {row["cells"][2] for row in table["rows"]}


NODE_LOSS = """
version: 1
name: node-loss
seed: 1
duration: 10m
cluster:
  node_pools:
    - {name: cpu, count: 2, cpu: 4, memory_gib: 16}
services:
  - name: api
    namespace: web
    replicas: 2
    min_replicas: 1
    max_replicas: 4
    pod: {cpu: 2, memory_gib: 2, startup: 5s}
    capacity_rps: 10
    base_latency_ms: 10
    slo: {p95_latency_ms: 100, error_ratio: 0.01}
    versions: [{name: v1}]
    current_version: v1
    load: {base_rps: 5}
events:
  - {at: 10s, type: node_failure, pool: cpu, count: 1, duration: 2m}
"""


def test_a_failed_node_reads_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "node-loss.yaml"
    path.write_text(NODE_LOSS, encoding="utf-8")
    sim = Simulator(load_scenario(path))
    sim.advance(20)
    with TestClient(build_app(sim, speed=0)) as api:
        nodes = api.get("/api/v1/nodes").json()
        assert k8s.V1NodeList.from_dict(nodes) is not None
        table = api.get("/api/v1/nodes", headers={"Accept": TABLE}).json()
        status = {row["cells"][0]: row["cells"][1] for row in table["rows"]}
        assert sorted(status.values()) == ["NotReady", "Ready"]
        node_events = api.get("/api/v1/namespaces/default/events").json()["items"]
        assert {e["involvedObject"]["kind"] for e in node_events} == {"Node"}
