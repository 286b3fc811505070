"""What the guard knows about the world when it judges one proposal.

A `GuardContext` is a frozen snapshot built by the caller (the executor agent, a controller, a
test) from the cluster and the clock. The guard reads nothing else, so the same proposal and the
same context always give the same verdict. Unknown facts are `None`: a rule that needs one fails
closed instead of guessing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quarterdeck.core.models import ActionKind


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Revision(_Frozen):
    """One revision of a service's Deployment (oldest has the lowest number)."""

    number: int = Field(ge=1)
    version: str
    healthy: bool = Field(
        default=False,
        description="the caller observed this revision serving within its SLO; rollback targets "
        "must be healthy",
    )


class ServiceState(_Frozen):
    """The current state of one service, as the caller last observed it."""

    namespace: str
    name: str
    replicas: int = Field(ge=0, description="desired replicas now (spec.replicas)")
    ready_replicas: int | None = Field(default=None, ge=0)
    min_replicas: int | None = Field(default=None, ge=0)
    max_replicas: int | None = Field(default=None, ge=0)
    gpu_per_pod: int = Field(default=0, ge=0)
    current_version: str | None = None
    current_revision: int | None = Field(default=None, ge=1)
    revisions: tuple[Revision, ...] = ()
    route_weights: dict[str, int] = Field(
        default_factory=dict, description="current traffic weights by version; {} = all on current"
    )
    labels: dict[str, str] = Field(default_factory=dict)
    namespace_labels: dict[str, str] = Field(default_factory=dict)

    def revision(self, number: int | None = None, version: str | None = None) -> Revision | None:
        """The revision with this number or version name (the newest one with that name)."""
        for rev in sorted(self.revisions, key=lambda r: r.number, reverse=True):
            if (number is not None and rev.number == number) or (
                number is None and version is not None and rev.version == version
            ):
                return rev
        return None

    def effective_weights(self) -> dict[str, int]:
        """Route weights, defaulting to all traffic on the current version."""
        if self.route_weights:
            return dict(self.route_weights)
        return {self.current_version: 100} if self.current_version else {}


class ClusterState(_Frozen):
    """Cluster-wide totals the budget guards need."""

    gpu_capacity: int | None = Field(
        default=None, ge=0, description="GPUs the cluster has (None = unknown)"
    )
    gpus_in_use: int = Field(default=0, ge=0, description="GPUs requested by existing pods")


class AppliedAction(_Frozen):
    """An action that was applied to a service; cooldowns and rate limits count these."""

    namespace: str
    service: str
    kind: ActionKind
    at: float = Field(description="clock seconds when it was applied")
    proposal_id: str = ""


class GuardContext(_Frozen):
    """Everything the guard may look at besides the proposal itself.

    `now` is the clock the rest of Quarterdeck uses (simulator seconds or Unix seconds); evidence
    ages, cooldowns and rate limits are measured on it. `wall_time` is the same instant as a
    timezone-aware datetime, for change-freeze windows; when omitted it is `now` read as Unix
    seconds in UTC. `history` lists actions applied elsewhere (e.g. replayed from the audit log
    after a restart); the guard adds what was recorded through `Guard.record`.
    """

    now: float
    wall_time: datetime | None = None
    services: tuple[ServiceState, ...] = ()
    cluster: ClusterState = ClusterState()
    history: tuple[AppliedAction, ...] = ()

    @model_validator(mode="after")
    def _wall_time_is_aware(self) -> GuardContext:
        if self.wall_time is not None and self.wall_time.utcoffset() is None:
            raise ValueError("wall_time must carry a timezone (e.g. 2026-11-24T18:00:00+01:00)")
        return self

    @property
    def wall_clock(self) -> datetime:
        """`wall_time`, or `now` read as Unix seconds in UTC."""
        if self.wall_time is not None:
            return self.wall_time
        return datetime.fromtimestamp(self.now, tz=UTC)

    def service(self, namespace: str, name: str) -> ServiceState | None:
        """The state of `namespace/name`, or None when the caller did not supply it."""
        for svc in self.services:
            if svc.namespace == namespace and svc.name == name:
                return svc
        return None
