"""The shape of policy files: `GuardPolicy` (CEL rules) and `GuardSettings` (built-in guards).

Both are Kubernetes-style documents (`apiVersion: quarterdeck.dev/v1`, `kind`, `metadata.name`,
`spec`). Field names are camelCase in YAML, as in Kubernetes; unknown fields are refused so a typo
never silently disables a rule. These models only describe the files: `loader` turns them into
rules.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from quarterdeck.core.durations import parse_duration
from quarterdeck.core.models import ActionKind

API_VERSION = "quarterdeck.dev/v1"
POLICY_KINDS = ("GuardPolicy", "GuardSettings")
TEST_KIND = "GuardTest"

_RULE_ID = r"^[a-z0-9]([-a-z0-9_./]*[a-z0-9])?$"

Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Effect = Literal["allow", "deny", "require_approval"]
BlockEffect = Literal["deny", "require_approval"]
ClampOrBlock = Literal["clamp", "deny", "require_approval"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Metadata(_Spec):
    name: str = Field(pattern=_RULE_ID, max_length=128)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class Match(_Spec):
    """Which proposals a policy or guard looks at. Every given field must match; empty = all.

    Names are shell-style patterns (`ml-*`); `services` entries are `name` or `namespace/name`.
    Label selectors compare with the labels in the context's service state.
    """

    kinds: tuple[ActionKind, ...] | None = None
    namespaces: tuple[str, ...] | None = None
    exclude_namespaces: tuple[str, ...] = ()
    services: tuple[str, ...] | None = None
    namespace_labels: dict[str, str] | None = None
    service_labels: dict[str, str] | None = None
    requested_by: tuple[str, ...] | None = None


# --- GuardPolicy: CEL rules, as Kubernetes ValidatingAdmissionPolicy writes them -----------------


class MatchCondition(_Spec):
    """All match conditions must be true for the policy to apply (an error fails closed)."""

    name: str = Field(pattern=_RULE_ID)
    expression: str = Field(min_length=1)


class Validation(_Spec):
    """A CEL expression that must be true; when false, the rule fires with `effect`.

    `effect: allow` only records the match (like the `Warn`/`Audit` actions of a
    ValidatingAdmissionPolicyBinding): the proposal goes on, the verdict says it was noticed.
    """

    id: str | None = Field(default=None, pattern=_RULE_ID)
    expression: str = Field(min_length=1)
    message: str | None = None
    message_expression: str | None = None
    reason: str | None = None
    effect: Effect | None = None


class Clamp(_Spec):
    """Bound an action parameter into [min, max] (CEL expressions giving an int, or null)."""

    id: str | None = Field(default=None, pattern=_RULE_ID)
    param: Literal["replicas", "pods"]
    min: str | None = None
    max: str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> Clamp:
        if self.min is None and self.max is None:
            raise ValueError("a clamp needs `min`, `max` or both")
        return self


class GuardPolicySpec(_Spec):
    match: Match = Match()
    match_conditions: tuple[MatchCondition, ...] = ()
    validations: tuple[Validation, ...] = ()
    clamps: tuple[Clamp, ...] = ()
    effect: Effect = Field(
        default="deny", description="effect of a failed validation that names none"
    )

    @model_validator(mode="after")
    def _has_rules(self) -> GuardPolicySpec:
        if not self.validations and not self.clamps:
            raise ValueError("a GuardPolicy needs at least one validation or clamp")
        return self


# --- GuardSettings: parameters of the built-in (stateful) guards ---------------------------------


class _Section(_Spec):
    id: str | None = Field(default=None, pattern=_RULE_ID)
    match: Match = Match()


class ProtectedNamespaces(_Section):
    namespaces: tuple[str, ...] = ()
    namespace_labels: dict[str, str] | None = None
    effect: BlockEffect = "deny"


class UnknownService(_Section):
    effect: BlockEffect = "deny"


class Cooldown(_Section):
    """No two applied actions on one service (of the same kind, if `perKind`) within `period`."""

    period: Duration
    per_kind: bool = True
    effect: BlockEffect = "deny"


class RateLimit(_Section):
    """At most `maxActions` applied actions per service within `window`."""

    max_actions: int = Field(ge=0)
    window: Duration
    effect: BlockEffect = "deny"


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _parse_hhmm(v: object) -> object:
    if isinstance(v, str):
        m = _HHMM.match(v.strip())
        if not m:
            raise ValueError(f"not a time of day: {v!r} (use HH:MM, 24-hour)")
        return time(int(m.group(1)), int(m.group(2)))
    return v


class FreezeWindow(_Spec):
    """A change freeze: recurring (`days` + `start`/`end` times of day; `end` ≤ `start` wraps past
    midnight, `end` = `start` is the whole day) or one-off (`from`/`until` date-times).
    Times are wall-clock times in `timezone` (an IANA name)."""

    name: str = Field(pattern=_RULE_ID)
    timezone: str = "UTC"
    days: tuple[Weekday, ...] | None = None
    start: Annotated[time, BeforeValidator(_parse_hhmm)] | None = None
    end: Annotated[time, BeforeValidator(_parse_hhmm)] | None = None
    from_: datetime | None = Field(default=None, alias="from")
    until: datetime | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown IANA timezone {v!r}") from e
        return v

    @model_validator(mode="after")
    def _one_shape(self) -> FreezeWindow:
        recurring = self.start is not None or self.end is not None or self.days is not None
        one_off = self.from_ is not None or self.until is not None
        if recurring == one_off:
            raise ValueError(
                "a freeze window is either recurring (days, start, end) or one-off (from, until)"
            )
        if recurring and (self.start is None or self.end is None):
            raise ValueError("a recurring freeze window needs both `start` and `end` (HH:MM)")
        if one_off:
            if self.from_ is None or self.until is None:
                raise ValueError("a one-off freeze window needs both `from` and `until`")
            if self.until <= self.from_:
                raise ValueError("`until` must be after `from`")
        return self


class Freeze(_Section):
    windows: tuple[FreezeWindow, ...] = ()
    effect: BlockEffect = "deny"


class ScaleStep(_Section):
    """Largest change of replicas per action: up to max(+upAbsolute, +upPercent %), down by at most
    max(downAbsolute, downPercent % of current)."""

    up_absolute: int = Field(default=0, ge=0)
    up_percent: float = Field(default=100.0, ge=0)
    down_absolute: int = Field(default=1, ge=0)
    down_percent: float = Field(default=50.0, ge=0, le=100)
    effect: ClampOrBlock = "clamp"


class CanaryStep(_Section):
    """Largest change of any version's route weight per action, in points. Moving weight only onto
    healthy revisions (back to stable) is exempt when `allowShiftToHealthy`. `clamp` moves every
    weight the same fraction of the way (to within `maxPoints`)."""

    max_points: int = Field(ge=1, le=100)
    allow_shift_to_healthy: bool = True
    effect: ClampOrBlock = "require_approval"


class RestartShare(_Section):
    """Largest share of a service's pods restarted at once (a rolling restart is one at a time)."""

    max_percent: float = Field(ge=0, le=100)
    effect: BlockEffect = "require_approval"


