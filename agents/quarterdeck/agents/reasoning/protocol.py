"""The reasoner protocol: one step of thinking, from a transcript and a tool list to either tool
calls or a final answer.

```python
class Reasoner(Protocol):
    name: str
    def step(self, request: ReasonerRequest) -> ReasonerReply: ...
```

A `ReasonerRequest` carries the agent's role (`coordinator` | `observer` | `planner`), its
instructions, the transcript so far (`Message`s: the user's task, the assistant's tool calls, the
tool results as JSON) and the tools it may call (`ToolSpec`: name, description, JSON-schema
parameters — the OpenAI `tools` format). The structured form of the task travels in `task` so a
deterministic reasoner need not parse the words a language model reads.

A `ReasonerReply` is either `tool_calls` (each `ToolCall(id, name, arguments)`; a call whose
arguments were not valid JSON carries `error` instead, and the graph answers it with a tool
error), or `final` (`FinalAnswer`: text for people plus a structured `payload`), or a `refusal`.
`usage` counts tokens when the backend knows them.

`trace_id` is the incident's or request's trace: the audit files each step under it. The agent
that takes a request sets it for the turns it runs (`with traced(trace_id): …`) and the graph copies
it into every `ReasonerRequest` of those turns.

A reasoner never touches the cluster: it only names tools. The graph runs them through the tool
registry (validated, enveloped), proposals only come out of typed action tools, and everything
still passes the guard. A backend that cannot answer at all (server unreachable, timed out after
its retries) raises `ReasonerUnavailable` with a message that says which server and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["coordinator", "observer", "planner"]
ROLES: tuple[Role, ...] = ("coordinator", "observer", "planner")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolSpec(_Frozen):
    """A tool as a model sees it: the OpenAI function-calling shape, flattened."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    kind: Literal["read", "act"] = "read"

    @classmethod
    def from_openai(cls, spec: dict[str, Any], kind: Literal["read", "act"] = "read") -> ToolSpec:
        fn = spec["function"]
        return cls(
            name=fn["name"],
            description=fn.get("description", ""),
            parameters=fn.get("parameters") or {"type": "object"},
            kind=kind,
        )

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class ToolCall(_Frozen):
    """One call the reasoner wants made. `error` set = the arguments could not be read (e.g.
    malformed JSON); the graph reports it back to the reasoner and runs nothing."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class Message(_Frozen):
    """One transcript entry. Tool results carry the envelope as `data` (for the embedded
    reasoner) and as quoted JSON text in `content` (what a language model reads)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    data: Any = None


class Usage(_Frozen):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class FinalAnswer(_Frozen):
    """The end of a turn: words for a person and, where the role has one, a structured payload
    (observer: `{"diagnoses": [...]}`, planner: `{"ranking": [...]}`, coordinator:
    `{"intent": …}`)."""

    text: str
    payload: dict[str, Any] | None = None


class ReasonerRequest(_Frozen):
    role: Role
    instructions: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    task: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int | None = Field(default=None, description="completion budget for this step")
    trace_id: str | None = Field(
        default=None, description="the incident's or request's trace id, for the audit log"
    )


class ReasonerReply(_Frozen):
    tool_calls: tuple[ToolCall, ...] = ()
    final: FinalAnswer | None = None
    refusal: str | None = None
    usage: Usage | None = None

    @property
    def is_final(self) -> bool:
        return not self.tool_calls


class ReasonerUnavailable(RuntimeError):
    """The backend could not be reached or did not answer in time (after its retries)."""


_TRACE: ContextVar[str | None] = ContextVar("quarterdeck_reasoner_trace", default=None)


def current_trace_id() -> str | None:
    """The trace the reasoner turns running now belong to (set by `traced`)."""
    return _TRACE.get()


@contextmanager
def traced(trace_id: object) -> Iterator[None]:
    """Reasoner turns run inside the block belong to `trace_id`; anything but a non-empty string
    (e.g. a payload without one) leaves the current trace as it is."""
    if not isinstance(trace_id, str) or not trace_id:
        yield
        return
    token = _TRACE.set(trace_id)
    try:
        yield
    finally:
        _TRACE.reset(token)


@runtime_checkable
class Reasoner(Protocol):
    name: str

    def step(self, request: ReasonerRequest) -> ReasonerReply: ...
