"""`sim serve`: one app for the Kubernetes API, the Prometheus API and /metrics; the real-time
driver; starting and stopping in-process; the CLI's bad-input handling."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from typer.testing import CliRunner

from quarterdeck.cli.main import app as cli
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.wire.server import RealTimeDriver, RunningServer, serve_in_thread


class FakeWall:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_driver_keeps_sim_time_at_wall_time_times_speed(sim: Simulator) -> None:
    wall = FakeWall()
    driver = RealTimeDriver(sim, speed=10.0, wall=wall)
    assert driver.due_ticks(wall.t, sim.now) == 0
    wall.t += 2.55  # 25.5 sim seconds: 25 whole ticks are due
    assert driver.due_ticks(1000.0, 0.0) == 25
    sim.advance(25)
    assert driver.due_ticks(1000.0, 0.0) == 0


def test_driver_advances_in_real_time_and_stops_at_the_end(sim: Simulator) -> None:
    async def run_for(seconds: float, speed: float) -> None:
        task = asyncio.create_task(RealTimeDriver(sim, speed).run())
        await asyncio.sleep(seconds)
        task.cancel()

    started = time.monotonic()
    asyncio.run(run_for(0.5, 600.0))
    elapsed = time.monotonic() - started
    assert 0.5 * 600 * 0.6 <= sim.now <= elapsed * 600 + 1
    asyncio.run(run_for(0.3, 1e6))  # far faster than the scenario is long
    assert sim.done


def test_paused_driver_leaves_the_sim_alone(sim: Simulator) -> None:
    asyncio.run(RealTimeDriver(sim, speed=0).run())
    assert sim.now == 0


def test_one_port_serves_kube_prometheus_and_metrics(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as http:
        assert http.get("/api/v1/namespaces/ml/pods").json()["kind"] == "PodList"
        query = http.get("/api/v1/query", params={"query": "kube_deployment_spec_replicas"})
        assert query.json()["status"] == "success"
        replicas = {
            r["metric"]["deployment"]: r["value"][1] for r in query.json()["data"]["result"]
        }
        assert replicas == {"ranker": "3", "scorer": "4"}
        metrics = http.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'kube_deployment_spec_replicas{deployment="ranker",namespace="ml"}' in metrics.text
        assert http.get("/no/such/thing").json()["reason"] == "NotFound"


def test_real_time_server_moves_the_clock_and_stops_cleanly(sim: Simulator) -> None:
    with serve_in_thread(sim, speed=300.0) as running:
        port = int(running.url.rsplit(":", 1)[1])
        time.sleep(0.4)
        now = running.call(lambda: sim.now)
        assert now >= 60
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the port is closed again


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["sim", "serve", "/no/such/scenario.yaml"], "no such file"),
        (["sim", "serve", "--speed", "-2"], "--speed"),
    ],
)
def test_cli_bad_input_exits_2(args: list[str], text: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert text in result.output


def test_cli_reports_a_busy_port(scenario_path: object) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["sim", "serve", str(scenario_path), "--port", str(port)])
    assert result.exit_code == 2
    assert "cannot listen" in result.output
