"""End-to-end fixtures: a real `quarterdeck serve` process on 127.0.0.1 (a free port it picks and
prints), an auth file with one principal per role, an audit key file, an HTTP client per person,
and the `quarterdeck` CLI run in-process against the same server and files.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from quarterdeck.api.auth import hash_token
from quarterdeck.cli.main import app
from quarterdeck.cli.sim_cmd import default_scenario
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario
from quarterdeck.sim.wire.server import RunningServer, serve_in_thread

# name → (role, token); alice and bob are both approvers.
PEOPLE = {
    "vera": ("viewer", "e2e-viewer-token"),
    "otto": ("operator", "e2e-operator-token"),
    "alice": ("approver", "e2e-alice-token"),
    "bob": ("approver", "e2e-bob-token"),
    "ada": ("admin", "e2e-admin-token"),
}
FRAUD = {"namespace": "ml", "service": "fraud-detector"}
RANKER = {"namespace": "ml", "service": "ranker"}
START_TIMEOUT_S = 30.0
CLUSTER_AT = 22 * 60.0  # the `cluster` fixture's point in its scenario


def token(name: str) -> str:
    return PEOPLE[name][1]


@dataclass
class Served:
    """One running `quarterdeck serve` and what the test needs to talk to it."""

    url: str
    proc: subprocess.Popen[str]
    state_dir: Path
    key_file: Path
    stdout: list[str]
    stderr_path: Path
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def as_(self, name: str) -> httpx.Client:
        if name not in self.clients:
            self.clients[name] = httpx.Client(
                base_url=self.url,
                headers={"Authorization": f"Bearer {token(name)}"},
                timeout=60.0,
            )
        return self.clients[name]

    @property
    def audit_db(self) -> Path:
        return self.state_dir / "audit.db"

    def services(self) -> dict[str, dict[str, Any]]:
        r = self.as_("vera").get("/v1/services")
        assert r.status_code == 200, r.text
        return {s["service"]: s for s in r.json()["services"]}

    def replicas(self, service: str) -> int:
        return int(self.services()[f"ml/{service}"]["replicas"])

    def cli(self, *args: str, who: str | None = "ada") -> CliResult:
        """Run `quarterdeck ARGS` in this process against this server (and its audit files)."""
        env = {
            "QUARTERDECK_URL": self.url,
            "QUARTERDECK_AUDIT_KEY_FILE": str(self.key_file),
            "COLUMNS": "200",
        }
        if who is not None:
            env["QUARTERDECK_TOKEN"] = token(who)
        result = CliRunner().invoke(app, list(args), env=env)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a service manager would; the exit code."""
        for c in self.clients.values():
            c.close()
        self.clients.clear()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def write_auth_file(path: Path) -> Path:
    lines = ["four_eyes: false", "principals:"]
    for name, (role, tok) in PEOPLE.items():
        lines.append(f"  - {{name: {name}, role: {role}, token_sha256: {hash_token(tok)}}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pump(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def watch_stdout(
    proc: subprocess.Popen[str], pattern: str, *, until: str | None = None, deadline: float
) -> tuple[str | None, list[str]]:
    """Read `proc`'s stdout (from a thread, so a silent process cannot block the test) until a
    line contains `until` — or, without it, until `pattern` matches — or the output ends or
    `deadline` (monotonic) passes. Returns `pattern`'s first group (None if it never matched)
    and the lines seen."""
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    found = None
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if found is None and (m := re.search(pattern, line)):
            found = m.group(1)
        if (until in line) if until is not None else found is not None:
            break
    return found, seen


@pytest.fixture
def cluster() -> Iterator[RunningServer]:
    """flash-sale at 22 minutes behind the simulator's Kubernetes and Prometheus HTTP facades,
    with sim time mapped onto wall time (fresh samples), standing still."""
    epoch = float(math.floor(time.time())) - CLUSTER_AT
    sim = Simulator(load_scenario(default_scenario()), epoch=epoch)
    sim.advance(CLUSTER_AT)
    with serve_in_thread(sim, speed=0.0) as running:
        yield running


def start_server(
    tmp: Path, *args: str, auth: bool = True, env: dict[str, str] | None = None
) -> Served:
    """`quarterdeck serve --port 0 …` in a subprocess (with the test's auth file unless
    `auth=False`, and `env` added to the environment); waits until it prints its URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    state = tmp / "state"
    key_file = tmp / "audit.key"
    auth_file = write_auth_file(tmp / "auth.yaml")
    err_path = tmp / "serve.stderr"
    # The test decides the server's audit key and LLM settings, not the shell that runs pytest.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k != "QUARTERDECK_AUDIT_KEY" and not k.startswith("QUARTERDECK_LLM_")
    }
    proc_env = inherited | {"QUARTERDECK_AUDIT_KEY_FILE": str(key_file), "PYTHONUNBUFFERED": "1"}
    proc_env |= env or {}
    cmd = [sys.executable, "-m", "quarterdeck.cli.main", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", "0", "--state-dir", str(state), *args]
    if auth:
        cmd += ["--auth", str(auth_file)]
    with err_path.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=proc_env)
    deadline = time.monotonic() + START_TIMEOUT_S
    url, seen = watch_stdout(
        proc, r"REST API\s+(http://127\.0\.0\.1:\d+)/v1", until="Ctrl-C stops", deadline=deadline
    )
    if url is None:
        proc.kill()
        proc.wait(5)
        raise RuntimeError(
            "quarterdeck serve did not start:\n" + "".join(seen) + err_path.read_text()
        )
    served = Served(url, proc, state, key_file, seen, err_path)
    while time.monotonic() < deadline:  # printed before uvicorn accepts; wait until it does
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return served
        except httpx.TransportError:
            time.sleep(0.05)
    served.stop()
    raise RuntimeError("quarterdeck serve printed its URL but never answered /healthz")


StartServer = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[StartServer]:
    """Start servers with `serve(*flags)`; each is stopped (SIGTERM) after the test."""
    running: list[Served] = []

    def start(*args: str, auth: bool = True, env: dict[str, str] | None = None) -> Served:
        s = start_server(tmp_path / f"server-{len(running)}", *args, auth=auth, env=env)
        running.append(s)
        return s

    yield start
    for s in running:
        s.stop()


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, JSON data) of a server-sent-events response, as they arrive."""
    event, data = "message", list[str]()
    for line in response.iter_lines():
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """`probe()`'s first truthy answer, polling until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
