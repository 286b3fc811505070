"""The REST API's request and response bodies.

One schema source: proposals, verdicts, targets and actions are `quarterdeck.core.models`; the
proposal record is the executor's `ExecutionReport`; predictions are the what-if engine's `WhatIf`;
audit entries are `quarterdeck.audit.AuditEntry`. What is defined here is only what exists at the
HTTP edge: the request envelopes, the service status summary, chat steps, loop settings, errors.
Every model carries examples so the OpenAPI document reads on its own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from quarterdeck.agents.executor import ExecutionReport, ExecutionStatus
from quarterdeck.agents.loop import LoopMode
from quarterdeck.api.dryrun import DryRunResult
from quarterdeck.core.models import Action, Target

_EXAMPLE_TARGET: dict[str, Any] = {"namespace": "ml", "service": "fraud-detector"}


# Line breaks that JSON leaves unescaped but `str.splitlines` splits on: in text that travels to
# the agents inside an event stream they would cut a JSON line in two. They mean "new line".
_SEPARATORS = "\x85\u2028\u2029"
_STREAM_BREAKS = str.maketrans(dict.fromkeys(_SEPARATORS, "\n"))


def plain_lines(text: str) -> str:
    """`text` with the Unicode line separators replaced by `\\n`."""
    return text.translate(_STREAM_BREAKS)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Problem(BaseModel):
    """Every 4xx/5xx answer: what went wrong, in words a person can act on."""

    detail: Any = Field(examples=["no proposal with id 'p-1'"])


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "action", "scale", "replicas"]])
    msg: str = Field(examples=["Input should be greater than or equal to 0"])
    type: str = Field(examples=["greater_than_equal"])


class ValidationProblem(BaseModel):
    """A 422: every field that is wrong, where it is and why."""

    detail: list[ValidationIssue]


# -- actions -----------------------------------------------------------------------------------


class ActionRequest(_Body):
    """Ask for one action on one service. It is guarded like any agent's proposal."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "target": _EXAMPLE_TARGET,
                    "action": {"kind": "scale", "replicas": 6},
                    "reason": "flash sale: p95 over SLO",
                    "dry_run": True,
                },
                {
                    "target": {"namespace": "ml", "service": "ranker"},
                    "action": {"kind": "route", "weights": {"v1": 90, "v2": 10}},
                    "reason": "send 10% to v2",
                    "mode": "approve",
                },
            ]
        },
    )

    target: Target
    action: Action
    reason: str = Field(default="", max_length=4000, examples=["p95 of fraud-detector is high"])

    @field_validator("reason")
    @classmethod
    def _plain(cls, v: str) -> str:
        return plain_lines(v)

    @field_validator("action")
    @classmethod
    def _no_line_separators(cls, v: Action) -> Action:
        # Version names are identifiers; one with a Unicode line separator cannot travel to the
        # agents (see `plain_lines`) and names no real version anyway.
        text = v.model_dump_json()
        if any(c in text for c in _SEPARATORS):
            raise ValueError("version names may not contain line separators (U+0085/2028/2029)")
        return v

    dry_run: bool = Field(
        default=False,
        description="true: return the guard's verdict and the predicted effect; apply nothing",
    )
    mode: Literal["auto", "approve"] = Field(
        default="auto",
        description="auto: apply if policy allows, else wait for approval; approve: always wait",
    )
    horizon_s: float = Field(
        default=600.0, gt=0, le=6 * 3600, description="dry-run prediction horizon, seconds"
    )


class DryRunResponse(BaseModel):
    """`dry_run: true`: nothing was applied."""

    dry_run: Literal[True] = True
    result: DryRunResult


class ActionResponse(BaseModel):
    """`dry_run: false`: the executor's record of the proposal (applied, denied, waiting…)."""

    dry_run: Literal[False] = False
    record: ExecutionReport


# -- proposals ---------------------------------------------------------------------------------

ProposalFilter = Literal[
    "pending",
    "awaiting_approval",
    "denied",
    "rejected",
    "failed",
    "applied",
    "unconfirmed",
    "verified",
    "rolled_back",
    "escalated",
]


def status_matches(record: ExecutionReport, wanted: ProposalFilter | None) -> bool:
    if wanted is None:
        return True
    if wanted == "pending":
        return record.status is ExecutionStatus.AWAITING_APPROVAL
    return record.status.value == wanted


