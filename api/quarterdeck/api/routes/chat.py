"""Chat with the agents: `POST /v1/chat` (JSON) and `POST /v1/chat/stream` (server-sent events).

The stream sends one `step` event per step the agents take (observer, planner, executor…), then
one `final` event with where the request ended — or an `error` event if the agents failed, since
a stream that has started cannot change its HTTP status.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from sse_starlette import EventSourceResponse, ServerSentEvent

from quarterdeck.agents.a2a.client import AgentError
from quarterdeck.api.routes.common import ControlDep, Operator, problems, strict_body
from quarterdeck.api.schemas import ChatReply, ChatRequest, ChatStep

router = APIRouter(prefix="/v1", tags=["chat"])

# One event of the stream, as OpenAPI 3.1 describes an event stream (a schema per event).
SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["step", "final", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "a ChatStep as JSON (step, final), or {detail} (error)",
        },
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
log = logging.getLogger("quarterdeck.api")


@router.post(
    "/chat",
    response_model=ChatReply,
    dependencies=[Depends(strict_body(ChatRequest))],
    summary="Ask the agents in words; the answer once they are done",
    responses=problems(503),
)
async def chat(body: ChatRequest, control: ControlDep, who: Operator) -> ChatReply:
    return await control.ask(body.text, who.name)


@router.post(
    "/chat/stream",
    dependencies=[Depends(strict_body(ChatRequest))],
    summary="Ask the agents in words; their steps as server-sent events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "`event: step` (a ChatStep) per step, then `event: final` "
            "(a ChatStep: the last state and answer) or `event: error`",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
        **problems(),
    },
)
async def chat_stream(body: ChatRequest, control: ControlDep, who: Operator) -> EventSourceResponse:
    async def events() -> AsyncIterator[ServerSentEvent]:
        last: ChatStep | None = None
        try:
            async for step in control.chat(body.text, who.name):
                last = step
                yield ServerSentEvent(data=step.model_dump_json(), event="step")
        except (AgentError, OSError) as exc:
            log.warning("chat stream failed: %s", exc)
            yield ServerSentEvent(
                data=f'{{"detail": "the agents failed: {type(exc).__name__}"}}', event="error"
            )
            return
        final = last or ChatStep(state="failed", text="the agents sent no answer")
        yield ServerSentEvent(data=final.model_dump_json(), event="final")

    return EventSourceResponse(events(), ping=15)
