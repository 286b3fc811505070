"""The executor agent's A2A face: tasks in, `ExecutorService` underneath.

One A2A task per proposal. The task's state follows the proposal's:

| execution status                         | task state          |
| ---------------------------------------- | ------------------- |
| awaiting_approval                        | input-required      |
| denied (guard), rejected (human)         | rejected            |
| failed, unconfirmed, in_progress         | failed              |
| applied, verified, rolled_back, escalated | completed          |

An approval is a message on the same task (`task_id`/`context_id`) with data
`{"skill": "decide", "approve": bool, "principal": str, "comment": str}`. When the server runs with
an `Authenticator`, the authenticated principal is the approver and the payload's is ignored.
"""

from __future__ import annotations

import uuid
from typing import Any

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import Message, Part, Role, Task
from pydantic import ValidationError

from quarterdeck.agents.a2a.payloads import data_part, find_skill
from quarterdeck.agents.a2a.server import call_principal
from quarterdeck.agents.executor import (
    ExecutionReport,
    ExecutionStatus,
    ExecutorError,
    ExecutorService,
    NotAllowed,
)
from quarterdeck.core.models import ActionProposal

_REFUSED = {ExecutionStatus.DENIED, ExecutionStatus.REJECTED}
# IN_PROGRESS reaches a task only if a run stopped mid-apply: not known to be applied.
_FAILED = {ExecutionStatus.FAILED, ExecutionStatus.UNCONFIRMED, ExecutionStatus.IN_PROGRESS}


def reply_message(
    context: RequestContext, text: str, data: dict[str, Any] | None = None
) -> Message:
    """A direct (task-less) agent reply in the caller's context."""
    parts = [Part(text=text)]
    if data is not None:
        parts.append(data_part(data))
    return Message(
        role=Role.ROLE_AGENT,
        message_id=uuid.uuid4().hex,
        context_id=context.context_id or "",
        parts=parts,
    )


async def publish_report(updater: TaskUpdater, report: ExecutionReport) -> None:
    """Move the task to the state that matches `report`, carrying the report as data."""
    payload = {"report": report.model_dump(mode="json")}
    message = updater.new_agent_message([Part(text=report.message), data_part(payload)])
    if report.status is ExecutionStatus.AWAITING_APPROVAL:
        await updater.requires_input(message)
    elif report.status in _REFUSED:
        await updater.reject(message)
    elif report.status in _FAILED:
        await updater.failed(message)
    else:
        await updater.add_artifact([data_part(payload)], name="execution-report")
        await updater.complete(message)


class ExecutorAgent(AgentExecutor):
    """Skills: execute, decide, approvals, verify_due (see the executor's agent card)."""

    def __init__(self, service: ExecutorService) -> None:
        self.service = service

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        if message is None:
            return
        skill, payload = find_skill(message.parts)
        task = context.current_task
        if skill == "execute" and task is None:
            await self._execute(context, event_queue, payload)
        elif skill == "decide" and task is not None:
            await self._decide(context, event_queue, task, payload)
        elif skill == "approvals" and task is None:
            await event_queue.enqueue_event(reply_message(context, *self._approvals(payload)))
        elif skill == "preview" and task is None:
            await event_queue.enqueue_event(reply_message(context, *self._preview(payload)))
        elif skill == "verify_due" and task is None:
            reports = [r.model_dump(mode="json") for r in self.service.verify_due()]
            text = f"verified {len(reports)} applied action(s)"
            await event_queue.enqueue_event(
                reply_message(context, text, {"verifications": reports})
            )
        elif task is not None:
            updater = TaskUpdater(event_queue, task.id, task.context_id)
            hint = 'resume this task with {"skill": "decide", "approve": true|false, "principal"}'
            await updater.requires_input(
                updater.new_agent_message([Part(text=f"unexpected message: {hint}")])
            )
        else:
            known = "execute, decide (on a waiting task), approvals, preview, verify_due"
            await event_queue.enqueue_event(
                reply_message(context, f"unknown or missing skill {skill!r}; known: {known}")
            )

    def _preview(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The guard's decision on each of `proposals`, applying and recording nothing."""
        try:
            proposals = [ActionProposal.model_validate(p) for p in payload.get("proposals") or []]
        except ValidationError as exc:
            return f"invalid proposals: {exc.errors()[0]['msg']}", {}
        decisions = [d.value for d in self.service.preview(proposals)]
        return f"previewed {len(decisions)} proposal(s)", {"decisions": decisions}

    def _approvals(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Pending approvals (or the one named by `proposal_id`, whatever its status), and the
        applied proposals still waiting for their settle time."""
        pid = payload.get("proposal_id")
        if isinstance(pid, str):
            found = self.service.ledger.approval(pid)
            items = [found] if found is not None else []
            text = f"approval of {pid}: {found.status.value}" if found else f"no approval for {pid}"
        else:
            items = self.service.approvals()
            text = f"{len(items)} proposal(s) waiting for approval"
        settling = []
        for p, due in self.service.ledger.pending_verifications():
            record = self.service.ledger.execution(p)
            service = f"{record.namespace}/{record.service}" if record else None
            kind = record.kind if record else None
            settling.append({"proposal_id": p, "due_at": due, "service": service, "kind": kind})
        return text, {
            "approvals": [a.model_dump(mode="json") for a in items],
            "settling": settling,
        }

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()

    async def _execute(
        self, context: RequestContext, event_queue: EventQueue, payload: dict[str, Any]
    ) -> None:
        assert context.message is not None
        try:
            proposal = ActionProposal.model_validate(payload.get("proposal"))
        except ValidationError as exc:
            await event_queue.enqueue_event(
                reply_message(context, f"invalid proposal: {exc.errors()[0]['msg']} ({exc})")
            )
            return
        mode = payload.get("mode", "auto")
        if mode not in ("auto", "approve"):
            await event_queue.enqueue_event(
                reply_message(context, f"invalid mode {mode!r}; expected auto or approve")
            )
            return
        task = new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        trace = payload.get("trace_id")
        report = self.service.execute(
            proposal,
            mode=mode,
            trace_id=trace if isinstance(trace, str) else None,
            task_id=task.id,
            context_id=task.context_id,
        )
        await publish_report(updater, report)

    async def _decide(
        self,
        context: RequestContext,
        event_queue: EventQueue,
        task: Task,
        payload: dict[str, Any],
    ) -> None:
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        proposal_id = self.service.ledger.proposal_of_task(task.id)
        principal = call_principal(context.call_context) or payload.get("principal")
        if proposal_id is None or not isinstance(principal, str) or not principal:
            problem = (
                "this task carries no proposal" if proposal_id is None else "a principal is needed"
            )
            await updater.requires_input(updater.new_agent_message([Part(text=problem)]))
            return
        comment = payload.get("comment")
        try:
            report = self.service.decide(
                proposal_id,
                approve=bool(payload.get("approve")),
                principal=principal,
                comment=comment if isinstance(comment, str) else None,
            )
        except NotAllowed as exc:
            await updater.requires_input(updater.new_agent_message([Part(text=str(exc))]))
            return
        except ExecutorError:
            # Already decided through another path: the task follows the recorded outcome.
            report = self.service.report(proposal_id)
        await publish_report(updater, report)
