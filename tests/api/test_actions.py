"""Action requests and proposals over HTTP: dry-runs apply nothing; an approval applies exactly
once; unknown ids are 404, second decisions 409, bad bodies 422 naming the field; four-eyes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, MakeApi, bearer

pytestmark = pytest.mark.anyio

FRAUD = {"namespace": "ml", "service": "fraud-detector"}


def scale(n: int, **extra: Any) -> dict[str, Any]:
    return {"target": FRAUD, "action": {"kind": "scale", "replicas": n}, **extra}


def executions(api: Api, pid: str) -> list[Any]:
    return api.run.audit.query(kind="execution", proposal_id=pid)


async def test_dry_run_predicts_and_applies_nothing(api: Api) -> None:
    before = api.replicas()
    head = api.run.audit.head().seq
    r = await api.client.post("/v1/actions", json=scale(20, dry_run=True), headers=bearer("otto"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True
    result = body["result"]
    assert result["verdict"]["decision"] == "allow"
    clamped = result["predicted_action"]["replicas"]
    assert clamped < 20  # the guard's blast radius clamps the step; that is what is predicted
    assert result["prediction"]["verdict"] == "helps"
    assert result["prediction"]["services"][0]["service"] == "ml/fraud-detector"
    # Nothing applied, nothing handed to the executor; only the request itself was audited.
    assert api.replicas() == before
    pid = result["proposal"]["id"]
    assert (await api.client.get(f"/v1/proposals/{pid}", headers=bearer("vera"))).status_code == 404
    new = api.run.audit.query(limit=None, offset=head)
    assert [e.kind for e in new] == ["request"]
    assert new[0].principal == "otto"
    assert new[0].payload["dry_run"] is True


async def test_allowed_action_is_applied_at_once(api: Api) -> None:
    r = await api.client.post("/v1/actions", json=scale(4), headers=bearer("otto"))
    assert r.status_code == 200, r.text
    record = r.json()["record"]
    assert record["status"] == "applied"
    assert record["proposal"]["requested_by"] == "otto"
    assert api.replicas() == 4
    assert len(executions(api, record["proposal_id"])) == 1


async def test_approval_applies_once_and_a_second_decision_conflicts(api: Api) -> None:
    r = await api.client.post(
        "/v1/actions", json=scale(5, mode="approve", reason="sale"), headers=bearer("otto")
    )
    record = r.json()["record"]
    pid = record["proposal_id"]
    assert record["status"] == "awaiting_approval"
    assert api.replicas() == 2  # waiting: nothing applied yet
    pending = (await api.client.get("/v1/proposals?status=pending", headers=bearer("vera"))).json()
    assert [p["proposal_id"] for p in pending["proposals"]] == [pid]

    r = await api.client.post(
        f"/v1/proposals/{pid}/approve", json={"comment": "go"}, headers=bearer("alice")
    )
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "approved"
    assert r.json()["record"]["status"] == "applied"
    assert api.replicas() == 5

    for who, verb in (("bob", "approve"), ("alice", "reject")):
        again = await api.client.post(f"/v1/proposals/{pid}/{verb}", headers=bearer(who))
        assert again.status_code == 409
        assert "already approved by alice" in again.json()["detail"]
    assert len(executions(api, pid)) == 1
    approvals = api.run.audit.query(kind="approval", proposal_id=pid)
    assert [(e.principal, e.payload["decision"]) for e in approvals] == [("alice", "approved")]
    got = (await api.client.get(f"/v1/proposals/{pid}", headers=bearer("vera"))).json()
    assert got["approval"]["decided_by"] == "alice"
    assert got["approval"]["comment"] == "go"
    assert (await api.client.get("/v1/proposals?status=pending", headers=bearer("vera"))).json()[
        "proposals"
    ] == []


async def test_rejection_applies_nothing(api: Api) -> None:
    r = await api.client.post("/v1/actions", json=scale(6, mode="approve"), headers=bearer("otto"))
    record = r.json()["record"]
    assert record["status"] == "awaiting_approval"
    pid = record["proposal_id"]
    r = await api.client.post(f"/v1/proposals/{pid}/reject", headers=bearer("bob"))
    assert r.status_code == 200
    assert r.json()["record"]["status"] == "rejected"
    assert api.replicas() == 2
    assert executions(api, pid) == []


async def test_denied_action_is_reported_not_applied(api: Api) -> None:
    body = {"target": FRAUD, "action": {"kind": "rollback", "to_version": "v9"}}
    r = await api.client.post("/v1/actions", json=body, headers=bearer("otto"))
    assert r.status_code == 200
    record = r.json()["record"]
    assert record["status"] == "denied"
    assert record["verdict"]["decision"] == "deny"
    r = await api.client.post(
        f"/v1/proposals/{record['proposal_id']}/approve", headers=bearer("bob")
    )
    assert r.status_code == 409
    assert "denied" in r.json()["detail"]


async def test_four_eyes_requester_may_not_approve(make_api: MakeApi) -> None:
    api = await make_api(four_eyes=True)
    # alice is an approver and may also request; with four-eyes she may not approve her own.
    r = await api.client.post("/v1/actions", json=scale(3, mode="approve"), headers=bearer("alice"))
    pid = r.json()["record"]["proposal_id"]
    r = await api.client.post(f"/v1/proposals/{pid}/approve", headers=bearer("alice"))
    assert r.status_code == 403
    assert "four-eyes" in r.json()["detail"]
    assert api.replicas() == 2
    r = await api.client.post(f"/v1/proposals/{pid}/approve", headers=bearer("bob"))
    assert r.status_code == 200
    assert api.replicas() == 3


async def test_without_four_eyes_the_requester_may_approve(api: Api) -> None:
    r = await api.client.post("/v1/actions", json=scale(3, mode="approve"), headers=bearer("alice"))
    pid = r.json()["record"]["proposal_id"]
    r = await api.client.post(f"/v1/proposals/{pid}/approve", headers=bearer("alice"))
    assert r.status_code == 200


@pytest.mark.parametrize("verb", ["approve", "reject"])
async def test_unknown_proposal_is_404(api: Api, verb: str) -> None:
    r = await api.client.post(f"/v1/proposals/no-such/{verb}", headers=bearer("bob"))
    assert r.status_code == 404
    assert "no-such" in r.json()["detail"]
    r = await api.client.get("/v1/proposals/no-such", headers=bearer("vera"))
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"action": {"kind": "scale", "replicas": 2}}, "target", id="no-target"),
        pytest.param(scale(-1), "replicas", id="negative"),
        pytest.param({"target": FRAUD, "action": {"kind": "fly"}}, "action", id="kind"),
        pytest.param(
            {"target": FRAUD, "action": {"kind": "route", "weights": {"v1": 50}}},
            "weights",
            id="weights",
        ),
        pytest.param(
            {"target": {"namespace": "ML!", "service": "x"}, "action": {"kind": "restart"}},
            "namespace",
            id="bad-namespace",
        ),
        pytest.param(scale(2, mode="sometimes"), "mode", id="mode"),
        pytest.param(scale(2, surprise=1), "surprise", id="unknown-field"),
        pytest.param(scale(True), "replicas", id="bool-is-not-a-count"),
        pytest.param(scale("3"), "replicas", id="string-is-not-a-count"),  # type: ignore[arg-type]
        pytest.param(scale(2, dry_run="yes"), "dry_run", id="string-is-not-a-bool"),
        pytest.param(
            {"target": FRAUD, "action": {"kind": "rollback", "to_version": "v1\u2028x"}},
            "action",
            id="line-separator-in-version",
        ),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(api: Api, body: Any, field: str) -> None:
    r = await api.client.post("/v1/actions", json=body, headers=bearer("otto"))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert any(field in [str(x) for x in d["loc"]] or field in d["msg"] for d in detail), detail
    assert api.replicas() == 2


async def test_unknown_query_parameter_is_422_naming_it(api: Api) -> None:
    r = await api.client.get("/v1/proposals?stauts=pending", headers=bearer("vera"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "stauts"]
    assert "status" in r.json()["detail"][0]["msg"]  # it says what the route takes
    r = await api.client.get("/v1/loop?verbose=1", headers=bearer("vera"))
    assert r.status_code == 422  # even on a route that takes none
    assert (await api.client.get("/healthz?probe=kubelet")).status_code == 200  # not probes


async def test_repeated_query_parameter_is_422(api: Api) -> None:
    r = await api.client.get("/v1/proposals?limit=1&limit=2", headers=bearer("vera"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_unparseable_body_is_422(api: Api) -> None:
    r = await api.client.post(
        "/v1/actions",
        content=b"{not json",
        headers={**bearer("otto"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422


async def test_proposals_list_newest_first_and_filters(api: Api) -> None:
    waiting = await api.client.post(
        "/v1/actions", json=scale(3, mode="approve"), headers=bearer("otto")
    )
    body = {"target": FRAUD, "action": {"kind": "rollback", "to_version": "v9"}}
    denied = await api.client.post("/v1/actions", json=body, headers=bearer("otto"))
    w, d = waiting.json()["record"]["proposal_id"], denied.json()["record"]["proposal_id"]

    async def ids(query: str = "") -> list[str]:
        r = await api.client.get(f"/v1/proposals{query}", headers=bearer("vera"))
        assert r.status_code == 200, r.text
        return [p["proposal_id"] for p in r.json()["proposals"]]

    assert await ids() == [d, w]
    assert await ids("?limit=1") == [d]
    assert await ids("?status=denied") == [d]
    assert await ids("?status=pending") == [w]
    assert await ids("?status=awaiting_approval") == [w]
    assert await ids("?status=applied") == []
