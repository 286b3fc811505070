"""Wiring: the four agents built from injected dependencies, and the API the REST layer, the CLI
and the demo call.

```python
runtime = Runtime.build(deps, RuntimeSettings(state_dir=...))   # brains from deps.reasoner
async for step in runtime.chat("p95 of fraud-detector is high, fix it", principal="alice"): ...
await runtime.approvals()                                   # pending approvals
await runtime.decide("chat-1a2b", approve=True, principal="bob")
await runtime.loop_once()                                   # one step of the autonomous loop
await runtime.aclose()
```

Nothing here reads module globals or the environment. Every agent is an A2A app in
`runtime.apps`; the agents (and the runtime's own calls) reach each other through
`runtime.network` — in process by default, or over HTTP for agents named in
`RuntimeSettings.remote_agents` (then they are not built here). Serve an app over HTTP with any
ASGI server (`uvicorn.run(runtime.apps["executor"], ...)`), giving its public URL in
`RuntimeSettings.public_urls` so its card advertises where to reach it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a2a.types import TaskState
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette

from quarterdeck.agents.a2a.cards import AGENT_NAMES, COORDINATOR, EXECUTOR, OBSERVER, PLANNER
from quarterdeck.agents.a2a.cards import agent_card as make_card
from quarterdeck.agents.a2a.client import AgentError, Reply, Step, TaskFinished
from quarterdeck.agents.a2a.coordinator_agent import (
    CoordinatorAgent,
    IntentParser,
)
from quarterdeck.agents.a2a.executor_agent import ExecutorAgent
from quarterdeck.agents.a2a.observer_agent import Diagnoser, ObserverAgent
from quarterdeck.agents.a2a.planner_agent import Planner, PlannerAgent
from quarterdeck.agents.a2a.server import Authenticator, agent_app, close_agent_app
from quarterdeck.agents.a2a.taskstore import SqliteTaskStore
from quarterdeck.agents.a2a.transport import AgentNetwork, in_process_url
from quarterdeck.agents.a2a.wire import Health, ServiceHealth
from quarterdeck.agents.approvals import Approval
from quarterdeck.agents.brain.diagnosis import DiagnosisSettings, canary_fit
from quarterdeck.agents.executor import (
    AuditSink,
    ExecutionReport,
    ExecutorDeps,
    ExecutorHooks,
    ExecutorService,
    ExecutorSettings,
    GuardLike,
    SignalReader,
)
from quarterdeck.agents.guard_context import CanaryJudge, WallTime
from quarterdeck.agents.incident_store import IncidentStore
from quarterdeck.agents.loop import AutonomousLoop, LoopMode, LoopStep
from quarterdeck.agents.verify import Signals
from quarterdeck.core.clock import Clock
from quarterdeck.core.models import Target
from quarterdeck.tools.cluster.base import ClusterClient, listed_targets
from quarterdeck.tools.metrics.base import MetricsError, MetricsSource
from quarterdeck.tools.registry import ToolRegistry
from quarterdeck.tools.signals import SignalCatalog, load_catalog, read_signal


@dataclass
class RuntimeDeps:
    """Everything the agents use, injected. `reasoner` drives the brains (embedded or LLM)."""

    reasoner: Any
    registry: ToolRegistry
    cluster: ClusterClient
    metrics: MetricsSource
    guard: GuardLike
    audit: AuditSink
    clock: Clock
    catalog: SignalCatalog | None = None
    wall_time: WallTime | None = None
    simulator: Any = None  # the in-process Simulator, when the target is `sim` (what-if runs)


@dataclass
class Brains:
    """The thinking each agent does, as plain callables (the runtime wires the reasoner's)."""

    diagnose: Diagnoser
    plan: Planner
    understand: IntentParser


@dataclass(frozen=True)
class RuntimeSettings:
    state_dir: Path
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    loop_mode: LoopMode = LoopMode.OBSERVE
    chat_mode: str = "auto"  # how the coordinator sends chat proposals: auto | approve
    local_agents: tuple[str, ...] = AGENT_NAMES  # built and served by this runtime
    remote_agents: Mapping[str, str] = field(default_factory=dict)  # name → base URL
    public_urls: Mapping[str, str] = field(default_factory=dict)  # name → URL its card shows
    token: str | None = None  # bearer token for calls to remote agents
    authenticator: Authenticator | None = None  # checks calls into the local agents


class DecideOutcome(BaseModel):
    """What happened to a decision: `decided` False means someone decided first."""

    model_config = ConfigDict(frozen=True)

    proposal_id: str
    decided: bool
    message: str
    state: str
    report: dict[str, Any] | None = None


class RuntimeRequestError(Exception):
    """A request the runtime cannot serve; the message says why (the API maps it to 4xx)."""


def canary_judge(metrics: MetricsSource, catalog: SignalCatalog) -> CanaryJudge:
    """Whether a canary version, with traffic, passes the brain's promotion test
    (`brain.diagnosis.canary_fit`) on the per-version signals read now."""
    settings = DiagnosisSettings()

    def judge(target: Target, canary: str, stable: str) -> bool:
        try:
            err = read_signal(metrics, catalog, "version_error_ratio", target).by
            p95 = read_signal(metrics, catalog, "version_p95_latency_ms", target).by
            rate = read_signal(metrics, catalog, "version_request_rate", target).by
        except (MetricsError, ValueError, KeyError):
            return False
        if not rate.get(canary) or rate[canary] <= 0:
            return False
        return canary_fit(
            err.get(canary),
            p95.get(canary),
            p95.get(stable),
            slo_error_ratio=_slo_max(catalog, "error_ratio", target),
            slo_p95_ms=_slo_max(catalog, "p95_latency_ms", target),
            worse_latency=settings.worse_latency,
        )

    return judge


def _slo_max(catalog: SignalCatalog, signal: str, target: Target) -> float:
    threshold = catalog.threshold(signal, target)
    return threshold.max if threshold is not None and threshold.max is not None else math.inf


def signal_reader(metrics: MetricsSource, catalog: SignalCatalog) -> SignalReader:
    """The executor's view of a service's signals: p95 latency and error ratio (judged), and the
    request rate (to tell a rising load from an action that hurt); stale values are None."""

    def read(target: Target) -> Signals:
        values: dict[str, float | None] = {}
        slo: dict[str, float] = {}
        observed: list[float] = []
        try:
            for name in ("p95_latency_ms", "error_ratio", "request_rate"):
                r = read_signal(metrics, catalog, name, target)
                values[name] = r.value
                if r.observed_at is not None:
                    observed.append(r.observed_at)
                if r.threshold is not None and r.threshold.max is not None:
                    slo[name] = r.threshold.max
        except (MetricsError, ValueError, KeyError):
            return Signals(values={}, stale=True)
        stale = values["p95_latency_ms"] is None and values["error_ratio"] is None
        return Signals(values=values, observed_at=max(observed, default=0.0), stale=stale, slo=slo)

    return read


def default_brains(deps: RuntimeDeps) -> Brains:
    """The agents' thinking from the injected reasoner (the embedded one when `deps.reasoner` is
    None) through the tool-calling graph over `deps.registry` (the action tools are added when
    missing). Every reasoner step is audited; on the simulator the planner's proposals are
    ranked and predicted by the what-if."""
    from dataclasses import replace

    from quarterdeck.agents.brains import AuditedReasoner, with_whatif
    from quarterdeck.agents.reasoning.agent_brains import embedded_brains
    from quarterdeck.agents.reasoning.embedded import EmbeddedReasoner

    reasoner = AuditedReasoner(deps.reasoner or EmbeddedReasoner(), deps.audit)
    brains = embedded_brains(replace(deps, reasoner=reasoner))
    if deps.simulator is not None:
        brains = replace(brains, plan=with_whatif(brains.plan, deps.simulator))
    return brains


def account_for_every_service(diagnose: Diagnoser, cluster: ClusterClient) -> Diagnoser:
    """`diagnose`, plus a `NO_DATA` entry for every asked-for (or, when none were named, every
    listed) service it said nothing about — a diagnoser skips what it has no usable signals for,
    and the loop must say it stands still there rather than stay silent."""

    def diagnosed(services: Sequence[Target] | None) -> list[ServiceHealth]:
        found = diagnose(services)
        expected = list(services) if services else listed_targets(cluster)
        seen = {h.target for h in found}
        missing = [
            ServiceHealth(
                target=t,
                health=Health.NO_DATA,
                summary="the observer had no usable signals for this service",
            )
            for t in expected
            if t not in seen
        ]
        return sorted([*found, *missing], key=lambda h: str(h.target))

    return diagnosed


class Runtime:
    """The four agents, their network, the executor's durable state and the loop."""

    def __init__(
        self,
        *,
        deps: RuntimeDeps,
        settings: RuntimeSettings,
        apps: dict[str, Starlette],
        network: AgentNetwork,
        executor: ExecutorService | None,
        stores: dict[str, SqliteTaskStore],
    ) -> None:
        self.deps = deps
        self.settings = settings
        self.apps = apps
        self.network = network
        self.executor = executor
        self._stores = stores
        self._incidents = IncidentStore(settings.state_dir / "loop-incidents.sqlite")
        self.loop = AutonomousLoop(
            network, deps.audit, deps.clock, settings.loop_mode, store=self._incidents
        )

    @classmethod
    def build(
        cls,
        deps: RuntimeDeps,
        settings: RuntimeSettings,
        *,
        brains: Brains | None = None,
        hooks: ExecutorHooks | None = None,
        signals: SignalReader | None = None,
    ) -> Runtime:
        """Build the agents in `settings.local_agents` (minus any in `remote_agents`), keeping
        their durable state in `settings.state_dir`. Without `brains`, the agents think with
        `deps.reasoner` (see `default_brains`)."""
        brains = brains or default_brains(deps)
        unknown = sorted(
            (set(settings.remote_agents) | set(settings.local_agents)) - set(AGENT_NAMES)
        )
        if unknown:
            raise ValueError(
                f"unknown agents: {', '.join(unknown)} (known: {', '.join(AGENT_NAMES)})"
            )
        state = settings.state_dir
        state.mkdir(parents=True, exist_ok=True)
        network = AgentNetwork(urls=settings.remote_agents, token=settings.token)
        catalog = deps.catalog or load_catalog()
        reader = signals or signal_reader(deps.metrics, catalog)
        executor = None
        apps: dict[str, Starlette] = {}
        stores: dict[str, SqliteTaskStore] = {}
        local = [n for n in settings.local_agents if n not in settings.remote_agents]
        for name in local:
            if name == EXECUTOR:
                executor = ExecutorService(
                    ExecutorDeps(
                        guard=deps.guard,
                        cluster=deps.cluster,
                        signals=reader,
                        audit=deps.audit,
                        clock=deps.clock,
                        wall_time=deps.wall_time,
                        hooks=hooks or ExecutorHooks(),
                        canary_ok=canary_judge(deps.metrics, catalog),
                    ),
                    state,
                    settings.executor,
                )
                executor.recover()  # finish what a previous process left mid-step
                agent: Any = ExecutorAgent(executor)
            elif name == OBSERVER:
                agent = ObserverAgent(account_for_every_service(brains.diagnose, deps.cluster))
            elif name == PLANNER:
                agent = PlannerAgent(brains.plan)
            else:
                stores[name] = SqliteTaskStore(state / "a2a-tasks.sqlite", name)
                agent = CoordinatorAgent(
                    network,
                    brains.understand,
                    deps.audit,
                    mode=settings.chat_mode,
                    tasks=stores[name],
                )
            url = settings.public_urls.get(name, in_process_url(name))
            stores.setdefault(name, SqliteTaskStore(state / "a2a-tasks.sqlite", name))
            apps[name] = agent_app(
                make_card(name, url),
                agent,
                stores[name],
                authenticator=settings.authenticator,
            )
            network.add_app(name, apps[name])
        return cls(
            deps=deps,
            settings=settings,
            apps=apps,
            network=network,
            executor=executor,
            stores=stores,
        )

    async def aclose(self) -> None:
        await self.network.aclose()
        for app in self.apps.values():
            await close_agent_app(app)
        for store in self._stores.values():
            store.close()
        if self.executor is not None:
            self.executor.close()
        self._incidents.close()

    # -- the API -----------------------------------------------------------------------------

    async def chat(self, text: str, principal: str) -> AsyncIterator[Step]:
        """Send a request in words to the coordinator; yields each step until it ends or waits.

        The last step's state says where it ended: completed, rejected, failed, or
        input-required with `{"approval": {"proposal_id", …}}` in its data.
        """
        client = await self.network.client(COORDINATOR)
        async for step in client.stream(text, {"skill": "chat", "principal": principal}):
            yield step

    async def ask(self, text: str, principal: str) -> Reply:
        """`chat`, collected: the final state, text and data."""
        client = await self.network.client(COORDINATOR)
        return await client.send(text, {"skill": "chat", "principal": principal})

    async def approvals(self) -> list[Approval]:
        """Proposals waiting for a human, oldest first."""
        reply = await self._ask(EXECUTOR, {"skill": "approvals"})
        return [Approval.model_validate(a) for a in reply.first("approvals") or []]

    async def approval(self, proposal_id: str) -> Approval | None:
        """One approval request, whatever its status."""
        reply = await self._ask(EXECUTOR, {"skill": "approvals", "proposal_id": proposal_id})
        found = reply.first("approvals") or []
        return Approval.model_validate(found[0]) if found else None

    async def decide(
        self, proposal_id: str, *, approve: bool, principal: str, comment: str | None = None
    ) -> DecideOutcome:
        """Approve or reject a pending proposal, over A2A. A second decision is answered with
        `decided=False` and what the first one was; the proposal is applied at most once."""
        approval = await self.approval(proposal_id)
        if approval is None:
            raise RuntimeRequestError(f"no approval request for proposal {proposal_id!r}")
        if not approval.pending:
            return _already(approval)
        data = {"skill": "decide", "approve": approve, "principal": principal, "comment": comment}
        task = await self._coordinator_task_for(proposal_id)
        agent, task_id, context_id = (
            (COORDINATOR, *task) if task else (EXECUTOR, approval.task_id, approval.context_id)
        )
        if not task_id or not context_id:
            raise RuntimeRequestError(f"proposal {proposal_id!r} has no A2A task to resume")
        client = await self.network.client(agent)
        try:
            reply = await client.send(data=data, task_id=task_id, context_id=context_id)
        except TaskFinished:
            again = await self.approval(proposal_id)
            assert again is not None
            return _already(again)
        if reply.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            # Still waiting: the decision was refused (e.g. the four-eyes rule).
            return DecideOutcome(
                proposal_id=proposal_id,
                decided=False,
                message=reply.text,
                state=reply.state_name,
                report=reply.first("report"),
            )
        if reply.first("already"):
            again = await self.approval(proposal_id)
            assert again is not None
            return _already(again)
        return DecideOutcome(
            proposal_id=proposal_id,
            decided=True,
            message=reply.text,
            state=reply.state_name,
            report=reply.first("report"),
        )

    async def loop_once(self, mode: LoopMode | None = None) -> LoopStep:
        """One step of the autonomous loop (in `mode`, default the settings')."""
        if mode is not None:
            self.loop.mode = mode
        return await self.loop.step()

    async def verify_due(self) -> list[ExecutionReport]:
        """Verify applied actions whose settle time passed (the loop does this every step)."""
        reply = await self._ask(EXECUTOR, {"skill": "verify_due"})
        return [ExecutionReport.model_validate(r) for r in reply.first("verifications") or []]

    # -- helpers -----------------------------------------------------------------------------

    async def _ask(self, agent: str, data: dict[str, Any]) -> Reply:
        client = await self.network.client(agent)
        return await client.send(data=data)

    async def _coordinator_task_for(self, proposal_id: str) -> tuple[str, str] | None:
        """The coordinator's chat task waiting on this proposal (asked over A2A, so it works
        for a coordinator in another process too); None when no chat request made it."""
        if COORDINATOR not in self.network.names:
            return None
        try:
            reply = await self._ask(COORDINATOR, {"skill": "waiting", "proposal_id": proposal_id})
        except AgentError:
            return None
        found = reply.first("waiting")
        if not isinstance(found, dict):
            return None
        return str(found["task_id"]), str(found["context_id"])


def _already(approval: Approval) -> DecideOutcome:
    return DecideOutcome(
        proposal_id=approval.proposal_id,
        decided=False,
        message=f"already decided: {approval.status.value} by {approval.decided_by}",
        state=approval.status.value,
    )


def scripted_brains(
    diagnose: Diagnoser,
    plan: Planner,
    understand: IntentParser | None = None,
) -> Brains:
    """Brains from plain callables (tests, benchmarks); `understand` defaults to 'unknown'."""
    from quarterdeck.agents.a2a.wire import Intent

    def no_intent(_text: str) -> Intent:
        return Intent(kind="unknown")

    return Brains(diagnose=diagnose, plan=plan, understand=understand or no_intent)


__all__: Sequence[str] = (
    "Brains",
    "DecideOutcome",
    "Runtime",
    "RuntimeDeps",
    "RuntimeRequestError",
    "RuntimeSettings",
    "default_brains",
    "scripted_brains",
    "signal_reader",
)
