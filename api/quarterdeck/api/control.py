"""What the REST API needs from the running system (`Control`), and the adapter over the agents'
`Runtime` that provides it (`RuntimeControl`).

The API depends on this Protocol only, so routes can be tested against any implementation and
the runtime can change behind the adapter. Every call runs on the event loop's thread (the
executor's steps and the guard are used from it only), and none of them blocks for long (a
dry-run's prediction is tens of milliseconds); only the agents' thinking runs in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from a2a.types import TaskState
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from starlette.types import ASGIApp

from quarterdeck.agents.a2a.cards import EXECUTOR
from quarterdeck.agents.a2a.client import AgentError, Step
from quarterdeck.agents.executor import ExecMode, ExecutionReport, UnknownProposal
from quarterdeck.agents.loop import LoopMode, LoopStep
from quarterdeck.agents.runtime import Runtime, RuntimeRequestError
from quarterdeck.api.dryrun import DryRunResult, dry_run
from quarterdeck.api.schemas import (
    ChatReply,
    ChatStep,
    LoopSettings,
    ProposalFilter,
    ServiceStatus,
    SignalStatus,
    status_matches,
)
from quarterdeck.audit import AuditLog
from quarterdeck.core.models import ActionProposal, Target
from quarterdeck.sim.engine import Simulator

log = logging.getLogger("quarterdeck.api")


class ControlError(Exception):
    """A request the system cannot serve as asked; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Decided:
    """The outcome of an approve/reject that took effect."""

    proposal_id: str
    approved: bool
    message: str
    record: ExecutionReport | None


class Control(Protocol):
    """Exactly what the API calls. Raise `ControlError(status, message)` for 4xx answers."""

    audit: AuditLog

    async def readiness(self) -> dict[str, bool]: ...

    async def services(self) -> tuple[float, list[ServiceStatus]]: ...

    async def dry_run(self, proposal: ActionProposal, horizon: float) -> DryRunResult: ...

    async def submit(self, proposal: ActionProposal, mode: ExecMode) -> ExecutionReport: ...

    async def proposals(
        self, status: ProposalFilter | None, limit: int
    ) -> list[ExecutionReport]: ...

    async def proposal(self, proposal_id: str) -> ExecutionReport | None: ...

    async def decide(
        self, proposal_id: str, *, approve: bool, principal: str, comment: str | None
    ) -> Decided: ...

    def chat(self, text: str, principal: str) -> AsyncIterator[ChatStep]: ...

    async def ask(self, text: str, principal: str) -> ChatReply: ...

    def loop_settings(self) -> LoopSettings: ...

    async def set_loop(self, settings: LoopSettings) -> LoopSettings: ...

    async def tick(self) -> LoopStep: ...

    def a2a_apps(self) -> Mapping[str, ASGIApp]: ...

    def now(self) -> float: ...

    def audit_now(self) -> float: ...


def state_name(state: TaskState | None) -> str | None:
    """`TASK_STATE_INPUT_REQUIRED` → `input_required` (None for a direct message)."""
    if state is None:
        return None
    return str(TaskState.Name(state)).removeprefix("TASK_STATE_").lower()


def chat_step(step: Step) -> ChatStep:
    return ChatStep(
        task_id=step.task_id, state=state_name(step.state), text=step.text, data=list(step.data)
    )


async def _card_answers(http: httpx.AsyncClient, url: str) -> bool:
    try:
        r = await http.get(url.rstrip("/") + AGENT_CARD_WELL_KNOWN_PATH)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def _health_status(report: Mapping[str, Any]) -> str:
    h = str(report.get("health"))
    return h if h in {"ok", "violated", "unknown", "no_data"} else "unknown"


