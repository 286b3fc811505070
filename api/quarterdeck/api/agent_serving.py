"""The process behind `quarterdeck agent NAME`: one thinking agent (the observer or the planner)
served over A2A on its own, against a real cluster, for a `quarterdeck serve --target kube
--remote-agent NAME=URL` to call.

It reads the cluster through the same adapters as the server (`serving.kube_world`), thinks with
the configured reasoner, audits its own steps (reasoner calls under the caller's trace id) in its
state folder, and answers only callers with a bearer token of at least `operator` (the agent card
stays public, for discovery). It never acts: proposals go back to the caller, whose executor
puts them through the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp

from quarterdeck.agents.reasoning.openai_compat import LLMSettings
from quarterdeck.agents.runtime import Runtime
from quarterdeck.api.auth import Authenticator
from quarterdeck.api.security import A2AGate
from quarterdeck.api.serving import ServeError, kube_world
from quarterdeck.audit import AuditKey, AuditLog


class AgentSettings(BaseModel):
    """What `quarterdeck agent` was asked for; immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["observer", "planner"]
    public_url: str = Field(description="the URL its agent card shows (where callers reach it)")
    state_dir: Path = Field(default=Path(".quarterdeck"))
    prometheus_url: str | None = None
    kube_url: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    llm: LLMSettings | None = None
    node_loss_start_s: float | None = Field(default=None, gt=0)


@dataclass
class AgentServer:
    settings: AgentSettings
    app: ASGIApp
    runtime: Runtime
    audit: AuditLog
    audit_path: Path
    state_dir: Path

    async def close(self) -> None:
        try:
            await self.runtime.aclose()
        finally:
            self.audit.close()


def build_agent(
    settings: AgentSettings, *, audit_key: AuditKey, auth: Authenticator
) -> AgentServer:
    """The agent's A2A app behind the bearer gate. Raises ServeError naming the problem."""
    from quarterdeck.agents.incident_store import IncidentStoreError
    from quarterdeck.agents.runtime import RuntimeSettings, default_brains

    world = kube_world(settings, audit_key=audit_key, subdir=f"agent-{settings.name}")
    try:
        runtime = Runtime.build(
            world.deps,
            RuntimeSettings(
                state_dir=world.state_dir,
                local_agents=(settings.name,),
                public_urls={settings.name: settings.public_url},
            ),
            brains=default_brains(world.deps),
        )
    except (IncidentStoreError, OSError, ValueError) as e:  # a state file that does not open
        world.audit.close()
        raise ServeError(f"cannot build the {settings.name} agent: {e}") from None
    gated = A2AGate(runtime.apps[settings.name], auth, public={AGENT_CARD_WELL_KNOWN_PATH})
    return AgentServer(
        settings=settings,
        app=gated,
        runtime=runtime,
        audit=world.audit,
        audit_path=world.audit_path,
        state_dir=world.state_dir,
    )
