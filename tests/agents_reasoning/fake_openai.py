"""A scripted OpenAI-compatible chat-completions server for tests (127.0.0.1, a free port).

Each POST /v1/chat/completions takes the next `Turn` of the script and answers with it: tool
calls (`function.arguments` is sent as the exact string given, so malformed JSON can be
scripted), text, a refusal, an HTTP error, or a delay (to exceed the client's timeout). Every
request body is recorded in `requests`, so tests can assert what the model was shown.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support import free_port


@dataclass
class Turn:
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON text)
    content: str | None = None
    refusal: str | None = None
    sleep_s: float = 0.0
    status: int = 200
    prompt_tokens: int = 50
    completion_tokens: int = 10


@dataclass
class FakeOpenAI:
    script: list[Turn | Callable[[dict[str, Any]], Turn]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self, body: dict[str, Any]) -> Turn:
        self.requests.append(body)
        if not self.script:
            return Turn(content="script exhausted", status=500)
        item = self.script.pop(0)
        return item(body) if callable(item) else item

    def app(self) -> Starlette:
        async def completions(request: Request) -> JSONResponse:
            body = await request.json()
            turn = self.answer(body)
            if turn.sleep_s:
                await asyncio.sleep(turn.sleep_s)
            if turn.status != 200:
                return JSONResponse(
                    {"error": {"message": "scripted failure", "type": "server_error"}},
                    status_code=turn.status,
                )
            calls = [
                {
                    "id": f"call_{len(self.requests)}_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": args},
                }
                for i, (name, args) in enumerate(turn.tool_calls)
            ]
            message: dict[str, Any] = {"role": "assistant", "content": turn.content}
            if calls:
                message["tool_calls"] = calls
            if turn.refusal is not None:
                message["refusal"] = turn.refusal
            return JSONResponse(
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if calls else "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": turn.prompt_tokens,
                        "completion_tokens": turn.completion_tokens,
                        "total_tokens": turn.prompt_tokens + turn.completion_tokens,
                    },
                }
            )

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    def shown_tool_results(self, index: int = -1) -> list[str]:
        """The tool messages the model was shown in request `index`."""
        msgs = self.requests[index]["messages"]
        return [m["content"] for m in msgs if m.get("role") == "tool"]


class Running:
    """The fake served by uvicorn in a thread until `stop()`."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.port = free_port()
        fake.url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(
            fake.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def args(**kw: Any) -> str:
    return json.dumps(kw)
