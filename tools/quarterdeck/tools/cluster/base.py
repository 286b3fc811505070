"""The `ClusterClient` interface, the typed values it returns, and the errors it raises.

Every adapter answers the same questions with the same values (the contract tests in
tests/kube/ hold them to it). Methods raise a `ClusterError` subclass instead of returning an
empty or partial answer: an unreachable cluster must never look like a healthy, empty one. The
agent-facing tools turn these errors into `ToolResult(status=ERROR)`.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.core.models import Action, Target


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Deployment(_Value):
    """A model-serving service's Deployment: desired and ready replicas, the serving version."""

    namespace: str
    name: str
    replicas: int = Field(description="desired replicas (spec.replicas)")
    ready: int = Field(description="replicas that are Ready and serving")
    version: str = Field(description="the version of the current (newest) revision")
    revision: int = Field(description="the current revision number (deployment.kubernetes.io)")
    min_replicas: int | None = Field(default=None, description="bounds, when the cluster says")
    max_replicas: int | None = None

    @property
    def target(self) -> Target:
        return Target(namespace=self.namespace, service=self.name)


class Revision(_Value):
    """One entry of a Deployment's revision history (a ReplicaSet)."""

    revision: int
    version: str
    replicas: int = Field(description="pods of this revision that exist")
    ready: int = Field(description="pods of this revision that are Ready")
    current: bool = Field(description="the Deployment's template is this revision's")
    canary: bool = Field(default=False, description="runs as a canary beside the primary")
    created_at: float | None = Field(
        default=None,
        description="clock seconds its ReplicaSet was created (a rollback re-uses an old one)",
    )


class Pod(_Value):
    namespace: str
    name: str
    service: str
    version: str
    node: str | None
    phase: str = Field(description="Pending | Running | Failed | Succeeded | Unknown")
    ready: bool
    restarts: int = 0
    startup_s: float | None = Field(
        default=None,
        description="seconds from the pod's start to Ready, as its timestamps say "
        "(None while it is not Ready)",
    )
    ready_since: float | None = Field(
        default=None,
        description="clock seconds when it turned Ready (as event times: sim seconds for `sim`, "
        "Unix time less the configured epoch for `kube`); None while it is not Ready",
    )


class ClusterEvent(_Value):
    """A Kubernetes Event. `message` is untrusted free text (it may carry prompt injection)."""

    time: float = Field(description="clock seconds: sim seconds for `sim`, Unix time for `kube`")
    namespace: str
    kind: str = Field(description="involved object's kind (Deployment, Pod, Node, ...)")
    name: str = Field(description="involved object's name")
    type: Literal["Normal", "Warning"] | str
    reason: str
    message: str


class ApplyResult(_Value):
    """What applying an action did. `applied=False` means the cluster accepted it as a no-op."""

    target: Target
    action: Action
    applied: bool
    message: str = ""


class ClusterError(Exception):
    """Base of every error a `ClusterClient` raises; `str()` says what went wrong."""


class ClusterUnavailable(ClusterError):
    """The cluster did not answer (refused, timed out, 5xx/429) after bounded retries."""


class NotFoundError(ClusterError):
    """The service, version or revision named does not exist."""


class InvalidRequest(ClusterError):
    """The cluster refused the request as invalid (bad replicas, weights, unknown version...)."""


class ConflictError(ClusterError):
    """The object changed since it was read (a stale resourceVersion)."""


@runtime_checkable
class ClusterClient(Protocol):
    """Read a cluster's model-serving Deployments and act on them."""

    kind: str  # "sim" | "kube"

    def deployments(self, namespace: str | None = None) -> list[Deployment]:
        """Every Deployment (in `namespace`), sorted by namespace then name."""
        ...

    def deployment(self, target: Target) -> Deployment:
        """One Deployment; `NotFoundError` if there is none."""
        ...

    def revisions(self, target: Target) -> list[Revision]:
        """The revision history, oldest first."""
        ...

    def pods(self, namespace: str | None = None, service: str | None = None) -> list[Pod]:
        """Pods, sorted by namespace then name."""
        ...

    def events(
        self,
        *,
        since: float | None = None,
        namespace: str | None = None,
        involved: str | None = None,
    ) -> list[ClusterEvent]:
        """Events at or after `since` (clock seconds), optionally only those about the object
        named `involved`, oldest first."""
        ...

    def route_weights(self, target: Target) -> dict[str, int]:
        """Traffic weight per version (percent, summing to 100)."""
        ...

    def apply(self, target: Target, action: Action) -> ApplyResult:
        """Applies `action` now. Callers guard and approve first; this only executes."""
        ...

    def is_online(self) -> bool:
        """True if the cluster answers; never raises."""
        ...


@runtime_checkable
class RestartMarking(Protocol):
    """Optional beside `ClusterClient`: a rolling restart stamped with a marker the caller chooses
    (the `kubectl.kubernetes.io/restartedAt` annotation), so the same restart applied twice
    restarts once — the second call finds its marker already on the Deployment and does nothing.
    The executor derives the marker from the proposal, so a restart replayed after a crash is a
    no-op if the first call took effect."""

    def restart_marker(self, target: Target) -> str | None:
        """The marker of the Deployment's last rolling restart (None when it never had one)."""
        ...

    def restart_marked(self, target: Target, marker: str) -> ApplyResult:
        """A rolling restart stamped `marker`; `applied=False` when the marker is already set."""
        ...


def listed_targets(cluster: ClusterClient) -> list[Target]:
    """Every Deployment's target, sorted; none when the cluster does not answer (a caller that
    accounts for every service then has nothing to add, rather than failing)."""
    try:
        return [d.target for d in cluster.deployments()]
    except ClusterError:
        return []
