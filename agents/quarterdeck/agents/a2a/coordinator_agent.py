"""The coordinator agent: a request in plain words → intent → observer / planner / executor → an
answer in plain words with the evidence behind it.

Each chat request is one A2A task that streams its steps as `working` status updates. When the
executor needs a human, the coordinator's task waits in input-required too, carrying
`{"approval": {"proposal_id", "executor_task_id", "executor_context_id"}}`; a `decide` message on
the coordinator's task is forwarded to the executor's task, so a client that only knows the
coordinator can run a request and its approval end to end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskStore, TaskUpdater
from a2a.types import ListTasksRequest, Part, Task, TaskState

from quarterdeck.agents.a2a.cards import EXECUTOR, OBSERVER, PLANNER
from quarterdeck.agents.a2a.client import AgentError, Reply, TaskFinished
from quarterdeck.agents.a2a.executor_agent import reply_message
from quarterdeck.agents.a2a.payloads import data_of, data_part, find_skill, text_of
from quarterdeck.agents.a2a.server import call_principal
from quarterdeck.agents.a2a.transport import AgentNetwork
from quarterdeck.agents.a2a.wire import (
    DiagnoseResult,
    Health,
    Intent,
    PlanResult,
    ServiceHealth,
)
from quarterdeck.agents.executor import AuditSink
from quarterdeck.agents.reasoning.protocol import traced
from quarterdeck.core.models import ActionProposal

IntentParser = Callable[[str], Intent]
COORDINATOR_PRINCIPAL = "agent:coordinator"


# What an evidence threshold is, by signal: only latency and errors are held to the SLO itself.
_THRESHOLD_NAMES = {
    "p95_latency_ms": "SLO",
    "error_ratio": "SLO",
    "ready_replicas": "desired",
    "capacity_per_replica_rps": "nominal",
}


def _evidence_lines(health: ServiceHealth) -> list[str]:
    lines = []
    for e in health.evidence:
        value = "no data" if e.value is None else f"{e.value:g}"
        what = _THRESHOLD_NAMES.get(e.signal, "threshold")
        limit = f" ({what} {e.threshold:g})" if e.threshold is not None else ""
        lines.append(f"  - {e.signal} = {value}{limit}")
    return lines


def waiting_approval(task: Task) -> dict[str, Any] | None:
    """The approval a coordinator task waits for, from its last status message."""
    for payload in data_of(task.status.message.parts):
        approval = payload.get("approval")
        if isinstance(approval, dict):
            return approval
    return None


class CoordinatorAgent(AgentExecutor):
    def __init__(
        self,
        network: AgentNetwork,
        understand: IntentParser,
        audit: AuditSink,
        *,
        mode: str = "auto",
        tasks: TaskStore | None = None,
    ) -> None:
        self._network = network
        self._understand = understand
        self._audit = audit
        self._mode = mode
        self._tasks = tasks  # this agent's own task store: which task waits on which proposal

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        if message is None:
            return
        skill, payload = find_skill(message.parts)
        task = context.current_task
        principal = call_principal(context.call_context) or payload.get("principal") or "anonymous"
        if task is not None:
            updater = TaskUpdater(event_queue, task.id, task.context_id)
            if skill == "decide":
                await self._decide(updater, task, payload, str(principal))
            else:
                await updater.requires_input(
                    updater.new_agent_message(
                        [Part(text='waiting for {"skill": "decide", "approve": true|false}')]
                    )
                )
            return
        if skill == "waiting":
            found = await self._waiting_task(str(payload.get("proposal_id")), context)
            text = "no chat request waits on that proposal" if found is None else "found"
            await event_queue.enqueue_event(reply_message(context, text, {"waiting": found}))
            return
        text = text_of(list(message.parts)).strip()
        new = new_task_from_user_message(message)
        await event_queue.enqueue_event(new)
        updater = TaskUpdater(event_queue, new.id, new.context_id)
        if not text:
            await updater.reject(updater.new_agent_message([Part(text="send a request in words")]))
            return
        await self._chat(updater, text, str(principal), trace=f"trace-chat-{new.id[:12]}")

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()

    # -- a request ---------------------------------------------------------------------------

    async def _chat(self, up: TaskUpdater, text: str, principal: str, trace: str) -> None:
        self._audit.append(
            "request", {"channel": "chat", "text": text}, principal=principal, trace_id=trace
        )
        with traced(trace):
            intent = await asyncio.to_thread(self._understand, text)
        if intent.failed:
            text = f"could not work out the request: {intent.explanation}"
            await up.failed(up.new_agent_message([Part(text=text)]))
            return
        await self._say(up, f"understood: {intent.explanation or intent.kind}", {"intent": intent})
        if intent.kind == "unknown":
            text = intent.explanation or (
                "I did not understand that as a request about a service. Try "
                '"how is fraud-detector doing?", "p95 of ranker is high, fix it", '
                '"scale fraud-detector to 6", "roll back recommender".'
            )
            await up.complete(up.new_agent_message([Part(text=text)]))
            return
        services = [intent.target] if intent.target else None
        where = str(intent.target) if intent.target else "every service"
        await self._say(up, f"asking the observer about {where}")
        observed = await self._ask(
            OBSERVER, {"skill": "diagnose", "services": services, "trace_id": trace}
        )
        raw = observed.first("services")
        if raw is None:
            await up.failed(up.new_agent_message([Part(text=f"observer: {observed.text}")]))
            return
        healths = DiagnoseResult.model_validate({"services": raw}).services
        await self._say(up, f"observer: {observed.text}", {"services": healths})
        if intent.kind == "diagnose" or intent.target is None:
            await up.complete(up.new_agent_message([Part(text=_diagnosis_answer(healths))]))
            return
        health = healths[0]
        if intent.kind == "act" and intent.action is not None:
            proposal = ActionProposal(
                id=f"chat-{uuid.uuid4().hex[:12]}",
                target=intent.target,
                action=intent.action,
                reason=f"requested by {principal}: {text}",
                evidence=health.valued_evidence(),
                trace_id=trace,
                requested_by=principal,
            )
        else:
            found = await self._plan(up, health, trace)
            if found is None:
                return
            proposal = found.model_copy(
                update={
                    "id": f"chat-{uuid.uuid4().hex[:12]}",
                    "trace_id": trace,
                    "requested_by": principal,
                }
            )
        await self._say(up, f"asking the executor to apply: {proposal.reason or proposal.kind}")
        reply = await self._ask(
            EXECUTOR,
            {"skill": "execute", "proposal": proposal, "mode": self._mode, "trace_id": trace},
        )
        await self._finish_with(up, reply, health, proposal.id)

    async def _plan(
        self, up: TaskUpdater, health: ServiceHealth, trace: str
    ) -> ActionProposal | None:
        if health.health is Health.NO_DATA:
            await up.complete(
                up.new_agent_message(
                    [
                        Part(
                            text=f"{health.target}: no fresh signals, so I will not act. "
                            f"{health.summary}"
                        )
                    ]
                )
            )
            return None
        if health.health is Health.OK:
            lines = [
                f"{health.target} is within its SLO; nothing to fix.",
                *_evidence_lines(health),
            ]
            await up.complete(up.new_agent_message([Part(text="\n".join(lines))]))
            return None
        planned = await self._ask(PLANNER, {"skill": "plan", "health": health, "trace_id": trace})
        raw = planned.first("proposals")
        if raw is None:
            await up.failed(up.new_agent_message([Part(text=f"planner: {planned.text}")]))
            return None
        result = PlanResult.model_validate({"proposals": raw, "notes": planned.first("notes")})
        await self._say(up, f"planner: {planned.text}", {"proposals": result.proposals})
        if not result.proposals:
            await up.complete(up.new_agent_message([Part(text=planned.text)]))
            return None
        return result.proposals[0]

    async def _finish_with(
        self, up: TaskUpdater, reply: Reply, health: ServiceHealth | None, proposal_id: str
    ) -> None:
        report = reply.first("report") or {}
        lines = [reply.text or "the executor gave no answer"]
        if health is not None:
            lines = [f"{health.target}: {health.summary}", *_evidence_lines(health), *lines]
        message = up.new_agent_message([Part(text="\n".join(lines)), data_part({"report": report})])
        if reply.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            approval = {
                "proposal_id": proposal_id,
                "executor_task_id": reply.task_id,
                "executor_context_id": reply.context_id,
            }
            ask = (
                f"proposal {proposal_id} needs approval; reply on this task with "
                '{"skill": "decide", "approve": true|false}'
            )
            await up.requires_input(
                up.new_agent_message(
                    [
                        Part(text="\n".join([*lines, ask])),
                        data_part({"approval": approval, "report": report}),
                    ]
                )
            )
        elif reply.state == TaskState.TASK_STATE_REJECTED:
            await up.reject(message)
        elif reply.state == TaskState.TASK_STATE_FAILED or reply.state is None:
            await up.failed(message)
        else:
            await up.complete(message)

    # -- an approval -------------------------------------------------------------------------

    async def _decide(
        self, up: TaskUpdater, task: Task, payload: dict[str, Any], principal: str
    ) -> None:
        approval = waiting_approval(task)
        if approval is None:
            await up.requires_input(
                up.new_agent_message([Part(text="this task is not waiting for an approval")])
            )
            return
        decision = {
            "skill": "decide",
            "approve": bool(payload.get("approve")),
            "principal": principal,
            "comment": payload.get("comment"),
        }
        client = await self._network.client(EXECUTOR)
        try:
            reply = await client.send(
                data=decision,
                task_id=str(approval["executor_task_id"]),
                context_id=str(approval["executor_context_id"]),
            )
        except TaskFinished:
            status = await self._ask(
                EXECUTOR, {"skill": "approvals", "proposal_id": approval["proposal_id"]}
            )
            await up.complete(
                up.new_agent_message(
                    [Part(text=f"already decided — {status.text}"), data_part({"already": True})]
                )
            )
            return
        except AgentError as exc:
            await up.requires_input(up.new_agent_message([Part(text=f"executor: {exc}")]))
            return
        await self._finish_with(up, reply, None, str(approval["proposal_id"]))

    # -- helpers -----------------------------------------------------------------------------

    async def _waiting_task(
        self, proposal_id: str, context: RequestContext
    ) -> dict[str, str] | None:
        """The chat task of this coordinator that waits for `proposal_id` to be decided."""
        if self._tasks is None:
            return None
        page = await self._tasks.list(
            ListTasksRequest(status=TaskState.TASK_STATE_INPUT_REQUIRED, page_size=500),
            context.call_context or ServerCallContext(),
        )
        for task in page.tasks:
            waiting = waiting_approval(task)
            if waiting is not None and waiting.get("proposal_id") == proposal_id:
                return {"task_id": task.id, "context_id": task.context_id}
        return None

    async def _ask(self, agent: str, data: dict[str, Any]) -> Reply:
        client = await self._network.client(agent)
        return await client.send(data=data)

    async def _say(self, up: TaskUpdater, text: str, data: dict[str, Any] | None = None) -> None:
        parts = [Part(text=text)]
        if data is not None:
            parts.append(data_part(data))
        await up.update_status(TaskState.TASK_STATE_WORKING, up.new_agent_message(parts))


def _diagnosis_answer(healths: list[ServiceHealth]) -> str:
    if not healths:
        return "no services found"
    lines = []
    for h in healths:
        lines.append(f"{h.target}: {h.health.value} — {h.summary}")
        lines.extend(_evidence_lines(h))
    return "\n".join(lines)
