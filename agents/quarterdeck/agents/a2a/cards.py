"""The four agent cards: who each agent is, what it can do, how to reach it and authenticate.

Cards are data. `AGENTS` describes each agent once; `agent_card(name, url)` turns a description into
the `AgentCard` served at `/.well-known/agent-card.json`. Every card declares a bearer-token
security scheme: the server accepts an `Authenticator` that enforces it (see `server.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)

COORDINATOR = "coordinator"
OBSERVER = "observer"
PLANNER = "planner"
EXECUTOR = "executor"
AGENT_NAMES: tuple[str, ...] = (COORDINATOR, OBSERVER, PLANNER, EXECUTOR)

BEARER_SCHEME = "bearer"
PROTOCOL_VERSION = "1.0"
CARD_VERSION = "0.1.0"


@dataclass(frozen=True)
class SkillSpec:
    id: str
    name: str
    description: str
    examples: tuple[str, ...]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentSpec:
    name: str
    description: str
    skills: tuple[SkillSpec, ...]


AGENTS: dict[str, AgentSpec] = {
    COORDINATOR: AgentSpec(
        name=COORDINATOR,
        description=(
            "Takes requests in plain words (chat or REST), works out the intent, asks the "
            "observer, planner and executor, and answers in plain words with the evidence "
            "behind it."
        ),
        skills=(
            SkillSpec(
                id="chat",
                name="Operate model-serving services",
                description=(
                    "Diagnose a service, or scale / roll back / re-route it. Actions pass the "
                    "policy guard; when a human must approve, the task waits in input-required."
                ),
                examples=(
                    "p95 of fraud-detector is high, fix it",
                    "roll back recommender",
                    "send 10% of traffic to ranker v2",
                    "how is ranker doing?",
                ),
                tags=("chat", "operations"),
            ),
            SkillSpec(
                id="decide",
                name="Approve or reject a pending action",
                description=(
                    'Resume an input-required task with data {"skill": "decide", "approve": true|'
                    'false, "principal": "alice", "comment": "..."}.'
                ),
                examples=('{"skill": "decide", "approve": true, "principal": "alice"}',),
                tags=("approval",),
            ),
            SkillSpec(
                id="waiting",
                name="Find the request waiting on a proposal",
                description=(
                    'Data {"skill": "waiting", "proposal_id": "..."}; returns {"waiting": '
                    '{"task_id", "context_id"} | null}: the chat task to send "decide" to.'
                ),
                examples=('{"skill": "waiting", "proposal_id": "chat-1a2b3c"}',),
                tags=("approval",),
            ),
        ),
    ),
    OBSERVER: AgentSpec(
        name=OBSERVER,
        description=(
            "Reads metrics and cluster state, checks every service against its SLO and diagnoses "
            "breaches with the evidence it saw. Says so when signals are missing or stale."
        ),
        skills=(
            SkillSpec(
                id="diagnose",
                name="Diagnose services",
                description=(
                    'Data {"skill": "diagnose", "services": [{"namespace", "service"}] | null}; '
                    'returns {"diagnoses": [Diagnosis, …]}.'
                ),
                examples=('{"skill": "diagnose", "services": null}',),
                tags=("slo", "diagnosis"),
            ),
        ),
    ),
    PLANNER: AgentSpec(
        name=PLANNER,
        description=(
            "Turns a diagnosis into ranked candidate actions, each with its predicted effect from "
            "a dry-run on a fork of the simulator."
        ),
        skills=(
            SkillSpec(
                id="plan",
                name="Plan candidate actions",
                description=(
                    'Data {"skill": "plan", "diagnosis": Diagnosis}; returns {"proposals": '
                    "[ActionProposal, …]} best first."
                ),
                examples=('{"skill": "plan", "diagnosis": {…}}',),
                tags=("planning", "what-if"),
            ),
        ),
    ),
    EXECUTOR: AgentSpec(
        name=EXECUTOR,
        description=(
            "Owns guard → approval → act → verify: applies nothing the guard has not allowed, "
            "waits durably for a human where required, applies each proposal at most once, "
            "then checks that the signals moved as predicted and rolls back or escalates if not."
        ),
        skills=(
            SkillSpec(
                id="execute",
                name="Execute a proposal",
                description=(
                    'Data {"skill": "execute", "proposal": ActionProposal, "mode": "auto"|'
                    '"approve"}.'
                    " Completes with the outcome, is rejected when the guard or a human says no, "
                    "or waits in input-required for an approval."
                ),
                examples=('{"skill": "execute", "proposal": {…}, "mode": "auto"}',),
                tags=("guard", "act"),
            ),
            SkillSpec(
                id="decide",
                name="Approve or reject",
                description=(
                    'Resume an input-required task: {"skill": "decide", "approve": true|false, '
                    '"principal": "alice", "comment": "..."}.'
                ),
                examples=('{"skill": "decide", "approve": true, "principal": "alice"}',),
                tags=("approval",),
            ),
            SkillSpec(
                id="approvals",
                name="List pending approvals",
                description='Data {"skill": "approvals"}; returns {"approvals": [Approval, …]}.',
                examples=('{"skill": "approvals"}',),
                tags=("approval",),
            ),
            SkillSpec(
                id="preview",
                name="Preview the guard's decisions",
                description=(
                    'Data {"skill": "preview", "proposals": [ActionProposal, …]}; returns '
                    '{"decisions": ["allow"|"require_approval"|"deny", …]}. Records and applies '
                    "nothing."
                ),
                examples=('{"skill": "preview", "proposals": [{…}, {…}]}',),
                tags=("guard",),
            ),
            SkillSpec(
                id="verify_due",
                name="Verify applied actions",
                description=(
                    "Checks every applied action whose settle time has passed on the clock; rolls "
                    "back or escalates those that made things worse. Returns "
                    '{"verifications": […]}.'
                ),
                examples=('{"skill": "verify_due"}',),
                tags=("verify",),
            ),
        ),
    ),
}


def agent_card(name: str, url: str) -> AgentCard:
    """The card of agent `name`, served from `url` (its JSON-RPC endpoint)."""
    try:
        spec = AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown agent {name!r} (known: {', '.join(AGENT_NAMES)})") from None
    return AgentCard(
        name=f"quarterdeck-{spec.name}",
        description=spec.description,
        version=CARD_VERSION,
        provider=AgentProvider(organization="Quarterdeck", url="https://github.com/quarterdeck"),
        supported_interfaces=[
            AgentInterface(protocol_binding="JSONRPC", url=url, protocol_version=PROTOCOL_VERSION)
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        security_schemes={
            BEARER_SCHEME: SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="bearer",
                    description="A Quarterdeck API token (see `quarterdeck token`).",
                )
            )
        },
        security_requirements=[SecurityRequirement(schemes={BEARER_SCHEME: StringList(list=[])})],
        skills=[
            AgentSkill(
                id=s.id,
                name=s.name,
                description=s.description,
                tags=list(s.tags) or [s.id],
                examples=list(s.examples),
            )
            for s in spec.skills
        ],
    )
