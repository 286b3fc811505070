"""The one way an agent (or the runtime, or a test) talks to another agent: `AgentClient`.

`send` delivers a message — text and/or a `Part(data=…)` payload — and returns the final state of
the task (or the agent's direct reply) as a `Reply`; `stream` yields each step as it happens. A
reply to a task that already finished raises `TaskFinished`, which is how a second approval learns
that the first one already decided.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from a2a.client import Client as A2AClient
from a2a.client import ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, SendMessageRequest, StreamResponse, TaskState
from a2a.utils.errors import A2AError, UnsupportedOperationError

from quarterdeck.agents.a2a.payloads import data_of, data_part, text_of

DEFAULT_TIMEOUT_S = 120.0

INTERRUPTED = frozenset({TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_AUTH_REQUIRED})
TERMINAL = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_REJECTED,
    }
)


class AgentError(Exception):
    """The agent (or the A2A layer in front of it) refused or failed the request."""


class TaskFinished(AgentError):
    """The task named by the message already reached a terminal state."""


@dataclass(frozen=True)
class Step:
    """One event of a running task: a status change or an artifact, with what it carried."""

    task_id: str
    context_id: str
    state: TaskState | None
    text: str
    data: tuple[dict[str, Any], ...]


@dataclass
class Reply:
    """Where a request ended: the task's state and everything the agent said along the way."""

    task_id: str | None = None
    context_id: str | None = None
    state: TaskState | None = None
    text: str = ""
    data: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def state_name(self) -> str:
        return "message" if self.state is None else TaskState.Name(self.state)

    @property
    def waiting(self) -> bool:
        return self.state in INTERRUPTED

    @property
    def completed(self) -> bool:
        return self.state == TaskState.TASK_STATE_COMPLETED

    def first(self, key: str) -> Any:
        """The value of `key` in the last data payload that has it (None if none does)."""
        for payload in reversed(self.data):
            if key in payload:
                return payload[key]
        return None


def user_message(
    text: str | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    task_id: str | None = None,
    context_id: str | None = None,
) -> Message:
    """A user message with optional text and one data part."""
    parts: list[Part] = []
    if text:
        parts.append(Part(text=text))
    if data is not None:
        parts.append(data_part(data))
    if not parts:
        raise ValueError("a message needs text or data")
    return Message(
        role=Role.ROLE_USER,
        message_id=uuid.uuid4().hex,
        task_id=task_id or "",
        context_id=context_id or "",
        parts=parts,
    )


def _step(event: StreamResponse) -> Step | None:
    kind = event.WhichOneof("payload")
    if kind == "task":
        t = event.task
        parts = list(t.status.message.parts)
        for artifact in t.artifacts:
            parts.extend(artifact.parts)
        return Step(t.id, t.context_id, t.status.state, text_of(parts), tuple(data_of(parts)))
    if kind == "status_update":
        u = event.status_update
        parts = list(u.status.message.parts)
        return Step(u.task_id, u.context_id, u.status.state, text_of(parts), tuple(data_of(parts)))
    if kind == "artifact_update":
        a = event.artifact_update
        parts = list(a.artifact.parts)
        return Step(a.task_id, a.context_id, None, text_of(parts), tuple(data_of(parts)))
    if kind == "message":
        m = event.message
        parts = list(m.parts)
        return Step(m.task_id, m.context_id, None, text_of(parts), tuple(data_of(parts)))
    return None


class AgentClient:
    """A connection to one agent. Create with `connect`; close with `aclose`."""

    def __init__(self, client: A2AClient, name: str, owned_http: httpx.AsyncClient | None) -> None:
        self._client = client
        self.name = name
        self._owned_http = owned_http

    @classmethod
    async def connect(
        cls,
        base_url: str,
        *,
        http: httpx.AsyncClient | None = None,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> AgentClient:
        """Resolve the agent card at `base_url` and connect. `http` may carry an ASGI transport."""
        owned = None
        if http is None:
            http = owned = httpx.AsyncClient(timeout=timeout_s)
        if token:
            http.headers["Authorization"] = f"Bearer {token}"
        try:
            client = await ClientFactory(
                ClientConfig(streaming=True, httpx_client=http)
            ).create_from_url(base_url)
        except Exception:
            if owned is not None:
                await owned.aclose()
            raise
        return cls(client, base_url, owned)

    async def aclose(self) -> None:
        await self._client.close()
        if self._owned_http is not None:
            await self._owned_http.aclose()

    async def stream(
        self,
        text: str | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        task_id: str | None = None,
        context_id: str | None = None,
    ) -> AsyncIterator[Step]:
        """Send a message and yield each step until the task ends or waits for input."""
        message = user_message(text, data, task_id=task_id, context_id=context_id)
        try:
            async for event in self._client.send_message(SendMessageRequest(message=message)):
                step = _step(event)
                if step is not None:
                    yield step
        except UnsupportedOperationError as exc:
            if "terminal state" in str(exc):
                raise TaskFinished(str(exc)) from exc
            raise AgentError(str(exc)) from exc
        except A2AError as exc:
            raise AgentError(f"{type(exc).__name__}: {exc}") from exc

    async def send(
        self,
        text: str | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        task_id: str | None = None,
        context_id: str | None = None,
    ) -> Reply:
        """Send a message and return where the task ended (or the direct reply)."""
        reply = Reply()
        async for step in self.stream(text, data, task_id=task_id, context_id=context_id):
            reply.steps.append(step)
            reply.task_id = step.task_id or reply.task_id
            reply.context_id = step.context_id or reply.context_id
            if step.state is not None:
                reply.state = step.state
            if step.text:
                reply.text = step.text
            reply.data.extend(step.data)
        return reply
