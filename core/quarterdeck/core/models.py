"""The one definition of what an agent proposes, what the guard decides, and what a tool returns.

Every layer speaks these pydantic models: the simulator applies `Action`s, the tools produce
`ActionProposal`s, the guard returns `Verdict`s, the audit log stores them, the REST API's schema is
generated from them. A new action kind is added here first.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"  # a Kubernetes DNS-1123 label


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Target(_Frozen):
    """A model-serving service: a Deployment (plus its route) in a namespace."""

    namespace: str = Field(pattern=_NAME, max_length=63, examples=["ml"])
    service: str = Field(pattern=_NAME, max_length=63, examples=["fraud-detector"])

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service}"


class ScaleAction(_Frozen):
    """Set the Deployment's replica count."""

    kind: Literal["scale"] = "scale"
    replicas: int = Field(ge=0, le=10_000, examples=[6])


class RollbackAction(_Frozen):
    """Roll every replica back to an earlier revision (by number or by version name)."""

    kind: Literal["rollback"] = "rollback"
    to_revision: int | None = Field(default=None, ge=1, le=2**31 - 1, examples=[1])
    to_version: str | None = Field(default=None, examples=["v1"])


class RouteAction(_Frozen):
    """Set traffic weights between versions (an HTTPRoute's backendRefs). Weights sum to 100."""

    kind: Literal["route"] = "route"
    weights: dict[str, int] = Field(examples=[{"v2": 90, "v3": 10}])

    @field_validator("weights")
    @classmethod
    def _weights_sum_to_100(cls, v: dict[str, int]) -> dict[str, int]:
        if not v:
            raise ValueError("weights must name at least one version")
        if any(w < 0 or w > 100 for w in v.values()):
            raise ValueError("each weight must be between 0 and 100")
        if sum(v.values()) != 100:
            raise ValueError(f"weights must sum to 100, got {sum(v.values())}")
        return v


class RestartAction(_Frozen):
    """Recreate pods. `pods=None` restarts all of them, one at a time (a rolling restart)."""

    kind: Literal["restart"] = "restart"
    pods: int | None = Field(default=None, ge=1, le=10_000)


Action = Annotated[
    ScaleAction | RollbackAction | RouteAction | RestartAction, Field(discriminator="kind")
]
ActionKind = Literal["scale", "rollback", "route", "restart"]
ACTION_KINDS: tuple[ActionKind, ...] = ("scale", "rollback", "route", "restart")


class Evidence(_Frozen):
    """One observation behind a proposal. `observed_at` lets the guard refuse stale evidence."""

    signal: str = Field(examples=["p95_latency_ms"])
    value: float | None = Field(description="None when the source had no data")
    observed_at: float = Field(description="clock seconds when the sample was taken")
    threshold: float | None = None
    source: str = Field(default="", examples=["prometheus"])


class ActionProposal(_Frozen):
    """A typed, validated action that some agent, user or controller wants applied.

    A proposal applies nothing by itself: it is guarded, maybe approved, then executed.
    """

    id: str = Field(min_length=1, max_length=128, examples=["p-000001"])
    target: Target
    action: Action
    reason: str = Field(default="", max_length=4000)
    evidence: tuple[Evidence, ...] = ()
    incident_id: str | None = None
    trace_id: str | None = None
    requested_by: str = Field(default="system", examples=["alice"])
    created_at: float = 0.0
    predicted: dict[str, float] | None = Field(
        default=None, description="the dry-run's predicted effect, if the planner ran one"
    )

    @property
    def kind(self) -> ActionKind:
        return self.action.kind


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


RuleEffect = Literal["allow", "deny", "require_approval", "clamp"]


class RuleMatch(_Frozen):
    """One rule that matched a proposal, with the inputs it saw."""

    rule_id: str
    policy: str
    effect: RuleEffect
    message: str
    inputs: dict[str, Any] = Field(default_factory=dict)


class Verdict(_Frozen):
    """The guard's answer. `action` is the action to apply: the proposal's, or a clamped one."""

    proposal_id: str
    decision: Decision
    action: Action
    matches: tuple[RuleMatch, ...] = ()
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    @property
    def clamped(self) -> bool:
        return any(m.effect == "clamp" for m in self.matches)


class ToolStatus(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    NO_DATA = "no_data"
    APPROVAL_REQUIRED = "approval_required"


class ToolResult(_Frozen):
    """What every agent-facing tool returns. Tools never raise into an agent."""

    tool: str
    status: ToolStatus
    data: Any = None
    error: str | None = None
    proposal: ActionProposal | None = None

    @model_validator(mode="after")
    def _error_has_text(self) -> ToolResult:
        if self.status is ToolStatus.ERROR and not self.error:
            raise ValueError("an ERROR result must say what went wrong")
        return self

    @property
    def ok(self) -> bool:
        return self.status is ToolStatus.SUCCESS
