"""The guard: one proposal and its context in, one `Verdict` out.

Order of work: clamp-phase rules in policy-set order (each sees the action the previous left),
then every check-phase rule against the final action. Combination: any `deny` → deny; else any
`require_approval` → require approval; else allow. The verdict lists every rule that fired
(clamps included) and carries the action to apply. `evaluate` never raises on a proposal: an
unexpected error inside a rule becomes a deny that says so.

History: the guard remembers what was applied (`record`) and adds the context's `history`
(deduplicated by proposal id), so cooldowns and rate limits work across calls and survive a
restart if the caller replays history from the audit log. `fork` gives a what-if copy.
"""

from __future__ import annotations

from collections import deque

from quarterdeck.core.models import ActionProposal, Decision, RuleMatch, Verdict

from .context import AppliedAction, GuardContext
from .loader import PolicySet
from .rules import Evaluation, Finding, Rule


class Guard:
    """Judges proposals against a `PolicySet`. Not thread-safe: one guard per control loop."""

    def __init__(self, policy_set: PolicySet, history: tuple[AppliedAction, ...] = ()) -> None:
        self.policy_set = policy_set
        self._clamps = tuple(r for r in policy_set.rules if r.phase == "clamp")
        self._checks = tuple(r for r in policy_set.rules if r.phase == "check")
        self._history: dict[tuple[str, str], deque[AppliedAction]] = {}
        for applied in history:
            self._remember(applied)

    def evaluate(self, proposal: ActionProposal, context: GuardContext) -> Verdict:
        """The verdict on `proposal` given `context`. Deterministic; never raises."""
        target = proposal.target
        ev = Evaluation(
            proposal=proposal,
            context=context,
            service=context.service(target.namespace, target.service),
            history=self._history_for(target.namespace, target.service, context),
            with_stdlib=self.policy_set.uses_stdlib,
            fields=self.policy_set.fields_by_kind[proposal.kind],
        )
        matches: list[RuleMatch] = []
        for rule in self._clamps:
            for f in self._run(rule, ev):
                matches.append(f.match)
                if f.action is not None and f.match.effect == "clamp":
                    ev.set_action(f.action)
        for rule in self._checks:
            matches.extend(f.match for f in self._run(rule, ev))
        return combine(proposal.id, ev, _dedupe(matches))

    def record(
        self, proposal: ActionProposal, verdict: Verdict, applied_at: float
    ) -> AppliedAction:
        """Remember that `verdict.action` was applied at `applied_at` (clock seconds).

        Call it once the action is applied (after approval, if one was required). A denied
        verdict cannot be recorded: nothing should have been applied.
        """
        if verdict.decision is Decision.DENY:
            raise ValueError(f"proposal {proposal.id} was denied; a denied action is never applied")
        if verdict.proposal_id != proposal.id:
            raise ValueError(f"verdict is for {verdict.proposal_id}, not proposal {proposal.id}")
        applied = AppliedAction(
            namespace=proposal.target.namespace,
            service=proposal.target.service,
            kind=verdict.action.kind,
            at=applied_at,
            proposal_id=proposal.id,
        )
        self._remember(applied)
        return applied

    def fork(self) -> Guard:
        """An independent copy (same policies, copied history) for what-if evaluation."""
        return Guard(self.policy_set, self.history)

    @property
    def history(self) -> tuple[AppliedAction, ...]:
        """Every applied action still remembered, oldest first."""
        return tuple(sorted((a for q in self._history.values() for a in q), key=lambda a: a.at))

    def _remember(self, applied: AppliedAction) -> None:
        q = self._history.setdefault((applied.namespace, applied.service), deque())
        q.append(applied)
        # Keep what any cooldown or rate-limit window can still see (plus a margin for
        # `history` in CEL); older entries cannot change a verdict of the built-in guards.
        horizon = applied.at - max(self.policy_set.retention, 3600.0)
        while q and q[0].at < horizon:
            q.popleft()

    def _history_for(
        self, namespace: str, service: str, context: GuardContext
    ) -> tuple[AppliedAction, ...]:
        own = self._history.get((namespace, service), ())
        if not context.history:
            return tuple(own)
        ids = {a.proposal_id for a in own if a.proposal_id}
        extra = [
            a
            for a in context.history
            if a.namespace == namespace
            and a.service == service
            and not (a.proposal_id and a.proposal_id in ids)
        ]
        return tuple(sorted([*own, *extra], key=lambda a: a.at))

    @staticmethod
    def _run(rule: Rule, ev: Evaluation) -> list[Finding]:
        try:
            if not rule.applies(ev):
                return []
            return rule.evaluate(ev)
        except Exception as e:  # a bug in a rule must not let a proposal through
            return [
                rule.finding(
                    "deny",
                    f"rule {rule.rule_id} failed unexpectedly ({type(e).__name__}: {e}); "
                    "denied (fail closed)",
                )
            ]


def combine(proposal_id: str, ev: Evaluation, matches: list[RuleMatch]) -> Verdict:
    """deny beats require_approval beats allow; the message names what decided."""
    denies = [m for m in matches if m.effect == "deny"]
    approvals = [m for m in matches if m.effect == "require_approval"]
    clamps = [m for m in matches if m.effect == "clamp"]
    if denies:
        decision, deciding = Decision.DENY, denies
    elif approvals:
        decision, deciding = Decision.REQUIRE_APPROVAL, approvals
    else:
        decision, deciding = Decision.ALLOW, clamps
    if deciding:
        message = "; ".join(f"[{m.rule_id}] {m.message}" for m in deciding)
    else:
        message = "no rule objected"
    return Verdict(
        proposal_id=proposal_id,
        decision=decision,
        action=ev.action,
        matches=tuple(matches),
        message=f"{decision.value}: {message}",
    )


def _dedupe(matches: list[RuleMatch]) -> list[RuleMatch]:
    # A policy's failing match condition is reported once, not once per rule of the policy.
    seen: set[tuple[str, str, str]] = set()
    out = []
    for m in matches:
        key = (m.rule_id, m.effect, m.message)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out
