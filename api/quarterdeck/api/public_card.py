"""`PublicCard`: ASGI middleware that makes an agent card tell the truth about where the agent is.

An agent built for in-process use advertises `http://<name>.agents.local` (its in-process
transport's address). Mounted on a server, the card a caller fetches must name the URL the caller
can reach instead — the scheme and host it used, plus the mount path — or an external A2A client
would discover the card and then send its request nowhere. Only the card's interface URLs are
rewritten; every other request passes through untouched.
"""

from __future__ import annotations

import json

from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class PublicCard:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        path = scope["path"].removeprefix(root)
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or path != AGENT_CARD_WELL_KNOWN_PATH
        ):
            await self._app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host") or "localhost"
        here = f"{scope.get('scheme', 'http')}://{host}{root}/"
        start: Message | None = None
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self._app(scope, receive, capture)
        assert start is not None
        out = bytes(body)
        if start["status"] == 200:
            card = json.loads(out)
            for interface in card.get("supportedInterfaces") or []:
                interface["url"] = here
            if "url" in card:
                card["url"] = here
            out = json.dumps(card).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(out)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": out})
