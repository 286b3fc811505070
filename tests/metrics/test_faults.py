"""A misbehaving Prometheus: down, slow, 5xx/429, stale, `status: error`, garbage.

The adapter must answer with the right error after bounded retries, and the read tools with
ERROR or NO_DATA — never with something that reads as a healthy signal.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from quarterdeck.core.clock import ManualClock
from quarterdeck.core.models import ToolStatus
from quarterdeck.tools.metrics import (
    MetricsConfig,
    MetricsUnavailable,
    QueryError,
    make_metrics_source,
)
from quarterdeck.tools.reads import ReadContext, register_read_tools
from quarterdeck.tools.registry import ToolRegistry
from quarterdeck.tools.signals import load_catalog
from tests.support import free_port

from .conftest import serve_app

NOW = 1_800_000_000.0  # the adapter's clock (Unix seconds) and the fake server's "now"


class FaultyPrometheus:
    """A Prometheus API that answers every query with one canned sample, or with a fault."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0
        self.fail_first = 0  # with mode "flaky": this many 429s before answering
        self.delay = 0.0
        self.authorization: str | None = None

    async def handle(self, request: Request) -> Response:
        self.calls += 1
        self.authorization = request.headers.get("authorization")
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode in ("500", "503", "429"):
            return PlainTextResponse("overloaded", status_code=int(self.mode))
        if self.mode == "flaky" and self.calls <= self.fail_first:
            return PlainTextResponse("slow down", status_code=429)
        if self.mode == "status_error":
            body = {"status": "error", "errorType": "execution", "error": "query timed out"}
            return JSONResponse(body)
        if self.mode == "bad_data":
            body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
            return JSONResponse(body, status_code=400)
        if self.mode == "garbage":
            return PlainTextResponse("<html>proxy error</html>")
        ts = NOW - 600 if self.mode == "stale" else NOW
        result = [{"metric": {}, "value": [ts, "0.004"]}]
        if request.url.path.endswith("query_range"):
            result = [{"metric": {}, "values": [[ts - 60, "0.004"], [ts, "0.004"]]}]
        return JSONResponse(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )


@pytest.fixture(scope="module")
def fake():
    f = FaultyPrometheus()
    app = Starlette(
        routes=[
            Route("/api/v1/query", f.handle, methods=["GET", "POST"]),
            Route("/api/v1/query_range", f.handle, methods=["GET", "POST"]),
        ]
    )
    with serve_app(app) as url:
        f.url = url
        yield f


@pytest.fixture
def server(fake):
    fake.mode, fake.calls, fake.fail_first, fake.delay = "ok", 0, 0, 0.0
    return fake


def source_for(url: str, **overrides):
    cfg = {"kind": "prometheus", "url": url, "retries": 2, "backoff_s": 0.01, "timeout_s": 2.0}
    cfg.update(overrides)
    return make_metrics_source(MetricsConfig(**cfg), clock=ManualClock(NOW))


def tools_for(source) -> ToolRegistry:
    registry = ToolRegistry()
    register_read_tools(registry, ReadContext(metrics=source, catalog=load_catalog()))
    return registry


HEALTH = {"namespace": "ml", "service": "ranker"}
SIGNAL = {"namespace": "ml", "service": "ranker", "signal": "error_ratio"}


def test_healthy_server_answers(server):
    source = source_for(server.url)
    (s,) = source.query("anything")
    assert (s.value, s.timestamp) == (0.004, NOW)
    result = tools_for(source).call("get_signal", SIGNAL)
    assert result.status is ToolStatus.SUCCESS
    assert result.data["status"] == "ok"


def test_down_is_unavailable_after_bounded_retries():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    source = source_for(url)
    t0 = time.monotonic()
    with pytest.raises(MetricsUnavailable, match="unreachable"):
        source.query("up")
    assert time.monotonic() - t0 < 2.0
    assert source.is_online() is False
    result = tools_for(source).call("service_health", HEALTH)
    assert result.status is ToolStatus.ERROR
    assert "unreachable" in (result.error or "")


def test_slow_read_times_out_once_without_retrying(server):
    server.mode, server.delay = "slow", 1.5
    source = source_for(server.url, timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(MetricsUnavailable, match="did not answer"):
        source.query("up")
    assert time.monotonic() - t0 < 1.2
    assert server.calls == 1
    assert tools_for(source).call("get_signal", SIGNAL).status is ToolStatus.ERROR


@pytest.mark.parametrize("code", ["500", "503", "429"])
def test_5xx_and_429_are_retried_then_error(server, code):
    server.mode = code
    source = source_for(server.url, retries=2)
    with pytest.raises(MetricsUnavailable, match=f"HTTP {code}"):
        source.query("up")
    assert server.calls == 3  # the first try and two retries, no more
    server.calls = 0
    result = tools_for(source).call("service_health", HEALTH)
    assert result.status is ToolStatus.ERROR
    assert result.data is None


def test_a_429_that_clears_is_retried_to_success(server):
    server.mode, server.fail_first = "flaky", 2
    (s,) = source_for(server.url, retries=2).query("up")
    assert s.value == 0.004
    assert server.calls == 3


def test_zero_retries_means_one_request(server):
    server.mode = "500"
    with pytest.raises(MetricsUnavailable):
        source_for(server.url, retries=0).query("up")
    assert server.calls == 1


def test_stale_samples_are_no_data(server):
    server.mode = "stale"
    source = source_for(server.url, max_age_s=120)
    assert source.query("up") == []
    tools = tools_for(source)
    signal = tools.call("get_signal", SIGNAL)
    assert signal.status is ToolStatus.NO_DATA
    assert signal.data["value"] is None
    health = tools.call("service_health", HEALTH)
    assert health.status is ToolStatus.NO_DATA
    assert health.data[0]["health"] == "no_data"
    history = tools.call("get_signal", {**SIGNAL, "over": "5m"})
    assert history.status is ToolStatus.NO_DATA
    assert history.data["no_data_reason"] == "newest sample is stale"


def test_fresh_enough_is_data(server):
    server.mode = "stale"  # 600 s old
    assert len(source_for(server.url, max_age_s=900).query("up")) == 1


@pytest.mark.parametrize(
    ("mode", "error_type"), [("status_error", "execution"), ("bad_data", "bad_data")]
)
def test_status_error_is_a_query_error(server, mode, error_type):
    server.mode = mode
    source = source_for(server.url)
    with pytest.raises(QueryError) as err:
        source.query("up")
    assert err.value.error_type == error_type
    assert server.calls == 1  # a refused query is not retried
    result = tools_for(source).call("query_metrics", {"query": "up"})
    assert result.status is ToolStatus.ERROR
    assert error_type in (result.error or "")


def test_non_json_answer_is_an_error(server):
    server.mode = "garbage"
    with pytest.raises(MetricsUnavailable, match="not a Prometheus API answer"):
        source_for(server.url).query("up")


def test_bearer_token_is_sent(server):
    source_for(server.url, bearer_token="t0ken").query("up")
    assert server.authorization == "Bearer t0ken"