class RuntimeControl:
    """`Control` over the agents' `Runtime` with a local executor (and, on the `sim` target, the
    simulator it drives). `start()` runs the background driver: the simulator advances in real
    time × `speed`, and when the loop is enabled a pass runs every `interval_s` clock seconds.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        audit: AuditLog,
        sim: Simulator | None = None,
        speed: float = 1.0,
        loop: LoopSettings | None = None,
        services_max_age_s: float = 1.0,
    ) -> None:
        if runtime.executor is None:
            raise ValueError("the REST API needs the executor agent in this process")
        self.runtime = runtime
        self.executor = runtime.executor
        self.audit = audit
        self.sim = sim
        self.speed = speed
        self._loop = loop or LoopSettings(mode=runtime.loop.mode, interval_s=15.0, enabled=False)
        # Loop passes and sim advances do not interleave: a pass sees one instant of the world.
        # Requests do not take it: each executor step and each dry-run is synchronous (atomic on
        # this thread) and the simulator's own lock covers the agents' reads from worker threads,
        # so a human's approval never waits for a pass in which an LLM is thinking.
        self._world = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._services_cache: tuple[float, float, tuple[float, list[ServiceStatus]]] | None = None
        self._services_max_age = services_max_age_s
        self._proposals_cache: dict[tuple[int, str | None, int], list[ExecutionReport]] = {}
        self._proposals_seq = -1

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drive(), name="qd-driver")

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stops the driver between steps: a loop pass in flight finishes first. Cancelling it
        half-way could leave an action claimed but not applied (the executor would then have to
        recover it), and the in-process A2A event queues do not unwind cleanly from a
        cancellation. Only a pass still running after `timeout_s` is cancelled."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout_s)
        except TimeoutError:
            log.warning("loop pass still running after %.0f s: cancelling it", timeout_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._task = None
            self._stopping = False

    async def _drive(self) -> None:
        """Advance the world in small steps and run a loop pass every `interval_s` clock seconds.

        The simulator moves at most one wall second at a time (so what `/v1/services` shows
        keeps up with it), and a pass runs once `interval_s` of clock time has gone by since the
        last one. Without a simulator the clock is the wall clock and only passes are due.
        """
        since_pass = 0.0
        while not self._stopping:
            speed = self.speed if self.sim is not None else 1.0
            every = self._loop.interval_s
            step_wall = min(1.0, every / speed) if speed > 0 else 1.0
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=step_wall)
                since_pass = 0.0  # settings changed (or stop): the interval starts again
                continue
            except TimeoutError:
                pass
            since_pass += step_wall * speed
            try:
                async with self._world:
                    sim = self.sim
                    if sim is not None and speed > 0 and not sim.done:
                        sim.advance(min(step_wall * speed, sim.duration - sim.now))
                    if self._loop.enabled and since_pass >= every - 1e-9:
                        since_pass = 0.0
                        await self.runtime.loop_once(self._loop.mode)
            except Exception:  # one failed pass must not stop the driver
                log.exception("loop pass failed")

    # -- reads -------------------------------------------------------------------------------

    def now(self) -> float:
        return self.runtime.deps.clock.now()

    def audit_now(self) -> float:
        """The audit log's notion of now, Unix seconds (the sim's clock is offset by its epoch)."""
        return (self.sim.epoch if self.sim is not None else 0.0) + self.now()

    async def readiness(self) -> dict[str, bool]:
        """The cluster and metrics adapters answer, and so does every agent run elsewhere (its
        card, within 2 s: an agent that does not answer leaves its part of the system down)."""
        deps = self.runtime.deps
        checks = {
            "cluster": bool(deps.cluster.is_online()),
            "metrics": bool(deps.metrics.is_online()),
        }
        remote = self.runtime.settings.remote_agents
        if remote:
            async with httpx.AsyncClient(timeout=2.0) as http:
                for name, url in sorted(remote.items()):
                    checks[f"{name}_agent"] = await _card_answers(http, url)
        return checks

    async def services(self) -> tuple[float, list[ServiceStatus]]:
        """Every service's health. Cached per clock reading: on the simulator nothing changes
        until it advances; on a real cluster the answer is at most `services_max_age_s` old."""
        now = self.now()
        wall = time.monotonic()
        cached = self._services_cache
        if cached is not None and cached[0] == now and wall - cached[1] < self._services_max_age:
            return cached[2]
        deps = self.runtime.deps
        result = deps.registry.call("service_health", {})
        reports = result.data if isinstance(result.data, list) else []
        if result.error and not reports:
            raise ControlError(503, f"cannot read service health: {result.error}")
        deployments = {}
        try:
            deployments = {str(d.target): d for d in deps.cluster.deployments()}
        except Exception as exc:  # the health answer stands without replica counts
            log.warning("cannot list deployments: %s", exc)
        out = []
        for report in reports:
            name = str(report.get("service"))
            ns, _, svc = name.partition("/")
            dep = deployments.get(name)
            signals = {
                k: SignalStatus(
                    value=s.get("value"),
                    unit=str(s.get("unit") or ""),
                    status=str(s.get("status")),
                    observed_at=s.get("observed_at"),
                    slo=s.get("slo"),
                )
                for k, s in (report.get("signals") or {}).items()
            }
            out.append(
                ServiceStatus(
                    service=name,
                    target=Target(namespace=ns, service=svc),
                    health=_health_status(report),
                    replicas=dep.replicas if dep else None,
                    ready_replicas=dep.ready if dep else None,
                    version=dep.version if dep else None,
                    observed_at=report.get("observed_at"),
                    signals=signals,
                    violations=list(report.get("violations") or []),
                    no_data_reason=report.get("no_data_reason"),
                )
            )
        answer = (now, out)
        self._services_cache = (now, wall, answer)
        return answer

    async def proposals(self, status: ProposalFilter | None, limit: int) -> list[ExecutionReport]:
        """Newest first. Every change of a proposal's state is audited, so the audit head's seq
        is a sound cache key: the answer is recomputed only after something was recorded."""
        head = self.audit.head().seq
        if head != self._proposals_seq:
            self._proposals_cache.clear()
            self._proposals_seq = head
        key = (head, status, limit)
        if key in self._proposals_cache:
            return self._proposals_cache[key]
        if status in ("pending", "awaiting_approval"):
            # The ledger lists what waits for a human directly; no need to scan the audit log.
            waiting = reversed(self.executor.approvals(pending_only=True))
            found = (self._report(a.proposal_id) for a in waiting)
            out = [r for r in found if r is not None and status_matches(r, status)][:limit]
        else:
            out = self._scan_proposals(status, limit)
        self._proposals_cache[key] = out
        return out

    def _scan_proposals(self, status: ProposalFilter | None, limit: int) -> list[ExecutionReport]:
        """Proposals in the order they were audited, newest first, filtered by `status`."""
        out: list[ExecutionReport] = []
        seen: set[str] = set()
        offset, page = 0, 500
        while len(out) < limit:
            entries = self.audit.query(
                kind="proposal", newest_first=True, limit=page, offset=offset
            )
            for e in entries:
                pid = e.proposal_id
                if pid is None or pid in seen:
                    continue
                seen.add(pid)
                record = self._report(pid)
                if record is not None and status_matches(record, status):
                    out.append(record)
                    if len(out) >= limit:
                        break
            if len(entries) < page:
                break
            offset += page
        return out

    def _report(self, proposal_id: str) -> ExecutionReport | None:
        try:
            return self.executor.report(proposal_id)
        except UnknownProposal:
            return None  # suggested only, or an executor-internal undo: not an executor run

    async def proposal(self, proposal_id: str) -> ExecutionReport | None:
        return self._report(proposal_id)

    # -- actions -----------------------------------------------------------------------------

    async def dry_run(self, proposal: ActionProposal, horizon: float) -> DryRunResult:
        deps = self.runtime.deps
        if self.sim is not None and self.sim.done:
            raise ControlError(409, "the simulated scenario has ended: nothing to predict")
        return dry_run(
            proposal,
            guard=deps.guard,
            cluster=deps.cluster,
            now=self.now(),
            sim=self.sim,
            horizon=horizon,
            applied=self.executor.ledger.executions(),
            wall_time=deps.wall_time,
        )

    async def submit(self, proposal: ActionProposal, mode: ExecMode) -> ExecutionReport:
        if self._report(proposal.id) is not None:
            raise ControlError(409, f"proposal id {proposal.id!r} was already submitted")
        client = await self.runtime.network.client(EXECUTOR)
        data = {
            "skill": "execute",
            "proposal": proposal.model_dump(mode="json"),
            "mode": mode,
            "trace_id": proposal.trace_id,
        }
        reply = await client.send(data=data)
        report = reply.first("report")
        if report is None:
            raise ControlError(422, f"the executor refused the proposal: {reply.text}")
        return ExecutionReport.model_validate(report)

    async def decide(
        self, proposal_id: str, *, approve: bool, principal: str, comment: str | None
    ) -> Decided:
        try:
            outcome = await self.runtime.decide(
                proposal_id, approve=approve, principal=principal, comment=comment
            )
        except RuntimeRequestError as exc:
            raise ControlError(404, str(exc)) from exc
        except AgentError as exc:
            raise ControlError(409, f"the executor refused the decision: {exc}") from exc
        if not outcome.decided:
            if outcome.state in {"approved", "rejected"}:
                raise ControlError(409, outcome.message)
            # Still waiting: the executor refused this principal (e.g. its four-eyes rule).
            raise ControlError(403, outcome.message or "the executor refused this decision")
        return Decided(
            proposal_id=proposal_id,
            approved=approve,
            message=outcome.message,
            record=self._report(proposal_id),
        )

    # -- chat --------------------------------------------------------------------------------

    async def chat(self, text: str, principal: str) -> AsyncIterator[ChatStep]:
        async for step in self.runtime.chat(text, principal):
            yield chat_step(step)

    async def ask(self, text: str, principal: str) -> ChatReply:
        reply = await self.runtime.ask(text, principal)
        approval = reply.first("approval") if reply.waiting else None
        return ChatReply(
            task_id=reply.task_id,
            state=state_name(reply.state) or "message",
            text=reply.text,
            approval=approval if isinstance(approval, dict) else None,
            steps=[chat_step(s) for s in reply.steps],
        )

    # -- loop --------------------------------------------------------------------------------

    def loop_settings(self) -> LoopSettings:
        return self._loop.model_copy(update={"mode": self.runtime.loop.mode})

    async def set_loop(self, settings: LoopSettings) -> LoopSettings:
        self._loop = settings
        self.runtime.loop.mode = LoopMode(settings.mode)
        self._wake.set()
        return self.loop_settings()

    async def tick(self) -> LoopStep:
        async with self._world:
            return await self.runtime.loop_once(self._loop.mode)

    def a2a_apps(self) -> Mapping[str, ASGIApp]:
        return dict(self.runtime.apps)
