"""The observer agent's A2A face: `{"skill": "diagnose"}` in, `DiagnoseResult` out (one message).

The diagnosis itself is injected (`Diagnoser`): the runtime passes the brain's; tests pass a
scripted one. A diagnoser that raises is reported in words, never as a crashed task. It runs in a
worker thread: a reasoner waiting seconds on an LLM must not stall the server's event loop (the
tools it reads through take the simulator's lock, so the driver cannot advance mid-read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from pydantic import ValidationError

from quarterdeck.agents.a2a.executor_agent import reply_message
from quarterdeck.agents.a2a.payloads import find_skill, jsonable
from quarterdeck.agents.a2a.wire import DiagnoseRequest, DiagnoseResult, Health, ServiceHealth
from quarterdeck.agents.reasoning.protocol import traced
from quarterdeck.core.models import Target

Diagnoser = Callable[[Sequence[Target] | None], list[ServiceHealth]]


class ObserverAgent(AgentExecutor):
    def __init__(self, diagnose: Diagnoser) -> None:
        self._diagnose = diagnose

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.message is None:
            return
        skill, payload = find_skill(context.message.parts)
        if skill != "diagnose":
            await event_queue.enqueue_event(
                reply_message(context, f'unknown skill {skill!r}; send {{"skill": "diagnose"}}')
            )
            return
        try:
            request = DiagnoseRequest.model_validate(payload)
            with traced(payload.get("trace_id")):  # the caller's incident or request
                services = await asyncio.to_thread(self._diagnose, request.services)
        except ValidationError as exc:
            await event_queue.enqueue_event(reply_message(context, f"invalid request: {exc}"))
            return
        except Exception as exc:  # the agent answers; it does not crash the task
            await event_queue.enqueue_event(
                reply_message(context, f"diagnosis failed: {type(exc).__name__}: {exc}")
            )
            return
        result = DiagnoseResult(services=services)
        await event_queue.enqueue_event(
            reply_message(context, summarise(services), jsonable(result))
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


def summarise(services: Sequence[ServiceHealth]) -> str:
    """One line per service that is not OK; a short all-clear otherwise."""
    bad = [s for s in services if s.health is not Health.OK]
    if not bad:
        return f"all {len(services)} service(s) within SLO"
    return "\n".join(f"{s.target}: {s.summary}" for s in bad)
