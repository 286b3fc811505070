"""The `agent` controller for `quarterdeck bench` and `quarterdeck sim run --controller agent`:
Quarterdeck's loop in `auto` mode with the embedded reasoner's decisions and the default policies.

Every `controller_interval`, per service:
observe (`SimObserver`, reading the simulator directly — see its docstring for why) →
diagnose (`brain.diagnosis.diagnose`: burn-rate breach + cause with evidence; a scale-down no
lower than the largest need of the last `stabilise_s`, nor into a load per replica that ran hot
in the last `hot_memory_s`) →
incident (`brain.incidents.IncidentBook`: service + cause + start; pending actions) →
plan (`brain.planner.plan`, minus actions pending for the incident and kinds still settling) →
guard (`quarterdeck.policies.Guard` with the default policy set, evaluated on every proposal in
rank order until one is allowed: `deny` and `require_approval` are counted in `stats()` and
remembered as pending for the incident, so they are not asked again) → return the allowed,
possibly clamped, actions (at most one per service per interval).

Like the runtime's loop, an applied action of a kind is left to settle (`settle_s`, the default
cooldown) before another of that kind is proposed for the same service; the guard would deny it
anyway. The controller never mutates the simulator; the runner applies what it returns.
`make_agent_controller()` is the zero-argument factory the CLI registers as `agent`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from quarterdeck.agents.brain.diagnosis import Diagnosis, DiagnosisSettings, diagnose
from quarterdeck.agents.brain.incidents import IncidentBook
from quarterdeck.agents.brain.observation import ServiceObservation
from quarterdeck.agents.brain.planner import Candidate, plan, to_proposals
from quarterdeck.agents.brain.stabilise import HotLoads, RecentNeeds
from quarterdeck.agents.sim_observe import SimObserver
from quarterdeck.core.models import ActionProposal, Decision, Target
from quarterdeck.policies import (
    ClusterState,
    Guard,
    GuardContext,
    Revision,
    ServiceState,
    default_policy_dir,
    load_policies,
)
from quarterdeck.sim.controllers.base import ControllerStats

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator

REQUESTED_BY = "agent:loop"


@dataclass(frozen=True)
class AgentControllerSettings:
    diagnosis: DiagnosisSettings = field(default_factory=DiagnosisSettings)
    settle_s: float = 60.0
    """After applying an action of a kind, wait this long before another of that kind on the
    same service (let pods start and the windows move; the default cooldown is 60 s)."""
    stabilise_s: float = 120.0
    """Scale-downs go no lower than the largest need seen this long back (the HPA's scale-down
    stabilisation; its 300 s default cost more replica-hours than it saved SLO minutes here)."""
    hot_memory_s: float = 1800.0
    """A scale-down keeps the load per replica under the figure at which p95 last came near the
    SLO for this long (`stabilise.HotLoads`)."""
    whatif_horizon_s: float | None = None
    """Rank several candidates by the simulator's what-if over this horizon (None: heuristic
    order; the what-if forks the simulator twice per candidate, so it is off for the bench)."""


class AgentController:
    name = "agent"

    def __init__(
        self, settings: AgentControllerSettings | None = None, guard: Guard | None = None
    ) -> None:
        self.settings = settings or AgentControllerSettings()
        self._guard = guard
        self._observer = SimObserver()
        self._book = IncidentBook()
        self._applied: dict[tuple[str, str], float] = {}  # (service, kind) -> applied at
        self._needs = RecentNeeds(self.settings.stabilise_s)
        self._hot = HotLoads(self.settings.hot_memory_s)
        self._denied = 0
        self._approvals = 0
        self._seq = 0
        self.decisions: list[Diagnosis] = []  # the last decision's diagnoses (for inspection)

    # -- Controller protocol ------------------------------------------------------------------

    def start(self, sim: Simulator) -> None:
        if self._guard is None:
            self._guard = Guard(load_policies(default_policy_dir()))

    def stats(self) -> ControllerStats:
        return ControllerStats(denied=self._denied, approvals_requested=self._approvals)

    def decide(self, sim: Simulator) -> Sequence[ActionProposal]:
        if self._guard is None:
            self.start(sim)
        assert self._guard is not None
        now = sim.now
        cluster = _cluster_state(sim)
        out: list[ActionProposal] = []
        observations = self._observer.observe_all(sim)
        self.decisions = []
        for obs in observations:
            diag = diagnose(obs, self.settings.diagnosis)
            diag = self._stabilised(diag, now)
            self.decisions.append(diag)
            incident = self._book.update(diag)
            if incident is None:
                continue
            chosen = [
                c
                for c in plan(
                    diag, pending=self._book.pending(incident), rank=self._rank(sim, diag.target)
                )
                if not self._settling(obs, c, now)
            ]
            proposals = to_proposals(
                diag, chosen, new_id=self._new_id, requested_by=REQUESTED_BY,
                incident_id=incident.id,
            )  # fmt: skip
            context = GuardContext(
                now=now,
                wall_time=datetime.fromtimestamp(sim.epoch + now, tz=UTC),
                services=(_service_state(obs, diag),),
                cluster=cluster,
            )
            for cand, proposal in zip(chosen, proposals, strict=True):
                verdict = self._guard.evaluate(proposal, context)
                self._book.add_pending(incident, cand.key(diag.target))
                if verdict.decision is Decision.DENY:
                    self._denied += 1
                    continue
                if verdict.decision is Decision.REQUIRE_APPROVAL:
                    self._approvals += 1  # nobody approves during a benchmark: it waits
                    continue
                self._guard.record(proposal, verdict, applied_at=now)
                self._applied[(str(diag.target), verdict.action.kind)] = now
                out.append(proposal.model_copy(update={"action": verdict.action}))
                break
        return out

    # -- helpers ------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._seq += 1
        return f"agent-{self._seq:06d}"

    def _stabilised(self, diag: Diagnosis, now: float) -> Diagnosis:
        """A scale-down goes no lower than the most replicas the load needed over the last
        `stabilise_s` (the HPA's scale-down stabilisation window), nor to a load per replica at
        which p95 came near the SLO in the last `hot_memory_s`."""
        need = diag.details.get("needed")
        service = str(diag.target)
        counted = isinstance(need, int) and diag.cause != "overprovisioned"
        self._needs.note(service, now, need if counted else None)
        self._hot.note_diagnosis(service, now, diag.cause, diag.details)
        if diag.cause != "overprovisioned" or not isinstance(need, int):
            return diag
        hot = self._hot.floor_for(service, now, diag.details)
        floor = max(self._needs.floor(service) or 0, hot or 0)
        if floor <= need:
            return diag
        return replace(diag, details=diag.details | {"needed": floor})

    def _settling(self, obs: ServiceObservation, c: Candidate, now: float) -> bool:
        at = self._applied.get((str(obs.target), c.action.kind))
        return at is not None and now - at < self.settings.settle_s

    def _rank(
        self, sim: Simulator, target: Target
    ) -> Callable[[Sequence[Candidate]], list[list[float]]] | None:
        horizon = self.settings.whatif_horizon_s
        if horizon is None or sim.done:
            return None

        def rank(cands: Sequence[Candidate]) -> list[list[float]]:
            from quarterdeck.sim.whatif import predict

            scores = []
            for i, c in enumerate(cands):
                probe = ActionProposal(id=f"whatif-{i}", target=target, action=c.action)
                d = predict(sim, [probe], horizon).delta
                scores.append([d.slo_violation_minutes, d.failed_requests, d.replica_hours])
            return scores

        return rank


def _service_state(obs: ServiceObservation, diag: Diagnosis) -> ServiceState:
    """The guard's view of the service. A revision is healthy (a valid rollback target) when it
    is older than the current one and not the suspect of a bad-version diagnosis; the current
    primary revision is healthy while its own version serves within SLO; a canary is healthy
    once the brain judged it ready to promote."""
    suspect = diag.details.get("suspect") if diag.cause == "bad_version" else None
    promote = diag.details.get("promote")
    stable = obs.version_stats(obs.version)
    current_ok = (
        stable is not None
        and (stable.error_ratio or 0.0) <= obs.slo_error_ratio
        and (stable.p95_ms or 0.0) <= obs.slo_p95_ms
    )
    revisions = tuple(
        Revision(
            number=r.number,
            version=r.version,
            healthy=r.version != suspect
            and (
                (r.number < obs.revision and not r.canary)
                or (r.number == obs.revision and current_ok)
                or (r.canary and r.version == promote)
            ),
        )
        for r in obs.revisions
    )
    return ServiceState(
        namespace=obs.target.namespace,
        name=obs.target.service,
        replicas=obs.spec_replicas,
        ready_replicas=obs.ready,
        min_replicas=obs.min_replicas,
        max_replicas=obs.max_replicas or None,
        current_version=obs.version or None,
        current_revision=obs.revision or None,
        revisions=revisions,
        route_weights=dict(obs.route_weights),
        gpu_per_pod=obs.gpu_per_pod,
    )


def _cluster_state(sim: Simulator) -> ClusterState:
    nodes = [n for n in sim.nodes() if n.ready]
    return ClusterState(
        gpu_capacity=sum(n.gpu for n in nodes), gpus_in_use=sum(n.gpu_used for n in nodes)
    )


def make_agent_controller() -> AgentController:
    """The `agent` controller with its defaults (for `quarterdeck bench` / `sim run`)."""
    return AgentController()
