"""`sim serve`: one HTTP app serving the simulator's Kubernetes API, Prometheus API and `/metrics`,
with the simulator advancing in real time (or `speed` times faster).

Concurrency: the driver is an asyncio task on the server's event loop, and every handler does its
work synchronously on that loop, so a request sees the simulator between two ticks, never in the
middle of one. The driver advances in bounded chunks and yields between them, so requests are
served even at high speeds.

`serve_in_thread` runs the same app in a background thread on a free port, for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from quarterdeck.sim.wire.exposition import render_metrics
from quarterdeck.sim.wire.kube.routes import fallback_route, kube_routes
from quarterdeck.sim.wire.prometheus import prometheus_routes

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator

T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_TICKS_PER_SLICE = 300  # the driver yields to requests at least this often
MAX_SLEEP_S = 0.25  # so a paused/finished simulator still notices shutdown promptly
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class RealTimeDriver:
    """Keeps `sim.now - start_sim == (wall() - start_wall) * speed` (in whole ticks).

    `speed <= 0` pauses the simulator: it then moves only when someone calls `sim.advance`
    (on the loop, e.g. through `RunningServer.call`).
    """

    sim: Simulator
    speed: float = 1.0
    wall: Callable[[], float] = time.monotonic
    ticks_done: int = field(default=0, init=False)

    def due_ticks(self, start_wall: float, start_sim: float) -> int:
        """Whole ticks the simulator is behind wall time × speed."""
        target = start_sim + (self.wall() - start_wall) * self.speed
        return max(0, math.floor((target - self.sim.now) / self.sim.tick + 1e-9))

    async def run(self) -> None:
        if self.speed <= 0:
            return
        start_wall, start_sim = self.wall(), self.sim.now
        while not self.sim.done:
            due = self.due_ticks(start_wall, start_sim)
            if due:
                chunk = min(due, MAX_TICKS_PER_SLICE)
                self.sim.advance(chunk * self.sim.tick)
                self.ticks_done += chunk
                await asyncio.sleep(0)  # let waiting requests in between chunks
                continue
            next_due = start_wall + (self.sim.now + self.sim.tick - start_sim) / self.speed
            await asyncio.sleep(min(MAX_SLEEP_S, max(0.0, next_due - self.wall())))


def build_app(sim: Simulator, *, speed: float = 1.0) -> Starlette:
    """The `sim serve` app: Kubernetes API, Prometheus API, `/metrics`; 404 Status elsewhere.
    The real-time driver starts and stops with the app's lifespan."""

    def get_sim() -> Simulator:
        return sim

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(render_metrics(sim), media_type=METRICS_CONTENT_TYPE)

    driver = RealTimeDriver(sim, speed)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.loop = asyncio.get_running_loop()
        task = asyncio.create_task(driver.run(), name="sim-driver")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes: list[BaseRoute] = [
        *prometheus_routes(get_sim),
        Route("/metrics", metrics, methods=["GET"]),
        *kube_routes(get_sim),
        fallback_route(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = sim
    app.state.driver = driver
    return app


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket (port 0: a free one), so the port is known before serving."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def urls(base: str) -> dict[str, str]:
    return {
        "kubernetes": base,
        "prometheus": base,
        "metrics": f"{base}/metrics",
        "kubectl": f"KUBECONFIG=/dev/null kubectl --server {base} get deployments -A",
    }


@dataclass
class RunningServer:
    """A `sim serve` app running in a background thread (see `serve_in_thread`)."""

    url: str
    sim: Simulator
    app: Starlette
    server: uvicorn.Server

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Runs `fn()` on the server's event loop (e.g. `lambda: sim.advance(60)`), so it never
        interleaves with a request or a driver tick."""

        async def run() -> T:
            return fn()

        loop: asyncio.AbstractEventLoop = self.app.state.loop
        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)


@contextlib.contextmanager
def serve_in_thread(
    sim: Simulator, *, speed: float = 0.0, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningServer]:
    """Serves `sim` on `host` (a free port by default) until the block ends. `speed=0` (the
    default for tests) keeps the simulator still unless the test advances it via `call`."""
    app = build_app(sim, speed=speed)
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10.0
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sim server did not start")
            time.sleep(0.01)
        shown = f"[{host}]" if ":" in host else host
        yield RunningServer(f"http://{shown}:{actual_port}", sim, app, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10.0)
        sock.close()


def serve(
    sim: Simulator,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    speed: float = 1.0,
    announce: Callable[[dict[str, str]], None] | None = None,
) -> None:
    """Serves in the foreground until interrupted (what `quarterdeck sim serve` runs).
    `announce` receives the URLs once the port is bound."""
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    if announce is not None:
        announce(urls(f"http://{shown}:{sock.getsockname()[1]}"))
    config = uvicorn.Config(build_app(sim, speed=speed), log_level="warning", lifespan="on")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def serve_scenario(
    scenario: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    speed: float = 1.0,
    seed: int | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """`quarterdeck sim serve`: loads `scenario`, maps sim t=0 to now (so Prometheus clients
    asking about "now" find data), prints the URLs and serves until interrupted.
    Raises ValueError (naming the problem) for a bad scenario, speed or address."""
    from quarterdeck.sim.engine import Simulator
    from quarterdeck.sim.scenario import load_scenario

    if speed < 0 or not math.isfinite(speed):
        raise ValueError(f"--speed must be a finite number ≥ 0, got {speed}")
    sim = Simulator(load_scenario(scenario), seed, epoch=float(math.floor(time.time())))

    def announce(found: dict[str, str]) -> None:
        pace = "paused (speed 0)" if speed == 0 else f"{speed:g}x real time"
        echo(f"serving scenario {sim.scenario.name!r} ({pace}); Ctrl-C stops")
        echo(f"  Kubernetes API  {found['kubernetes']}")
        echo(f"  Prometheus API  {found['prometheus']}/api/v1/query")
        echo(f"  metrics         {found['metrics']}")
        echo(f"  try:            {found['kubectl']}")

    try:
        serve(sim, host=host, port=port, speed=speed, announce=announce)
    except OSError as error:
        raise ValueError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
