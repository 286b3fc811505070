"""A reasoner over any OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, LiteLLM),
with tool calling, through the `openai` client.

```python
settings = LLMSettings(base_url="http://127.0.0.1:11434/v1", model="qwen2.5")
reasoner = make_reasoner(settings)  # OpenAIReasoner, behind FallbackReasoner if configured
```

Bounds: the graph bounds steps and total tokens; each request asks for at most
`max_tokens_per_step` completion tokens (less when the turn's budget is smaller), waits at most
`timeout_s`, and the client retries `max_retries` times on connection errors, 408/409/429/5xx.

The model's output is untrusted input:
- a tool call whose arguments are not a JSON object is returned as `ToolCall(error=…)`; the
  graph answers it with a tool error (so are unknown tools and arguments that fail the tool's
  pydantic model) — the model may correct itself within the step bound;
- a refusal ends the turn (`stopped="refused"`);
- proposals only come out of the typed action tools, and everything still goes through the guard.

An unreachable or failing server raises `ReasonerUnavailable` naming the URL and the cause;
`FallbackReasoner` answers with the embedded reasoner instead, and says so in the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import openai
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from quarterdeck.agents.brain.diagnosis import DiagnosisSettings
from quarterdeck.agents.reasoning.protocol import (
    FinalAnswer,
    Message,
    Reasoner,
    ReasonerReply,
    ReasonerRequest,
    ReasonerUnavailable,
    ToolCall,
    Usage,
)

PAYLOAD_HINTS = {
    "observer": (
        'End with one JSON object: {"diagnoses": [{"target": {"namespace": ..., "service": ...}, '
        '"cause": "load|bad_version|lost_capacity|slow_dependency|overprovisioned|none", '
        '"severity": "breach|risk|ok", "summary": ..., "at": <clock seconds>, "evidence": '
        '[{"signal": ..., "value": ..., "observed_at": ..., "threshold": ...}], "details": {...}}]}'
    ),
    "planner": 'End with one JSON object: {"ranking": [<proposal ids, best first>]}',
    "coordinator": (
        'End with one JSON object: {"intent": {"kind": "diagnose|fix|scale|rollback|route|'
        'restart|unknown", "target": {"namespace": ..., "service": ...} | null, "replicas": ..., '
        '"direction": "up|down" (scale by a step), "step": ..., "percent": ..., "version": ..., '
        '"pods": ..., "explanation": ...}}'
    ),
}


ENV_PREFIX = "QUARTERDECK_LLM_"


class LLMSettings(BaseModel):
    """Where and how to reach the model. Immutable; the key never prints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(
        default="https://api.openai.com/v1",
        pattern=r"^https?://[^\s/]+",
        description="…/v1 of the server (an http:// or https:// URL)",
    )
    model: str = Field(default="gpt-4o-mini", min_length=1)
    api_key: SecretStr = Field(default=SecretStr(""), description="empty for local servers")
    timeout_s: float = Field(default=30.0, gt=0, description="per request")
    max_retries: int = Field(default=2, ge=0, le=10, description="the client's retries")
    max_tokens_per_step: int = Field(default=1024, ge=16)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    fallback_to_embedded: bool = Field(
        default=False, description="answer with the embedded reasoner when the LLM is unreachable"
    )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        prefix: str = ENV_PREFIX,
        overrides: Mapping[str, Any] | None = None,
    ) -> LLMSettings:
        """Settings from variables such as QUARTERDECK_LLM_BASE_URL / _MODEL / _API_KEY, with
        `overrides` (e.g. command-line flags) on top. Raises pydantic's ValidationError."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            key = prefix + name.upper()
            if key in env:
                values[name] = env[key]
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.model_validate(values)


def _openai_messages(request: ReasonerRequest) -> list[dict[str, Any]]:
    hint = PAYLOAD_HINTS.get(request.role, "")
    out: list[dict[str, Any]] = [
        {"role": "system", "content": f"{request.instructions}\n\n{hint}".strip()}
    ]
    for m in request.messages:
        if m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        elif m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


_JSON_BLOCK = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def parse_payload(text: str) -> dict[str, Any] | None:
    """The JSON object a final answer ends with (fenced or bare); None if there is none."""
    candidates = [m.group(1) for m in _JSON_BLOCK.finditer(text)]
    start = text.find("{")
    if start >= 0:
        candidates.append(text[start : text.rfind("}") + 1])
    for c in reversed(candidates):
        try:
            value = json.loads(c)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _tool_call(raw: Any) -> ToolCall:
    fn = getattr(raw, "function", None)
    name = str(getattr(fn, "name", "") or "")
    text = getattr(fn, "arguments", "") or "{}"
    try:
        args = json.loads(text)
    except ValueError as exc:
        return ToolCall(
            id=raw.id, name=name, error=f"arguments are not valid JSON ({exc}): {text[:200]!r}"
        )
    if not isinstance(args, dict):
        return ToolCall(id=raw.id, name=name, error="arguments must be a JSON object")
    return ToolCall(id=raw.id, name=name, arguments=args)


class OpenAIReasoner:
    def __init__(self, settings: LLMSettings, client: openai.OpenAI | None = None) -> None:
        self.settings = settings
        self.name = f"llm:{settings.model}"
        self._client = client or openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key.get_secret_value() or "not-needed",
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    def step(self, request: ReasonerRequest) -> ReasonerReply:
        s = self.settings
        budget = s.max_tokens_per_step
        if request.max_tokens is not None:
            budget = max(1, min(budget, request.max_tokens))
        kwargs: dict[str, Any] = {
            "model": s.model,
            "messages": _openai_messages(request),
            "max_tokens": budget,
            "temperature": s.temperature,
        }
        if request.tools:
            kwargs["tools"] = [t.to_openai() for t in request.tools]
            kwargs["tool_choice"] = "auto"
        try:
            response = self._client.chat.completions.create(**kwargs)
        except openai.APITimeoutError as exc:
            raise ReasonerUnavailable(
                f"LLM at {s.base_url} did not answer within {s.timeout_s:g} s "
                f"(after {s.max_retries} retries): {exc}"
            ) from exc
        except openai.APIConnectionError as exc:
            raise ReasonerUnavailable(f"LLM at {s.base_url} is unreachable: {exc}") from exc
        except openai.APIStatusError as exc:
            raise ReasonerUnavailable(
                f"LLM at {s.base_url} answered HTTP {exc.status_code}: {exc.message}"
            ) from exc
        usage = None
        if response.usage is not None:
            usage = Usage(
                prompt_tokens=response.usage.prompt_tokens or 0,
                completion_tokens=response.usage.completion_tokens or 0,
            )
        if not response.choices:
            raise ReasonerUnavailable(f"LLM at {s.base_url} returned no choices")
        msg = response.choices[0].message
        refusal = getattr(msg, "refusal", None)
        calls = tuple(_tool_call(c) for c in msg.tool_calls or [] if c.type == "function")
        if refusal and not calls:
            return ReasonerReply(refusal=str(refusal), usage=usage)
        text = msg.content or ""
        if calls:
            return ReasonerReply(tool_calls=calls, final=FinalAnswer(text=text), usage=usage)
        return ReasonerReply(final=FinalAnswer(text=text, payload=parse_payload(text)), usage=usage)


class FallbackReasoner:
    """`primary`, or `fallback` for a step the primary cannot answer (and the answer says so)."""

    def __init__(self, primary: Reasoner, fallback: Reasoner) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = f"{primary.name}|{fallback.name}"
        self.fallbacks: list[str] = []

    def step(self, request: ReasonerRequest) -> ReasonerReply:
        try:
            return self.primary.step(request)
        except ReasonerUnavailable as exc:
            self.fallbacks.append(str(exc))
            reply = self.fallback.step(request)
            if reply.final is None:
                return reply
            note = f"[{self.primary.name} unavailable ({exc}); answered by {self.fallback.name}]"
            final = reply.final.model_copy(update={"text": f"{note}\n{reply.final.text}"})
            return reply.model_copy(update={"final": final})


def make_reasoner(
    settings: LLMSettings | None, diagnosis: DiagnosisSettings | None = None
) -> Reasoner:
    """The embedded reasoner without settings; else the LLM (with the embedded one behind it
    when `fallback_to_embedded`). `diagnosis` sizes the embedded reasoner's decisions."""
    from quarterdeck.agents.reasoning.embedded import EmbeddedReasoner

    if settings is None:
        return EmbeddedReasoner(diagnosis)
    llm = OpenAIReasoner(settings)
    return (
        FallbackReasoner(llm, EmbeddedReasoner(diagnosis)) if settings.fallback_to_embedded else llm
    )


__all__ = [
    "FallbackReasoner",
    "LLMSettings",
    "Message",
    "OpenAIReasoner",
    "make_reasoner",
    "parse_payload",
]