class BlastRadius(_Spec):
    scale_step: ScaleStep | None = None
    canary_step: CanaryStep | None = None
    restart_share: RestartShare | None = None


class ReplicaBudget(_Section):
    max: int = Field(ge=0)
    effect: Literal["clamp", "deny"] = "clamp"


class GpuBudget(_Section):
    """Total GPUs the cluster may use; `max` null = the cluster's capacity from the context."""

    max: int | None = Field(default=None, ge=0)
    effect: Literal["clamp", "deny"] = "clamp"


class Budgets(_Spec):
    replicas: ReplicaBudget | None = None
    gpus: GpuBudget | None = None


class HealthyRevision(_Section):
    effect: BlockEffect = "deny"


class StaleEvidence(_Section):
    max_age: Duration
    on_stale: BlockEffect = "deny"
    on_missing_value: BlockEffect = "deny"
    require_evidence: bool = False


class GuardSettingsSpec(_Spec):
    protected_namespaces: ProtectedNamespaces | None = None
    unknown_service: UnknownService | None = None
    cooldown: Cooldown | None = None
    rate_limit: RateLimit | None = None
    freeze: Freeze | None = None
    blast_radius: BlastRadius | None = None
    budgets: Budgets | None = None
    healthy_revision: HealthyRevision | None = None
    stale_evidence: StaleEvidence | None = None


class _Document(_Spec):
    api_version: Literal["quarterdeck.dev/v1"]
    metadata: Metadata


class GuardPolicyDoc(_Document):
    kind: Literal["GuardPolicy"]
    spec: GuardPolicySpec


class GuardSettingsDoc(_Document):
    kind: Literal["GuardSettings"]
    spec: GuardSettingsSpec
