"""The simulator's Prometheus HTTP API: Prometheus's response shapes and error envelope."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from quarterdeck.sim.wire.prometheus import format_value, prometheus_routes

from .conftest import FixedSim


@pytest.fixture
def client(fixed_sim: FixedSim) -> TestClient:
    return TestClient(Starlette(routes=prometheus_routes(lambda: fixed_sim)))


def test_instant_vector_shape(client, fixed_sim):
    r = client.get("/api/v1/query", params={"query": 'replicas{job="web"}'})
    assert r.status_code == 200
    assert r.json() == {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {
                    "metric": {"__name__": "replicas", "job": "web"},
                    "value": [fixed_sim.epoch + 120.0, "5"],
                }
            ],
        },
    }


def test_time_parameter_maps_unix_to_sim_seconds(client, fixed_sim):
    for when in (str(fixed_sim.epoch + 60), "2023-11-14T22:14:20Z"):  # epoch + 60 both
        r = client.get("/api/v1/query", params={"query": "queue_depth", "time": when})
        assert r.json()["data"]["result"][0]["value"] == [fixed_sim.epoch + 60, "7"]


def test_post_form_body(client):
    r = client.post(
        "/api/v1/query",
        content="query=sum(replicas)",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["data"]["result"][0]["value"][1] == "8"


def test_scalar_shape(client, fixed_sim):
    r = client.get("/api/v1/query", params={"query": "1 + 1"})
    assert r.json()["data"] == {"resultType": "scalar", "result": [fixed_sim.epoch + 120, "2"]}


def test_string_shape(client, fixed_sim):
    r = client.get("/api/v1/query", params={"query": '"hello"'})
    assert r.json()["data"] == {"resultType": "string", "result": [fixed_sim.epoch + 120, "hello"]}


def test_range_query_matrix_with_duration_step(client, fixed_sim):
    e = fixed_sim.epoch
    r = client.get(
        "/api/v1/query_range",
        params={"query": 'replicas{job="api"}', "start": e + 60, "end": e + 120, "step": "30s"},
    )
    body = r.json()
    assert body["data"]["resultType"] == "matrix"
    assert body["data"]["result"] == [
        {
            "metric": {"__name__": "replicas", "job": "api"},
            "values": [[e + 60, "3"], [e + 90, "3"], [e + 120, "3"]],
        }
    ]


def test_too_many_points_is_bad_data(client, fixed_sim):
    e = fixed_sim.epoch
    r = client.get(
        "/api/v1/query_range",
        params={"query": "replicas", "start": e, "end": e + 20_000, "step": "1"},
    )
    assert r.status_code == 400
    assert r.json()["errorType"] == "bad_data"
    assert "11,000" in r.json()["error"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"query": "sum("}, "parse error"),
        ({"query": 'count_values("n", replicas)'}, "not supported"),
        ({}, "query"),
        ({"query": "replicas", "time": "yesterday"}, 'invalid parameter "time"'),
    ],
    ids=["parse", "unsupported", "missing-query", "bad-time"],
)
def test_errors_use_prometheus_envelope(client, params, fragment):
    r = client.get("/api/v1/query", params=params)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error"
    assert body["errorType"] == "bad_data"
    assert fragment in body["error"]


def test_execution_error_is_422(client):
    r = client.get("/api/v1/query", params={"query": "http_requests_total / on(job) replicas"})
    assert r.status_code == 422
    assert r.json()["errorType"] == "execution"


def test_series_labels_and_values(client, fixed_sim):
    r = client.get("/api/v1/series", params={"match[]": ['replicas{job="api"}', "queue_depth"]})
    assert r.json()["data"] == [
        {"__name__": "queue_depth", "job": "api"},
        {"__name__": "replicas", "job": "api"},
    ]
    assert client.get("/api/v1/series").json()["errorType"] == "bad_data"
    late = client.get(
        "/api/v1/series", params={"match[]": "late_total", "end": fixed_sim.epoch + 50}
    )
    assert late.json()["data"] == []  # late_total's first sample is at t = 100
    labels = client.get("/api/v1/labels").json()["data"]
    assert labels == ["__name__", "code", "job", "le", "start", "team"]
    values = client.get("/api/v1/label/job/values").json()["data"]
    assert values == ["api", "web"]
    names = client.get("/api/v1/label/__name__/values").json()["data"]
    assert "latency_seconds_bucket" in names


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (2.5e-7, "0.00000025"),
    ],
)
def test_value_formatting_matches_go(value, text):
    assert format_value(value) == text


def test_an_internal_failure_still_answers_in_the_envelope(fixed_sim):
    def broken():
        raise RuntimeError("simulator unavailable")

    client = TestClient(Starlette(routes=prometheus_routes(broken)))
    r = client.get("/api/v1/query", params={"query": "up"})
    assert r.status_code == 500
    assert r.json() == {
        "status": "error",
        "errorType": "internal",
        "error": "RuntimeError: simulator unavailable",
    }
