"""The planner agent's A2A face: `{"skill": "plan", "health": ServiceHealth}` in, ranked
`ActionProposal`s out (one message). The planning itself (`Planner`) is injected and runs in a
worker thread, like the observer's diagnosis (an LLM turn must not stall the event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from pydantic import ValidationError

from quarterdeck.agents.a2a.executor_agent import reply_message
from quarterdeck.agents.a2a.payloads import find_skill, jsonable
from quarterdeck.agents.a2a.wire import PlanRequest, PlanResult, ServiceHealth
from quarterdeck.agents.reasoning.protocol import traced

Planner = Callable[[ServiceHealth], PlanResult]


class PlannerAgent(AgentExecutor):
    def __init__(self, plan: Planner) -> None:
        self._plan = plan

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.message is None:
            return
        skill, payload = find_skill(context.message.parts)
        if skill != "plan":
            await event_queue.enqueue_event(
                reply_message(context, f'unknown skill {skill!r}; send {{"skill": "plan", …}}')
            )
            return
        try:
            request = PlanRequest.model_validate(payload)
            with traced(payload.get("trace_id")):  # the caller's incident or request
                result = await asyncio.to_thread(self._plan, request.health)
        except ValidationError as exc:
            await event_queue.enqueue_event(reply_message(context, f"invalid request: {exc}"))
            return
        except Exception as exc:  # the agent answers; it does not crash the task
            await event_queue.enqueue_event(
                reply_message(context, f"planning failed: {type(exc).__name__}: {exc}")
            )
            return
        if result.proposals:
            lines = [
                f"{i + 1}. {p.kind} {p.target}: {p.reason}" for i, p in enumerate(result.proposals)
            ]
            text = "candidate actions, best first:\n" + "\n".join(lines)
        else:
            text = result.notes or "no action to propose"
        await event_queue.enqueue_event(reply_message(context, text, jsonable(result)))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None
