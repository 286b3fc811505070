"""Serving one agent over A2A: its card, its JSON-RPC endpoint, an optional bearer-token check.

`agent_app` builds a Starlette app from the SDK's route factories. Authentication is a plug-in: an
`Authenticator` maps a request to a principal name (or None → 401); the REST layer supplies one
that checks tokens, tests and the in-process runtime pass none. The principal reaches the agent's
executor as `context.call_context.state["principal"]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from a2a.server.agent_execution import AgentExecutor
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import (
    DefaultServerCallContextBuilder,
    create_agent_card_routes,
    create_jsonrpc_routes,
)
from a2a.server.tasks import TaskStore
from a2a.types import AgentCard
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

Authenticator = Callable[[Request], Awaitable[str | None]]
PRINCIPAL_KEY = "principal"
_SCOPE_KEY = "quarterdeck.principal"
PRINCIPAL_SCOPE_KEY = _SCOPE_KEY  # where a gate in front of an agent app puts the principal


class _PrincipalContextBuilder(DefaultServerCallContextBuilder):
    """Copies the authenticated principal into the call context the executor sees."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        principal = request.scope.get(_SCOPE_KEY)
        if principal is not None:
            context.state[PRINCIPAL_KEY] = principal
        return context


class _RequireBearer:
    """ASGI middleware: every request but the agent card needs a principal from `authenticate`.

    Pure ASGI (not BaseHTTPMiddleware) so server-sent event streams pass through untouched.
    """

    def __init__(self, app: ASGIApp, authenticate: Authenticator, public: set[str]) -> None:
        self._app = app
        self._authenticate = authenticate
        self._public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._public:
            await self._app(scope, receive, send)
            return
        principal = await self._authenticate(Request(scope, receive))
        if principal is None:
            response = JSONResponse(
                {"error": "missing or invalid bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        scope[_SCOPE_KEY] = principal
        await self._app(scope, receive, send)


def agent_app(
    card: AgentCard,
    executor: AgentExecutor,
    task_store: TaskStore,
    *,
    authenticator: Authenticator | None = None,
    rpc_path: str = "/",
) -> Starlette:
    """The ASGI app of one agent: card at `/.well-known/agent-card.json`, JSON-RPC at `rpc_path`."""
    handler = DefaultRequestHandler(agent_executor=executor, task_store=task_store, agent_card=card)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await handler.aclose()

    routes: list[Any] = [
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(
            handler, rpc_url=rpc_path, context_builder=_PrincipalContextBuilder()
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    # In-process callers (httpx ASGITransport) never run the lifespan: they close the handler
    # themselves through `close_agent_app`, so tasks parked in input-required end cleanly.
    app.state.a2a_handler = handler
    if authenticator is not None:
        app.add_middleware(
            _RequireBearer, authenticate=authenticator, public={AGENT_CARD_WELL_KNOWN_PATH}
        )
    return app


async def close_agent_app(app: Starlette) -> None:
    """Drain the app's A2A request handler (idempotent)."""
    handler = getattr(app.state, "a2a_handler", None)
    if handler is not None:
        await handler.aclose()


def call_principal(context: ServerCallContext | None) -> str | None:
    """The authenticated principal of a call, when an `Authenticator` ran."""
    if context is None:
        return None
    value = context.state.get(PRINCIPAL_KEY)
    return value if isinstance(value, str) else None