class DecisionRequest(_Body):
    comment: str | None = Field(
        default=None, max_length=2000, examples=["checked the dashboards, go"]
    )

    @field_validator("comment")
    @classmethod
    def _plain(cls, v: str | None) -> str | None:
        return None if v is None else plain_lines(v)


class DecisionResponse(BaseModel):
    proposal_id: str = Field(examples=["chat-1a2b3c4d5e6f"])
    decision: Literal["approved", "rejected"]
    message: str = Field(examples=["scale to 6 replicas on ml/fraud-detector applied"])
    record: ExecutionReport | None = Field(
        default=None, description="the proposal after the decision"
    )


# -- services ----------------------------------------------------------------------------------


class SignalStatus(BaseModel):
    value: float | None = Field(description="None: no data (absent or stale)", examples=[212.5])
    unit: str = Field(default="", examples=["ms"])
    status: str = Field(examples=["violated"], description="ok | violated | no_data | …")
    observed_at: float | None = None
    slo: str | None = Field(default=None, examples=["≤ 150"])


class ServiceStatus(BaseModel):
    """A service's health against its SLO, and its replicas as the cluster reports them."""

    service: str = Field(examples=["ml/fraud-detector"])
    target: Target
    health: Literal["ok", "violated", "unknown", "no_data"] = Field(
        description="unknown: some SLO signal has no data; no_data: none has"
    )
    replicas: int | None = Field(default=None, examples=[4])
    ready_replicas: int | None = Field(default=None, examples=[3])
    version: str | None = Field(default=None, examples=["v1"])
    observed_at: float | None = None
    signals: dict[str, SignalStatus] = Field(default_factory=dict)
    violations: list[str] = Field(
        default_factory=list, examples=[["p95_latency_ms = 212.5 ms (SLO ≤ 150)"]]
    )
    no_data_reason: str | None = None


class ServicesResponse(BaseModel):
    at: float = Field(description="clock seconds of the reading (sim seconds on the simulator)")
    services: list[ServiceStatus]


# -- chat --------------------------------------------------------------------------------------


class ChatRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"text": "p95 of fraud-detector is high, fix it"}]},
    )

    text: str = Field(min_length=1, max_length=4000)

    @field_validator("text")
    @classmethod
    def _plain(cls, v: str) -> str:
        return plain_lines(v)


class ChatStep(BaseModel):
    """One step the agents took (an SSE `step` event carries one of these)."""

    task_id: str = ""
    state: str | None = Field(
        default=None, examples=["working"], description="the A2A task state, lower case"
    )
    text: str = Field(default="", examples=["asking the observer about ml/fraud-detector"])
    data: list[dict[str, Any]] = Field(default_factory=list)


class ChatReply(BaseModel):
    """The answer: where the request ended and every step on the way."""

    task_id: str | None = None
    state: str = Field(examples=["completed"], description="completed | input_required | …")
    text: str = Field(examples=["ml/fraud-detector: within SLO"])
    approval: dict[str, Any] | None = Field(
        default=None, description="set when a proposal waits for a human: its proposal_id"
    )
    steps: list[ChatStep] = Field(default_factory=list)


# -- loop --------------------------------------------------------------------------------------


class LoopSettings(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"mode": "auto", "interval_s": 15.0, "enabled": True}]},
    )

    mode: LoopMode = Field(description="observe | suggest | approve | auto")
    interval_s: float = Field(
        ge=1, le=86_400, description="clock seconds between loop passes", examples=[15.0]
    )
    enabled: bool = Field(description="whether passes run in the background")


class LoopEventOut(BaseModel):
    kind: str = Field(examples=["incident_opened"])
    service: str = Field(examples=["ml/fraud-detector"])
    message: str
    incident_id: str | None = None
    proposal_id: str | None = None
    status: str | None = None


class LoopTickResponse(BaseModel):
    at: float
    mode: LoopMode
    healthy: int = Field(description="services within SLO")
    services: int
    events: list[LoopEventOut]


# -- audit -------------------------------------------------------------------------------------


class AuditVerifyResponse(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    anchor: str = Field(description="SEQ:HASH to record outside the database")
    bad_seq: int | None = None
    problem: str | None = None
    message: str = ""
    summary: str


class Health(BaseModel):
    status: Literal["ok", "ready", "not_ready"]
    checks: dict[str, bool] = Field(default_factory=dict)
