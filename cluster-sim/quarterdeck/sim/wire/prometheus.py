"""The Prometheus HTTP API (query, query_range, series, labels, label values) over the simulator.

Responses have Prometheus's exact shapes, so `prometheus-api-client` (or Grafana) can't tell the
difference. Times on the wire are Unix seconds; `sim.epoch` maps them to sim seconds, and a query
without `time` is evaluated at the simulator's now. Errors are Prometheus's error envelope:
`{"status": "error", "errorType": "bad_data", "error": "..."}` with HTTP 400 (422 for errors
during evaluation).

Handlers evaluate inline on the event loop, not in a thread pool: a simulator advanced by a task
on the same loop is never read half-way through a tick.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

import numpy as np
import promql_parser as pp
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from quarterdeck.sim.wire.promql import (
    MAX_POINTS,
    PromQLError,
    QueryResult,
    SeriesSource,
    instant_query,
    range_query,
    series_matching,
)

log = logging.getLogger(__name__)


class PromSim(Protocol):
    """What the facade reads from a `quarterdeck.sim.engine.Simulator`."""

    @property
    def series(self) -> SeriesSource: ...
    @property
    def epoch(self) -> float: ...
    @property
    def now(self) -> float: ...


class _Params:
    """Query parameters from the URL and, for POST, a form-encoded body (like Prometheus)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    @classmethod
    async def of(cls, request: Request) -> _Params:
        pairs = list(request.query_params.multi_items())
        if request.method == "POST":
            body = (await request.body()).decode("utf-8", errors="replace")
            pairs += parse_qsl(body, keep_blank_values=True)
        return cls(pairs)

    def get(self, name: str) -> str | None:
        for k, v in reversed(self._pairs):
            if k == name:
                return v
        return None

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self._pairs if k == name]


def parse_time(name: str, text: str) -> float:
    """Unix seconds from a float or an RFC 3339 timestamp, as Prometheus accepts."""
    try:
        value = float(text)
        if math.isfinite(value):
            return value
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise PromQLError(
            f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp'
        ) from None


def parse_step(name: str, text: str) -> float:
    """Seconds from a float or a Prometheus duration ("15s", "1m30s")."""
    try:
        value = float(text)
        if math.isfinite(value):
            return value
    except ValueError:
        pass
    try:
        return float(pp.parse_duration(text).total_seconds())
    except ValueError:
        raise PromQLError(
            f'invalid parameter "{name}": cannot parse "{text}" to a valid duration'
        ) from None


def format_value(v: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64), which Prometheus uses for sample values."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, trim="-")


def _ts(epoch: float, t: float) -> float:
    return round(epoch + t, 3)  # Prometheus timestamps have millisecond resolution


def result_json(result: QueryResult, epoch: float) -> dict[str, Any]:
    rtype = result.result_type
    if rtype == "string":
        at = _ts(epoch, result.series[0].t[0])
        return {"resultType": "string", "result": [at, result.string or ""]}
    if rtype == "scalar":
        s = result.series[0]
        return {"resultType": "scalar", "result": [_ts(epoch, s.t[0]), format_value(s.v[0])]}
    if rtype == "vector":
        return {
            "resultType": "vector",
            "result": [
                {"metric": s.labels, "value": [_ts(epoch, s.t[0]), format_value(s.v[0])]}
                for s in result.series
            ],
        }
    return {
        "resultType": "matrix",
        "result": [
            {
                "metric": s.labels,
                "values": [
                    [_ts(epoch, t), format_value(v)]
                    for t, v in zip(s.t.tolist(), s.v.tolist(), strict=True)
                ],
            }
            for s in result.series
        ],
    }


def _ok(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def error_response(err: PromQLError) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "errorType": err.error_type, "error": err.message},
        status_code=err.http_status,
    )


def _required(params: _Params, name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        if name == "query":
            raise PromQLError(
                'invalid parameter "query": parse error: no expression found in input'
            )
        raise PromQLError(f'invalid parameter "{name}": missing')
    return value


def prometheus_routes(get_sim: Callable[[], PromSim]) -> list[Route]:
    """Routes for `/api/v1/{query,query_range,series,labels,label/<name>/values}`."""

    def handler(fn: Callable[[PromSim, _Params, Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                params = await _Params.of(request)
                return _ok(fn(get_sim(), params, request))
            except PromQLError as e:
                return error_response(e)
            except Exception as e:  # a bug here must still answer in Prometheus's envelope
                log.exception("Prometheus API handler failed")
                body = {
                    "status": "error",
                    "errorType": "internal",
                    "error": f"{type(e).__name__}: {e}",
                }
                return JSONResponse(body, status_code=500)

        return endpoint

    def query(sim: PromSim, params: _Params, _: Request) -> Any:
        text = _required(params, "query")
        when = params.get("time")
        at = sim.now if not when else parse_time("time", when) - sim.epoch
        return result_json(instant_query(sim.series, text, at, epoch=sim.epoch), sim.epoch)

    def query_range_(sim: PromSim, params: _Params, _: Request) -> Any:
        text = _required(params, "query")
        start = parse_time("start", _required(params, "start")) - sim.epoch
        end = parse_time("end", _required(params, "end")) - sim.epoch
        step = parse_step("step", _required(params, "step"))
        result = range_query(
            sim.series, text, start, end, step, epoch=sim.epoch, max_points=MAX_POINTS
        )
        return result_json(result, sim.epoch)

    def _bounds(sim: PromSim, params: _Params) -> tuple[float | None, float | None]:
        start, end = params.get("start"), params.get("end")
        return (
            parse_time("start", start) - sim.epoch if start else None,
            parse_time("end", end) - sim.epoch if end else None,
        )

    def _matching(sim: PromSim, params: _Params, *, required: bool) -> list[dict[str, str]]:
        matches = params.getlist("match[]")
        if not matches:
            if required:
                raise PromQLError("no match[] parameter provided")
            matches = ['{__name__=~".+"}']
        start, end = _bounds(sim, params)
        seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for m in matches:
            for labels in series_matching(sim.series, m, start=start, end=end):
                seen.setdefault(tuple(sorted(labels.items())), labels)
        return [seen[k] for k in sorted(seen)]

    def series(sim: PromSim, params: _Params, _: Request) -> Any:
        return _matching(sim, params, required=True)

    def labels(sim: PromSim, params: _Params, _: Request) -> Any:
        return sorted({k for s in _matching(sim, params, required=False) for k in s})

    def label_values(sim: PromSim, params: _Params, request: Request) -> Any:
        name = request.path_params["name"]
        found = _matching(sim, params, required=False)
        return sorted({s[name] for s in found if s.get(name)})

    get_post = ["GET", "POST"]
    return [
        Route("/api/v1/query", handler(query), methods=get_post),
        Route("/api/v1/query_range", handler(query_range_), methods=get_post),
        Route("/api/v1/series", handler(series), methods=get_post),
        Route("/api/v1/labels", handler(labels), methods=get_post),
        Route("/api/v1/label/{name}/values", handler(label_values), methods=["GET"]),
    ]
