"""Quarterdeck's own Prometheus metrics, served at `/metrics`.

Two sources, each counted once:
- HTTP requests, by route template, method and status, timed (`RequestMetrics`, pure ASGI so
  server-sent event streams pass through untouched);
- what the system decided and did, read from the audit log — the one record of verdicts,
  approvals, executions and reasoner calls, whoever wrote them (the REST API, the loop, an agent
  in another process). `AuditTail` reads the entries appended since the last scrape on each
  scrape, so the counters cost nothing between scrapes.

Each app has its own `CollectorRegistry`, so several apps in one process (tests) do not clash.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quarterdeck.audit import AuditEntry, AuditLog

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics", "AuditTail", "RequestMetrics"]


class ApiMetrics:
    """The metric families. One instance per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "qd_api_requests", "HTTP requests served", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "qd_api_request_duration_seconds",
            "HTTP request latency (until the response starts, for streams)",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.verdicts = Counter(
            "qd_guard_verdicts", "Guard verdicts, by decision", ["decision"], registry=r
        )
        self.decisions = Counter(
            "qd_approval_decisions", "Human approve/reject decisions", ["decision"], registry=r
        )
        self.actions = Counter(
            "qd_actions", "Actions the executor applied or failed", ["kind", "status"], registry=r
        )
        self.reasoner_latency = Histogram(
            "qd_reasoner_latency_seconds",
            "Reasoning backend call latency",
            ["backend"],
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.reasoner_tokens = Counter(
            "qd_reasoner_tokens",
            "Tokens used by reasoning backends",
            ["backend", "type"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class AuditTail:
    """Feeds `ApiMetrics` from audit entries appended after `start_seq`."""

    def __init__(
        self, audit: AuditLog, metrics: ApiMetrics, *, start_seq: int | None = None
    ) -> None:
        self._audit = audit
        self._m = metrics
        self._seq = audit.head().seq if start_seq is None else start_seq

    def catch_up(self, batch: int = 5000) -> int:
        """Count the new entries; returns how many were read."""
        read = 0
        while True:
            # Entries are numbered 1, 2, 3 … without gaps, so `offset = seq` skips the seen ones.
            entries = self._audit.query(limit=batch, offset=self._seq)
            if not entries:
                return read
            for e in entries:
                self.observe(e)
            self._seq = entries[-1].seq
            read += len(entries)
            if len(entries) < batch:
                return read

    def observe(self, e: AuditEntry) -> None:
        p = e.payload
        if e.kind == "verdict":
            self._m.verdicts.labels(decision=str(p.get("decision", "unknown"))).inc()
        elif e.kind == "approval":
            self._m.decisions.labels(decision=str(p.get("decision", "unknown"))).inc()
        elif e.kind == "execution":
            action = p.get("action")
            kind = action.get("kind") if isinstance(action, dict) else None
            self._m.actions.labels(kind=str(kind or "unknown"), status=str(p.get("status"))).inc()
        elif e.kind == "reasoner_call":
            backend = str(p.get("backend") or "unknown")
            seconds = _number(p.get("latency_s"))
            if seconds is None and _number(p.get("latency_ms")) is not None:
                seconds = float(p["latency_ms"]) / 1000.0
            if seconds is not None:
                self._m.reasoner_latency.labels(backend=backend).observe(seconds)
            for kind in ("prompt", "completion"):
                n = _number(p.get(f"{kind}_tokens"))
                if n is not None:
                    self._m.reasoner_tokens.labels(backend=backend, type=kind).inc(n)


def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, skip: Iterable[str] = ()) -> None:
        self._app = app
        self._m = metrics
        self._skip = set(skip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._skip:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response started is a 500 to the client

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self._m.latency.labels(route=_route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            self._m.requests.labels(
                route=_route(scope), method=scope["method"], status=str(status)
            ).inc()


def _route(scope: Scope) -> str:
    """The matched route's template (`/v1/proposals/{proposal_id}`), never the raw path, so
    label cardinality stays bounded."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
