"""Access control at the HTTP edge: bearer token → principal → may this role do this?

Routes declare the lowest role they need with `Depends(require(Role.X))`. No token or an unknown
token is 401 with `WWW-Authenticate: Bearer`; a known principal whose role is too low is 403.
The same check guards the agents' A2A endpoints (`A2AGate`), where sending a `decide` message
(an approval) needs the approver role like the REST route does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quarterdeck.agents.a2a.server import PRINCIPAL_SCOPE_KEY
from quarterdeck.api.auth import Authenticator, Principal, Role

# Documents the scheme in OpenAPI; the check itself is ours, so auto_error stays off.
bearer_scheme = HTTPBearer(
    auto_error=False, description="A token from `quarterdeck token new`.", scheme_name="bearer"
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def unauthorized(message: str = "missing or invalid bearer token") -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers=_CHALLENGE)


def authenticate(auth: Authenticator, authorization: str | None) -> Principal | None:
    """The principal for an `Authorization` header value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return auth.authenticate(token.strip())


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's principal, if their role is at least `role`."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> Principal:
        auth: Authenticator = request.app.state.auth
        principal = auth.authenticate(credentials.credentials) if credentials else None
        if principal is None:
            raise unauthorized()
        if not principal.may(role):
            raise HTTPException(
                status_code=403,
                detail=f"{principal.name} has role {principal.role.name.lower()}; "
                f"this needs {role.name.lower()} or higher",
            )
        request.state.principal = principal
        return principal

    return dependency


def _mentions_decide(value: Any) -> bool:
    """Whether a JSON-RPC body carries a `{"skill": "decide"}` data part anywhere."""
    if isinstance(value, dict):
        if value.get("skill") == "decide":
            return True
        return any(_mentions_decide(v) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_decide(v) for v in value)
    return False


class A2AGate:
    """ASGI middleware in front of one agent's A2A app.

    The agent card stays public (discovery); every other request needs a token of at least
    `operator`, and `approver` when the message is a decision. The authenticated name is put
    where the agents read the caller's principal, so an approval over A2A is recorded under the
    token's owner, not under whatever name the message claims.
    """

    def __init__(self, app: ASGIApp, auth: Authenticator, public: set[str]) -> None:
        self._app = app
        self._auth = auth
        self._public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if path in self._public or scope["path"] in self._public:
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        principal = authenticate(self._auth, headers.get("authorization"))
        if principal is None:
            await _deny(scope, receive, send, 401, "missing or invalid bearer token")
            return
        body, receive = await _buffer(receive)
        needed = Role.OPERATOR
        try:
            if body and _mentions_decide(json.loads(body)):
                needed = Role.APPROVER
        except ValueError:
            pass  # not JSON: the A2A app answers that itself
        if not principal.may(needed):
            await _deny(
                scope,
                receive,
                send,
                403,
                f"{principal.name} has role {principal.role.name.lower()}; "
                f"this needs {needed.name.lower()} or higher",
            )
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal.name
        await self._app(scope, receive, send)


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a `receive` that replays it."""
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _deny(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    headers = _CHALLENGE if status == 401 else None
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(
        scope, receive, send
    )


__all__ = [
    "A2AGate",
    "authenticate",
    "bearer_scheme",
    "require",
    "unauthorized",
]
