"""Access control: every /v1 route and the A2A endpoints need a token (401 with a Bearer
challenge otherwise), and a role at least as high as the route's (403 otherwise)."""

from __future__ import annotations

from typing import Any

import pytest

from quarterdeck.api.auth import Role
from tests.api.conftest import PEOPLE, Api, bearer

pytestmark = pytest.mark.anyio

FRAUD = {"namespace": "ml", "service": "fraud-detector"}
# (method, path, body, lowest role). Bodies are valid so that only access decides the answer.
ROUTES: list[tuple[str, str, Any, Role]] = [
    ("GET", "/v1/services", None, Role.VIEWER),
    ("GET", "/v1/proposals", None, Role.VIEWER),
    ("GET", "/v1/proposals/nope", None, Role.VIEWER),
    ("GET", "/v1/audit", None, Role.VIEWER),
    ("GET", "/v1/audit/verify", None, Role.VIEWER),
    ("GET", "/v1/audit/export", None, Role.VIEWER),
    ("GET", "/v1/audit/1", None, Role.VIEWER),
    ("GET", "/v1/loop", None, Role.VIEWER),
    (
        "POST",
        "/v1/actions",
        {"target": FRAUD, "action": {"kind": "scale", "replicas": 3}, "dry_run": True},
        Role.OPERATOR,
    ),
    ("POST", "/v1/chat", {"text": "how fraud-detector"}, Role.OPERATOR),
    ("POST", "/v1/proposals/nope/approve", None, Role.APPROVER),
    ("POST", "/v1/proposals/nope/reject", None, Role.APPROVER),
    ("PUT", "/v1/loop", {"mode": "observe", "interval_s": 15, "enabled": False}, Role.ADMIN),
    ("POST", "/v1/loop/tick", None, Role.ADMIN),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _, _ in ROUTES]


@pytest.mark.parametrize(("method", "path", "body", "role"), ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="bad-token"),
        pytest.param({"Authorization": f"Basic {PEOPLE['ada'][0]}"}, id="not-bearer"),
    ],
)
async def test_without_a_valid_token_401_with_challenge(  # noqa: PLR0917 - pytest parameters
    shared_api: Api, method: str, path: str, body: Any, role: Role, headers: dict[str, str]
) -> None:
    r = await shared_api.client.request(method, path, json=body, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body", "role"), ROUTES, ids=ROUTE_IDS)
async def test_roles_below_the_route_get_403_and_the_rest_get_through(
    shared_api: Api, method: str, path: str, body: Any, role: Role
) -> None:
    for name, (_token, has) in PEOPLE.items():
        r = await shared_api.client.request(method, path, json=body, headers=bearer(name))
        if has < role:
            assert r.status_code == 403, (name, r.text)
            assert role.name.lower() in r.json()["detail"]
        else:
            assert r.status_code not in (401, 403), (name, r.text)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
async def test_operations_routes_need_no_token(shared_api: Api, path: str) -> None:
    r = await shared_api.client.get(path)
    assert r.status_code == 200


A2A_SEND = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "SendMessage",
    "params": {
        "message": {
            "messageId": "m1",
            "role": "ROLE_USER",
            "parts": [{"data": {"skill": "approvals"}}],
        }
    },
}
A2A_DECIDE = {
    **A2A_SEND,
    "params": {
        "message": {
            "messageId": "m2",
            "role": "ROLE_USER",
            "taskId": "t-unknown",
            "parts": [{"data": {"skill": "decide", "approve": True}}],
        }
    },
}
A2A = {"A2A-Version": "1.0"}


async def test_a2a_card_is_public_and_calls_need_a_token(api: Api) -> None:
    card = await api.client.get("/a2a/executor/.well-known/agent-card.json")
    assert card.status_code == 200
    assert card.json()["name"]
    r = await api.client.post("/a2a/executor/", json=A2A_SEND, headers=A2A)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = await api.client.post("/a2a/executor/", json=A2A_SEND, headers={**A2A, **bearer("vera")})
    assert r.status_code == 403
    r = await api.client.post("/a2a/executor/", json=A2A_SEND, headers={**A2A, **bearer("otto")})
    assert r.status_code == 200, r.text
    assert "result" in r.json(), r.text


async def test_a2a_decision_needs_the_approver_role(api: Api) -> None:
    r = await api.client.post("/a2a/executor/", json=A2A_DECIDE, headers={**A2A, **bearer("otto")})
    assert r.status_code == 403
    assert "approver" in r.json()["detail"]
    r = await api.client.post("/a2a/executor/", json=A2A_DECIDE, headers={**A2A, **bearer("alice")})
    assert r.status_code == 200  # past the gate; the agent answers (the task does not exist)


async def test_an_approval_over_a2a_is_recorded_under_the_tokens_owner(api: Api) -> None:
    body = {
        "target": {"namespace": "ml", "service": "fraud-detector"},
        "action": {"kind": "scale", "replicas": 3},
        "mode": "approve",
    }
    record = (await api.client.post("/v1/actions", json=body, headers=bearer("otto"))).json()
    approval = record["record"]["approval"]
    decide = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "SendMessage",
        "params": {
            "message": {
                "messageId": "m3",
                "role": "ROLE_USER",
                "taskId": approval["task_id"],
                "contextId": approval["context_id"],
                # The message claims someone else; the gate's principal wins.
                "parts": [{"data": {"skill": "decide", "approve": True, "principal": "mallory"}}],
            }
        },
    }
    r = await api.client.post("/a2a/executor/", json=decide, headers={**A2A, **bearer("bob")})
    assert r.status_code == 200, r.text
    assert api.replicas() == 3
    decided = api.run.audit.query(kind="approval")
    assert [(e.principal, e.payload["by"]) for e in decided] == [("bob", "bob")]
