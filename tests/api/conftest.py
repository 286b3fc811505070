"""Fixtures: the real app over the embedded runtime (simulator, default policies, audit log, the
four agents with scripted brains), reached through httpx's ASGI transport, and one token per role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from quarterdeck.agents.a2a.wire import Intent, PlanResult, ServiceHealth
from quarterdeck.agents.embedded import Embedded, build_embedded
from quarterdeck.agents.loop import LoopMode
from quarterdeck.agents.runtime import Brains, RuntimeDeps, default_brains
from quarterdeck.api.app import create_app
from quarterdeck.api.auth import Authenticator, Principal, Role
from quarterdeck.api.control import RuntimeControl
from quarterdeck.audit import AuditKey
from quarterdeck.cli.sim_cmd import default_scenario
from quarterdeck.core.models import ActionProposal, RestartAction, ScaleAction, Target
from quarterdeck.sim.engine import Simulator
from quarterdeck.tools.reads import ReadTools

# name → (token, role). alice and bob are both approvers, so four-eyes can be tested.
PEOPLE = {
    "vera": ("tok-viewer", Role.VIEWER),
    "otto": ("tok-operator", Role.OPERATOR),
    "alice": ("tok-alice", Role.APPROVER),
    "bob": ("tok-bob", Role.APPROVER),
    "ada": ("tok-admin", Role.ADMIN),
}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {PEOPLE[name][0]}"}


def understand(text: str) -> Intent:
    """'how SERVICE', 'fix SERVICE', 'restart SERVICE [N]', 'scale SERVICE to N' (namespace ml)."""
    words = text.lower().split()
    if len(words) >= 2 and words[0] == "restart":
        target = Target(namespace="ml", service=words[1])
        pods = int(words[2]) if len(words) > 2 else None
        action = RestartAction(pods=pods)
        return Intent(kind="act", target=target, action=action, explanation="restart")
    if len(words) >= 2 and words[0] in {"how", "fix", "scale"}:
        target = Target(namespace="ml", service=words[1])
        if words[0] == "how":
            return Intent(kind="diagnose", target=target, explanation=f"diagnose {target}")
        if words[0] == "fix":
            return Intent(kind="fix", target=target, explanation=f"fix {target}")
        return Intent(
            kind="act",
            target=target,
            action=ScaleAction(replicas=int(words[-1])),
            explanation=f"scale {target} to {words[-1]}",
        )
    return Intent(kind="unknown", explanation="not understood")


def brains(deps: RuntimeDeps, reads: ReadTools) -> Brains:
    """The embedded brain's (audited) diagnosis; a planner that adds two replicas; the scripted
    intents (so these tests do not depend on how the brain reads words or ranks plans)."""

    def plan(health: ServiceHealth) -> PlanResult:
        now = deps.cluster.deployment(health.target).replicas
        return PlanResult(
            proposals=[
                ActionProposal(
                    id="plan",
                    target=health.target,
                    action=ScaleAction(replicas=now + 2),
                    reason=f"scale {health.target} to {now + 2}",
                    evidence=health.evidence,
                )
            ]
        )

    return replace(default_brains(deps), plan=plan, understand=understand)


@dataclass
class Api:
    client: httpx.AsyncClient
    run: Embedded
    control: RuntimeControl

    @property
    def sim(self) -> Simulator:
        return self.run.sim

    def replicas(self, service: str = "fraud-detector") -> int:
        return self.sim.service("ml", service).spec_replicas


MakeApi = Callable[..., Awaitable[Api]]


def open_api(
    state_dir: Path, *, four_eyes: bool = False, at: float = 22 * 60, speed: float = 0
) -> Api:
    run = build_embedded(
        default_scenario(),
        state_dir,
        mode=LoopMode.OBSERVE,
        audit_key=AuditKey(b"k" * 32, source="test"),
        brains=brains,
    )
    run.sim.advance(at)  # flash-sale: fraud-detector's load has tripled since 20m
    control = RuntimeControl(run.runtime, audit=run.audit, sim=run.sim, speed=speed)
    auth = Authenticator.from_tokens(
        {tok: Principal(name=n, role=r) for n, (tok, r) in PEOPLE.items()},
        four_eyes=four_eyes,
    )
    app = create_app(control=control, auth=auth)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://quarterdeck.test"
    )
    return Api(client=client, run=run, control=control)


async def close_api(api: Api) -> None:
    await api.client.aclose()
    await api.run.runtime.aclose()
    api.run.audit.close()


@pytest.fixture
async def make_api(tmp_path: Path) -> AsyncIterator[MakeApi]:
    """A fresh app (own simulator, state and audit log) per call."""
    opened: list[Api] = []

    async def make(*, four_eyes: bool = False, at: float = 22 * 60, speed: float = 0) -> Api:
        state = tmp_path / f"state-{len(opened)}"
        api = open_api(state, four_eyes=four_eyes, at=at, speed=speed)
        opened.append(api)
        return api

    yield make
    for api in opened:
        await api.control.stop()
        await close_api(api)


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()


@pytest.fixture(scope="module")
async def shared_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """One app for a whole module of tests that do not depend on each other's effects."""
    api = open_api(tmp_path_factory.mktemp("shared"))
    yield api
    await close_api(api)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
