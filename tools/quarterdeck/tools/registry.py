"""The agent-facing tool registry: typed tools in, JSON-schema specs out, envelopes back.

A tool is a name, a description, a pydantic model of its parameters and a function taking that
model. `specs()` gives the OpenAI function-calling `tools` list; `call(name, args)` validates the
arguments (an invalid one is an ERROR result naming the field), runs the tool, and turns any
exception into an ERROR result: a tool never raises into an agent. A duplicate name is an error
at registration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from quarterdeck.core.models import ToolResult, ToolStatus

P = TypeVar("P", bound=BaseModel)
ToolKind = Literal["read", "act"]
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what OpenAI accepts as a function name


@dataclass(frozen=True)
class Tool(Generic[P]):
    name: str
    description: str
    params: type[P]
    fn: Callable[[P], ToolResult]
    kind: ToolKind = "read"

    def spec(self) -> dict[str, Any]:
        """This tool in the OpenAI `tools` format (a fresh dict: callers may change it)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": json.loads(self._schema),
            },
        }

    @cached_property
    def _schema(self) -> str:
        # Building a JSON schema takes pydantic about a millisecond, and every agent turn asks
        # for its tools' specs: build it once, as text, so each caller gets its own copy.
        schema = self.params.model_json_schema()
        schema.pop("title", None)
        schema.setdefault("properties", {})
        schema.setdefault("type", "object")
        return json.dumps(schema)


class DuplicateToolError(ValueError):
    """Two tools may not share a name: an agent could not tell which one it called."""


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool[Any]] = {}

    def register(
        self,
        name: str,
        description: str,
        params: type[P],
        fn: Callable[[P], ToolResult],
        *,
        kind: ToolKind = "read",
    ) -> Tool[P]:
        if not _NAME.match(name):
            raise ValueError(f"tool name {name!r} must match {_NAME.pattern}")
        if name in self._tools:
            raise DuplicateToolError(f"a tool named {name!r} is already registered")
        if not description.strip():
            raise ValueError(f"tool {name!r} needs a description: it is what the model reads")
        tool = Tool(name, description.strip(), params, fn, kind)
        self._tools[name] = tool
        return tool

    def tool(
        self, name: str, description: str, params: type[P], *, kind: ToolKind = "read"
    ) -> Callable[[Callable[[P], ToolResult]], Callable[[P], ToolResult]]:
        """Decorator form of `register`."""

        def deco(fn: Callable[[P], ToolResult]) -> Callable[[P], ToolResult]:
            self.register(name, description, params, fn, kind=kind)
            return fn

        return deco

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool[Any]:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self, kind: ToolKind | None = None) -> list[dict[str, Any]]:
        """JSON schemas for LLM function calling (OpenAI `tools`), sorted by name."""
        return [t.spec() for n, t in sorted(self._tools.items()) if kind in (None, t.kind)]

    def call(self, name: str, args: Mapping[str, Any] | None = None) -> ToolResult:
        """Run a tool. Never raises: bad names, bad arguments and failures are ERROR results."""
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self.names()) or "none"
            return ToolResult(
                tool=name, status=ToolStatus.ERROR, error=f"no tool named {name!r} (known: {known})"
            )
        if args is not None and not isinstance(args, Mapping):
            return ToolResult(
                tool=name,
                status=ToolStatus.ERROR,
                error=f"arguments must be a JSON object, got {type(args).__name__}",
            )
        try:
            params = tool.params.model_validate(dict(args or {}))
        except ValidationError as e:
            return ToolResult(tool=name, status=ToolStatus.ERROR, error=_invalid(name, e))
        try:
            result = tool.fn(params)
        except Exception as e:  # the envelope promise: nothing escapes into the agent
            return ToolResult(
                tool=name, status=ToolStatus.ERROR, error=f"{type(e).__name__}: {e}"[:2000]
            )
        if not isinstance(result, ToolResult):
            return ToolResult(
                tool=name,
                status=ToolStatus.ERROR,
                error=f"tool returned {type(result).__name__}, not a ToolResult",
            )
        if result.tool != name:
            result = result.model_copy(update={"tool": name})
        return result


def _invalid(name: str, e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        field = ".".join(str(x) for x in err["loc"]) or "(arguments)"
        parts.append(f"{field}: {err['msg']}")
    return f"invalid arguments for {name}: " + "; ".join(parts)
