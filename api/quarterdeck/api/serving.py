"""The server process behind `quarterdeck serve`: what it is made of, and running it.

`build_server(settings, audit_key=…, auth=…)` wires the REST app over the agents' runtime on
one of two targets:

- `sim`: the embedded simulator from a scenario file (`quarterdeck.agents.embedded`), advanced
  in real time × `speed` on the event loop by the API's driver; dry-runs predict on a fork of it.
- `kube`: a real cluster through kubeconfig and a Prometheus URL (the `kube` and `prometheus`
  tool adapters), on wall-clock time. The same agents and policies; no simulator, so a dry-run
  answers with the guard's verdict and says that there is no prediction.

`run_server(server, sock)` serves until SIGINT/SIGTERM, then shuts down in order: the HTTP
server stops taking requests, the driver stops (the app's lifespan), the agents close their
clients and stores, and the audit log is closed last, so every step before the exit is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from starlette.types import ASGIApp

from quarterdeck.agents.brain.diagnosis import DiagnosisSettings
from quarterdeck.agents.loop import LoopMode
from quarterdeck.agents.reasoning.openai_compat import LLMSettings, make_reasoner
from quarterdeck.agents.reasoning.protocol import Reasoner
from quarterdeck.agents.runtime import Runtime, RuntimeDeps
from quarterdeck.api.app import create_app
from quarterdeck.api.auth import Authenticator, Principal, Role, new_token
from quarterdeck.api.control import RuntimeControl
from quarterdeck.api.schemas import LoopSettings
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.sim.engine import Simulator


class ServeSettings(BaseModel):
    """What `quarterdeck serve` was asked for; immutable. Bounds are checked here, so the CLI
    and tests get the same errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Literal["sim", "kube"] = Field(default="sim", description="what the agents act on")
    state_dir: Path = Field(
        default=Path(".quarterdeck"), description="the audit log and the agents' durable state"
    )
    mode: LoopMode = Field(default=LoopMode.OBSERVE, description="the autonomous loop's mode")
    interval_s: float = Field(default=15.0, gt=0, le=86_400, description="clock s between passes")
    loop_enabled: bool = Field(default=True, description="run loop passes in the background")
    # sim target
    scenario: Path | None = Field(default=None, description="sim: scenario file")
    seed: int | None = Field(default=None, ge=0, description="sim: override the scenario's seed")
    speed: float = Field(
        default=1.0,
        ge=0,
        le=100_000,
        description="sim: simulated seconds per wall second; 0 = still",
    )
    start_at_s: float = Field(
        default=0.0, ge=0, description="sim: advance the simulator this far before serving"
    )
    # kube target
    kubeconfig: Path | None = Field(default=None, description="kube: kubeconfig file")
    context: str | None = Field(default=None, description="kube: kubeconfig context")
    kube_url: str | None = Field(
        default=None, description="kube: plain API server URL (kubectl proxy); overrides kubeconfig"
    )
    prometheus_url: str | None = Field(default=None, description="kube: Prometheus base URL")
    namespaces: tuple[str, ...] = Field(
        default=(),
        description="kube: only these namespaces are seen and acted on (empty: all); a "
        "namespace-scoped service account needs them",
    )
    remote_agents: dict[str, str] = Field(
        default_factory=dict,
        description="kube: agents served by other processes (`quarterdeck agent`), name → URL",
    )
    agent_token: SecretStr | None = Field(
        default=None, description="the bearer token for calls to remote agents"
    )
    llm: LLMSettings | None = Field(
        default=None, description="the OpenAI-compatible model the agents use (None: embedded)"
    )
    node_loss_start_s: float | None = Field(
        default=None,
        gt=0,
        description="services whose pods take at least this long to start keep replicas to lose "
        "their busiest node (None: off)",
    )

    @field_validator("remote_agents")
    @classmethod
    def _remote_agents(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if name not in REMOTE_AGENTS:
                raise ValueError(
                    f"{name!r} cannot run elsewhere; only {' and '.join(REMOTE_AGENTS)} can "
                    "(the REST API needs the executor and the coordinator in its process)"
                )
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{name}: expected an http:// or https:// URL, got {url!r}")
        return value

    @model_validator(mode="after")
    def _remote_needs_kube(self) -> ServeSettings:
        if self.remote_agents and self.target != "kube":
            raise ValueError(
                "remote agents need --target kube: on the sim target each process would "
                "read its own simulated cluster"
            )
        return self


# Agents that may run in a process of their own (`quarterdeck agent`): they think and read, the
# server keeps what acts and what people talk to.
REMOTE_AGENTS = ("observer", "planner")


@dataclass
class OneOffToken:
    """The admin token made when no auth file was given: valid for this process only."""

    token: str
    principal: str = "admin"


@dataclass
class Server:
    """Everything one `quarterdeck serve` process runs; `close()` releases it (async)."""

    settings: ServeSettings
    app: FastAPI
    control: RuntimeControl
    runtime: Runtime
    audit: AuditLog
    audit_path: Path
    state_dir: Path
    sim: Simulator | None = None
    one_off: OneOffToken | None = None
    notes: list[str] = field(default_factory=list)

    async def close(self) -> None:
        await self.control.stop()
        try:
            await self.runtime.aclose()
        finally:
            self.audit.close()


class ServeError(ValueError):
    """The server cannot be built or started as asked; the message names the problem."""


def one_off_auth() -> tuple[Authenticator, OneOffToken]:
    """An authenticator with a single fresh admin token (never run without auth)."""
    made = OneOffToken(token=new_token())
    auth = Authenticator.from_tokens({made.token: Principal(name=made.principal, role=Role.ADMIN)})
    return auth, made


def load_auth(path: Path | None) -> tuple[Authenticator, OneOffToken | None]:
    """The auth file's principals, or a one-off admin token without one. Raises ServeError."""
    if path is None:
        return one_off_auth()
    from quarterdeck.api.auth import AuthConfigError

    try:
        auth = Authenticator.load(path)
    except AuthConfigError as e:
        raise ServeError(str(e)) from None
    return auth, None


def _run_dir(state_dir: Path, label: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return state_dir / "runs" / f"serve-{label}-{stamp}"


def build_server(settings: ServeSettings, *, audit_key: AuditKey, auth: Authenticator) -> Server:
    """The app, the agents and the target `settings` name. Raises ServeError naming the problem
    (a bad scenario, policy or signal file, a kube target without its URLs)."""
    loop = LoopSettings(
        mode=settings.mode, interval_s=settings.interval_s, enabled=settings.loop_enabled
    )
    if settings.target == "sim":
        return _build_sim(settings, loop, audit_key=audit_key, auth=auth)
    return _build_kube(settings, loop, audit_key=audit_key, auth=auth)


def _build_sim(
    settings: ServeSettings, loop: LoopSettings, *, audit_key: AuditKey, auth: Authenticator
) -> Server:
    from quarterdeck.agents.embedded import build_embedded
    from quarterdeck.policies.loader import PolicyLoadError
    from quarterdeck.sim.scenario import ScenarioError
    from quarterdeck.tools.signals import CatalogError

    if settings.scenario is None:
        raise ServeError("the sim target needs a scenario file")
    if not settings.scenario.is_file():
        raise ServeError(f"scenario file not found: {settings.scenario}")
    # A simulated world starts fresh on every start, so its approvals and executions do too;
    # the audit log is shared, so `quarterdeck audit list` sees every run.
    try:
        run = build_embedded(
            settings.scenario,
            _run_dir(settings.state_dir, settings.scenario.stem),
            mode=settings.mode,
            audit_key=audit_key,
            seed=settings.seed,
            audit_path=settings.state_dir / "audit.db",
            reasoner=sized_reasoner(settings),
            # Sim time `start_at_s` is now, so audit entries (and freeze windows) read as real
            # times; they run ahead of the wall clock at speeds above 1.
            epoch=float(math.floor(time.time())) - settings.start_at_s,
        )
    except (ScenarioError, PolicyLoadError, CatalogError) as e:
        raise ServeError(str(e)) from None
    if settings.start_at_s > 0:
        run.sim.advance(min(settings.start_at_s, run.sim.duration))
    control = RuntimeControl(
        run.runtime, audit=run.audit, sim=run.sim, speed=settings.speed, loop=loop
    )
    return Server(
        settings=settings,
        app=create_app(control=control, auth=auth),
        control=control,
        runtime=run.runtime,
        audit=run.audit,
        audit_path=run.audit_path,
        state_dir=run.runtime.settings.state_dir,
        sim=run.sim,
    )


@dataclass
class KubeWorld:
    """A real cluster through the real-client adapters, and what the agents need around it."""

    deps: RuntimeDeps
    audit: AuditLog
    audit_path: Path
    state_dir: Path


class KubeTarget(Protocol):
    """Where a real cluster and its metrics are, and how the agents think (`ServeSettings` and
    `agent_serving.AgentSettings` both say so)."""

    @property
    def state_dir(self) -> Path: ...
    @property
    def prometheus_url(self) -> str | None: ...
    @property
    def kube_url(self) -> str | None: ...
    @property
    def kubeconfig(self) -> Path | None: ...
    @property
    def context(self) -> str | None: ...
    @property
    def llm(self) -> LLMSettings | None: ...
    @property
    def namespaces(self) -> tuple[str, ...]: ...
    @property
    def node_loss_start_s(self) -> float | None: ...


def sized_reasoner(target: KubeTarget | ServeSettings) -> Reasoner:
    """The reasoner `target` asks for, its embedded decisions sized as it says."""
    return make_reasoner(target.llm, DiagnosisSettings(node_loss_start_s=target.node_loss_start_s))


def kube_world(target: KubeTarget, *, audit_key: AuditKey, subdir: str = "kube") -> KubeWorld:
    """The kube target's adapters, policies, audit log and reasoner. A real cluster keeps its
    state across restarts, so do the agents: `state_dir/subdir` is fixed, and pending approvals
    and open incidents wait there for the next process. Raises ServeError naming the problem."""
    from quarterdeck.core.clock import WallClock
    from quarterdeck.policies.guard import Guard
    from quarterdeck.policies.loader import PolicyLoadError, default_policy_dir, load_policies
    from quarterdeck.tools.cluster import ClusterConfig, make_cluster_client
    from quarterdeck.tools.metrics.config import MetricsConfig
    from quarterdeck.tools.metrics.factory import make_metrics_source
    from quarterdeck.tools.reads import ReadContext, register_read_tools
    from quarterdeck.tools.registry import ToolRegistry
    from quarterdeck.tools.signals import CatalogError, load_catalog

    if not target.prometheus_url:
        raise ServeError("the kube target needs --prometheus-url (where the metrics are)")
    clock = WallClock()
    try:
        cluster = make_cluster_client(
            ClusterConfig(
                kind="kube",
                url=target.kube_url,
                kubeconfig=target.kubeconfig,
                context=target.context,
                namespaces=target.namespaces,
            )
        )
        metrics = make_metrics_source(
            MetricsConfig(kind="prometheus", url=target.prometheus_url), clock=clock
        )
        catalog = load_catalog()
        guard = Guard(load_policies(default_policy_dir()))
    except (ValueError, OSError, PolicyLoadError, CatalogError) as e:
        # The kube adapter raises ValueError/ConfigException (a ValueError-like) for a missing
        # or broken kubeconfig or an unknown context; each message names what is wrong.
        raise ServeError(f"cannot set up the kube target: {e}") from None
    except Exception as e:  # kubernetes' ConfigException is not a ValueError in every version
        raise ServeError(f"cannot set up the kube target: {type(e).__name__}: {e}") from None
    registry = ToolRegistry()
    register_read_tools(registry, ReadContext(metrics=metrics, catalog=catalog, cluster=cluster))
    state = target.state_dir / subdir
    audit_path = target.state_dir / "audit.db"
    state.mkdir(parents=True, exist_ok=True)
    audit = AuditLog(audit_path, audit_key, clock=clock, epoch=0.0)
    deps = RuntimeDeps(
        reasoner=sized_reasoner(target),
        registry=registry,
        cluster=cluster,
        metrics=metrics,
        guard=guard,
        audit=audit,
        clock=clock,
        catalog=catalog,
    )
    return KubeWorld(deps=deps, audit=audit, audit_path=audit_path, state_dir=state)


def _build_kube(
    settings: ServeSettings, loop: LoopSettings, *, audit_key: AuditKey, auth: Authenticator
) -> Server:
    from quarterdeck.agents.executor import ExecutorSettings
    from quarterdeck.agents.incident_store import IncidentStoreError
    from quarterdeck.agents.runtime import RuntimeSettings, default_brains

    world = kube_world(settings, audit_key=audit_key)
    token = settings.agent_token.get_secret_value() if settings.agent_token else None
    try:
        runtime = Runtime.build(
            world.deps,
            RuntimeSettings(
                state_dir=world.state_dir,
                loop_mode=settings.mode,
                executor=ExecutorSettings(settle_s=120),
                remote_agents=dict(settings.remote_agents),
                token=token,
            ),
            # the reasoner over the tools; no what-if without a sim
            brains=default_brains(world.deps),
        )
    except IncidentStoreError as e:
        world.audit.close()
        raise ServeError(f"{e} (move the file aside to start without the open incidents)") from None
    control = RuntimeControl(runtime, audit=world.audit, sim=None, speed=1.0, loop=loop)
    notes = ["no simulator on the kube target: dry-runs give the verdict without a prediction"]
    notes += [
        f"the {n} agent runs elsewhere: {u}" for n, u in sorted(settings.remote_agents.items())
    ]
    return Server(
        settings=settings,
        app=create_app(control=control, auth=auth),
        control=control,
        runtime=runtime,
        audit=world.audit,
        audit_path=world.audit_path,
        state_dir=world.state_dir,
        notes=notes,
    )


# -- running --------------------------------------------------------------------------------


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one), so the URL is known before serving.
    Raises ServeError naming the address when it cannot listen there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it Nagle + delayed ACKs add ~40 ms to responses
    # written in two sends (headers, body).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def urls(base: str) -> dict[str, str]:
    """Where to find each part of a server at `base`."""
    return {
        "api": f"{base}/v1",
        "docs": f"{base}/docs",
        "openapi": f"{base}/openapi.json",
        "health": f"{base}/healthz",
        "metrics": f"{base}/metrics",
        "a2a": f"{base}/a2a/{{agent}}/.well-known/agent-card.json",
    }


class _QuietSignals(uvicorn.Server):
    """uvicorn's server, minus re-raising the signal after a graceful stop: `run_server` still
    has the agents and the audit log to close, and a re-raised SIGTERM would kill the process
    before it could."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        before = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)


class Servable(Protocol):
    """What `serve_async` runs: an ASGI app, and how to release what is behind it."""

    @property
    def app(self) -> ASGIApp: ...

    async def close(self) -> None: ...


async def serve_async(server: Servable, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve on `sock` until told to stop (SIGINT/SIGTERM on the main thread, or
    `should_exit` on the returned uvicorn server), then close everything."""
    config = uvicorn.Config(server.app, log_level=log_level, lifespan="on", access_log=False)
    http = _QuietSignals(config)
    try:
        await http.serve(sockets=[sock])
    finally:
        await server.close()


def run_server(server: Servable, sock: socket.socket, *, log_level: str = "warning") -> None:
    """`serve_async` on a fresh event loop, in the foreground (what `quarterdeck serve` runs)."""
    try:
        asyncio.run(serve_async(server, sock, log_level=log_level))
    finally:
        sock.close()


@dataclass
class RunningServer:
    """A server in a background thread (`serve_in_thread`), for tests and embedding."""

    url: str
    server: Server
    loop: asyncio.AbstractEventLoop

    def call(self, fn: Callable[[], object], timeout: float = 30.0) -> object:
        """Run `fn()` on the server's event loop, so it never interleaves with a request."""

        async def run() -> object:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)


@contextlib.contextmanager
def serve_in_thread(
    server: Server, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningServer]:
    """Serve `server` from a background thread until the block ends (a free port by default)."""
    sock = bind(host, port)
    config = uvicorn.Config(server.app, log_level="warning", lifespan="on", access_log=False)
    http = uvicorn.Server(config)
    box: dict[str, asyncio.AbstractEventLoop] = {}

    async def main() -> None:
        box["loop"] = asyncio.get_running_loop()
        try:
            await http.serve(sockets=[sock])
        finally:
            await server.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="qd-serve")
    thread.start()
    try:
        deadline = time.monotonic() + 10.0
        while not http.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ServeError("the server did not start")
            time.sleep(0.01)
        yield RunningServer(base_url(sock), server, box["loop"])
    finally:
        http.should_exit = True
        thread.join(timeout=15.0)
        sock.close()
