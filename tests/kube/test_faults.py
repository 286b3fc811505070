"""The kube adapter against a failing API server: refused, slow, 500, 429, garbage.

Transient failures are retried a bounded number of times with exponential backoff, then raised
as `ClusterUnavailable`; nothing is ever mistaken for a healthy empty list. A tiny local HTTP
server plays the broken API server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client as k8s

from quarterdeck.core.models import ScaleAction, Target
from quarterdeck.tools.cluster import ClusterError, ClusterUnavailable
from quarterdeck.tools.cluster.kube import KubeClusterClient

from .conftest import closed_port

EMPTY_LIST = {"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {}, "items": []}


@dataclass
class Fault:
    """What the fake API server does: `failures` bad answers of `mode`, then `then`."""

    mode: str
    failures: int = 1_000
    then: dict[str, object] = field(default_factory=lambda: dict(EMPTY_LIST))
    requests: int = 0


def _handler(fault: Fault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _answer(self) -> None:
            fault.requests += 1
            if fault.requests > fault.failures:
                self._send(200, json.dumps(fault.then).encode())
                return
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
            if fault.mode == "500":
                body = {**status, "message": "etcd is sad", "reason": "InternalError", "code": 500}
                self._send(500, json.dumps(body).encode())
            elif fault.mode == "429":
                body = {**status, "message": "slow down", "reason": "TooManyRequests", "code": 429}
                self._send(429, json.dumps(body).encode(), {"Retry-After": "0.03"})
            elif fault.mode == "slow":
                time.sleep(1.0)
                self._send(200, json.dumps(EMPTY_LIST).encode())
            elif fault.mode == "403":
                body = {
                    **status,
                    "message": "forbidden: no RBAC",
                    "reason": "Forbidden",
                    "code": 403,
                }
                self._send(403, json.dumps(body).encode())
            elif fault.mode == "garbage":
                self._send(200, b"<html>proxy error</html>")
            elif fault.mode == "wrong-shape":
                self._send(200, json.dumps({"items": [{"metadata": {"name": "x"}}]}).encode())

        do_GET = _answer
        do_PATCH = _answer

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is what the slow mode is for


@pytest.fixture
def broken() -> Iterator[tuple[str, Fault]]:
    fault = Fault("500")
    server = QuietServer(("127.0.0.1", 0), _handler(fault))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", fault
    server.shutdown()
    server.server_close()


def _client(url: str, sleeps: list[float], retries: int = 3) -> KubeClusterClient:
    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    configuration = k8s.Configuration()
    configuration.host = url
    configuration.retries = 0
    return KubeClusterClient(
        k8s.ApiClient(configuration),
        retries=retries,
        backoff_s=0.01,
        backoff_max_s=0.04,
        connect_timeout_s=0.5,
        timeout_s=0.2,
        sleep=sleep,
    )


def test_connection_refused_is_unavailable_after_bounded_retries() -> None:
    sleeps: list[float] = []
    client = _client(f"http://127.0.0.1:{closed_port()}", sleeps)
    with pytest.raises(ClusterUnavailable, match=r"after 4 attempts .*(Connection|refused)"):
        client.deployments()
    assert sleeps == [0.01, 0.02, 0.04]  # exponential, capped, none after the last attempt
    assert not client.is_online()


@pytest.mark.parametrize("mode", ["500", "429", "slow"])
def test_transient_failures_are_retried_then_reported(broken: tuple[str, Fault], mode: str) -> None:
    url, fault = broken
    fault.mode = mode
    sleeps: list[float] = []
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable) as raised:
        _client(url, sleeps, retries=2).deployments()
    assert fault.requests == 3
    assert time.monotonic() - started < 3.0  # bounded: 3 × 0.2 s timeouts + backoff at most
    text = str(raised.value)
    assert "list deployments" in text
    assert {"500": "etcd is sad", "429": "slow down", "slow": "Timeout"}[mode] in text
    if mode == "429":
        assert sleeps == [0.03, 0.03]  # Retry-After beats a shorter backoff


def test_a_recovering_server_answers_after_retries(broken: tuple[str, Fault]) -> None:
    url, fault = broken
    fault.failures = 2
    sleeps: list[float] = []
    assert _client(url, sleeps).deployments() == []
    assert fault.requests == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("mode", ["garbage", "wrong-shape"])
def test_malformed_answers_are_errors_not_empty_lists(broken: tuple[str, Fault], mode: str) -> None:
    url, fault = broken
    fault.mode = mode
    with pytest.raises(ClusterError, match="malformed"):
        _client(url, []).deployments()
    assert fault.requests == 1  # not transient: no retry


def test_writes_are_retried_too(broken: tuple[str, Fault]) -> None:
    url, fault = broken
    with pytest.raises(ClusterUnavailable, match="scale ml/ranker"):
        _client(url, [], retries=1).apply(
            Target(namespace="ml", service="ranker"), ScaleAction(replicas=2)
        )
    assert fault.requests == 2


def test_permission_errors_are_not_retried(broken: tuple[str, Fault]) -> None:
    url, fault = broken
    fault.mode = "403"
    with pytest.raises(ClusterError, match="forbidden: no RBAC") as raised:
        _client(url, []).pods()
    assert not isinstance(raised.value, ClusterUnavailable)
    assert fault.requests == 1
