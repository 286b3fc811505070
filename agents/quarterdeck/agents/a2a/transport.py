"""Where each agent lives: in this process (an ASGI app) or at a URL (another process or pod).

`AgentNetwork.client(name)` returns a connected `AgentClient` either way, so the agents' code does
not know or care: in one process the client's httpx transport is an `ASGITransport` straight into
the other agent's app (no sockets); otherwise it is plain HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
from starlette.types import ASGIApp

from quarterdeck.agents.a2a.client import DEFAULT_TIMEOUT_S, AgentClient


def in_process_url(name: str) -> str:
    """The base URL an in-process agent advertises in its card (never resolved by DNS)."""
    return f"http://{name}.agents.local"


class AgentNetwork:
    """Clients for the agents, by name. In-process apps win over URLs for the same name."""

    def __init__(
        self,
        *,
        apps: Mapping[str, ASGIApp] | None = None,
        urls: Mapping[str, str] | None = None,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._apps = dict(apps or {})
        self._urls = dict(urls or {})
        self._token = token
        self._timeout_s = timeout_s
        self._clients: dict[str, AgentClient] = {}
        self._lock = asyncio.Lock()

    def add_app(self, name: str, app: ASGIApp) -> None:
        self._apps[name] = app

    def add_url(self, name: str, url: str) -> None:
        self._urls[name] = url

    @property
    def names(self) -> list[str]:
        return sorted({*self._apps, *self._urls})

    async def client(self, name: str) -> AgentClient:
        async with self._lock:
            if name in self._clients:
                return self._clients[name]
            if name in self._apps:
                url = in_process_url(name)
                http = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=self._apps[name]),
                    base_url=url,
                    timeout=self._timeout_s,
                )
                try:
                    client = await AgentClient.connect(url, http=http, token=self._token)
                except Exception:
                    await http.aclose()
                    raise
                client._owned_http = http  # closed with the client
            elif name in self._urls:
                client = await AgentClient.connect(
                    self._urls[name], token=self._token, timeout_s=self._timeout_s
                )
            else:
                raise LookupError(f"no agent named {name!r} (known: {', '.join(self.names)})")
            self._clients[name] = client
            return client

    async def aclose(self) -> None:
        async with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
