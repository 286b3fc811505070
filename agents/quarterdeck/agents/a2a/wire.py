"""What the agents say to each other, as pydantic models (validated on both sides of the wire).

The observer answers with one `ServiceHealth` per service: a small, stable summary the loop and the
coordinator act on, plus the brain's full diagnosis (`diagnosis`, opaque here) that the planner
takes back as its input. Keeping the summary ours means the loop does not depend on the shape of
the reasoning backend's output.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.core.models import Action, ActionProposal, Evidence, Target


class Health(StrEnum):
    OK = "ok"
    BREACH = "breach"  # an SLO is violated now
    RISK = "risk"  # not (yet) violated, but worth acting on: a bad canary, load about to exceed
    NO_DATA = "no_data"  # signals missing or stale: nobody should act on this service


class ServiceHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: Target
    health: Health
    summary: str = Field(description="one plain sentence a person can read")
    breaches: tuple[str, ...] = Field(default=(), description="signals over their SLO")
    cause: str | None = Field(default=None, description="the diagnosed cause, when known")
    evidence: tuple[Evidence, ...] = ()
    diagnosis: dict[str, Any] | None = Field(
        default=None, description="the brain's full diagnosis; the planner's input"
    )

    def valued_evidence(self) -> tuple[Evidence, ...]:
        """The evidence that carries a value: what a proposal may cite (the guard refuses
        evidence without data)."""
        return tuple(e for e in self.evidence if e.value is not None)


class DiagnoseRequest(BaseModel):
    services: list[Target] | None = None


class DiagnoseResult(BaseModel):
    services: list[ServiceHealth]


class PlanRequest(BaseModel):
    health: ServiceHealth


class PlanResult(BaseModel):
    proposals: list[ActionProposal] = Field(description="best first")
    notes: str = ""


IntentKind = Literal["diagnose", "fix", "act", "unknown"]


class Intent(BaseModel):
    """What a chat request asks for, as the coordinator acts on it.

    `diagnose`: how is a service (or every service) doing; `fix`: diagnose, plan and act;
    `act`: apply the named action (still guarded); `unknown`: say so, do nothing.
    """

    model_config = ConfigDict(frozen=True)

    kind: IntentKind
    target: Target | None = None
    action: Action | None = None
    explanation: str = ""
    failed: bool = Field(
        default=False,
        description="the reasoner could not answer (unreachable, out of steps or tokens): the "
        "request fails, saying why, instead of completing as not understood",
    )
