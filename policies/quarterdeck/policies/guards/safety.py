"""Guards that refuse unsafe targets or weak grounds: protected namespaces, unknown services,
rollbacks to revisions never seen healthy, and stale or missing evidence."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from quarterdeck.core.models import RollbackAction
from quarterdeck.policies.rules import Evaluation, Finding, Rule, RuleInfo, labels_match
from quarterdeck.policies.schema import (
    HealthyRevision,
    ProtectedNamespaces,
    StaleEvidence,
    UnknownService,
)


class ProtectedNamespaceRule(Rule):
    def __init__(self, info: RuleInfo, cfg: ProtectedNamespaces) -> None:
        super().__init__(info, cfg.match)
        self.cfg = cfg

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        ns = ev.namespace
        by_name = next((p for p in self.cfg.namespaces if fnmatchcase(ns, p)), None)
        labels = ev.service.namespace_labels if ev.service else {}
        by_label = self.cfg.namespace_labels is not None and labels_match(
            self.cfg.namespace_labels, labels
        )
        if by_name is None and not by_label:
            return []
        why = f"matches {by_name!r}" if by_name else f"has labels {self.cfg.namespace_labels}"
        return [
            self.finding(
                self.cfg.effect,
                f"namespace {ns!r} is protected ({why}): no automated changes there",
                {"namespace": ns, "pattern": by_name, "namespace_labels": labels},
            )
        ]


class UnknownServiceRule(Rule):
    def __init__(self, info: RuleInfo, cfg: UnknownService) -> None:
        super().__init__(info, cfg.match)
        self.cfg = cfg

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        if ev.service is not None:
            return []
        return [
            self.finding(
                self.cfg.effect,
                f"no state for {ev.proposal.target} in the guard's context: cannot judge it",
                {"service": str(ev.proposal.target)},
            )
        ]


class HealthyRevisionRule(Rule):
    """A rollback must go to a revision the caller saw healthy, or to the current one (which
    aborts a canary). No target = the previous revision."""

    def __init__(self, info: RuleInfo, cfg: HealthyRevision) -> None:
        super().__init__(info, cfg.match)
        self.cfg = cfg

    def applies(self, ev: Evaluation) -> bool:
        return ev.action.kind == "rollback" and super().applies(ev)

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        action = ev.action
        if not isinstance(action, RollbackAction):
            return []
        svc = ev.service
        asked = {"to_revision": action.to_revision, "to_version": action.to_version}
        if svc is None:
            return [self._block("no revision history for this service in the context", asked)]
        if action.to_revision is None and action.to_version is None:
            older = [r for r in svc.revisions if r.number < (svc.current_revision or 1 << 30)]
            target = max(older, key=lambda r: r.number) if older else None
        else:
            target = svc.revision(action.to_revision, action.to_version)
            if (
                target is not None
                and action.to_revision is not None
                and action.to_version is not None
                and target.version != action.to_version
            ):
                return [
                    self._block(
                        f"revision {target.number} is version {target.version!r}, "
                        f"not {action.to_version!r}",
                        asked,
                    )
                ]
        healthy = [r.number for r in svc.revisions if r.healthy]
        inputs = {**asked, "healthy_revisions": healthy, "current_revision": svc.current_revision}
        if target is None:
            return [self._block("the rollback target is not in the revision history", inputs)]
        inputs["target_revision"] = target.number
        # The revision the Deployment runs now is no step into the unknown: rolling back to it
        # only removes a canary (or changes nothing), so it counts as healthy here.
        if not target.healthy and target.number != svc.current_revision:
            return [
                self._block(
                    f"revision {target.number} ({target.version}) was never observed healthy; "
                    f"healthy revisions: {healthy or 'none'}",
                    inputs,
                )
            ]
        return []

    def _block(self, why: str, inputs: Mapping[str, Any]) -> Finding:
        return self.finding(self.cfg.effect, f"rollback refused: {why}", dict(inputs))


class StaleEvidenceRule(Rule):
    """Evidence older than `maxAge` (or from more than `maxAge` in the future: a clock mix-up),
    or with no value, is no ground for an action."""

    def __init__(self, info: RuleInfo, cfg: StaleEvidence) -> None:
        super().__init__(info, cfg.match)
        self.cfg = cfg

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        now = ev.context.now
        evidence = ev.proposal.evidence
        if not evidence:
            if not self.cfg.require_evidence:
                return []
            return [self.finding(self.cfg.on_missing_value, "the proposal carries no evidence")]
        stale = {e.signal: round(now - e.observed_at, 3) for e in evidence}
        stale = {s: age for s, age in stale.items() if abs(age) > self.cfg.max_age}
        missing = [e.signal for e in evidence if e.value is None]
        found: list[Finding] = []
        if stale:
            found.append(
                self.finding(
                    self.cfg.on_stale,
                    f"stale evidence (older than {self.cfg.max_age:g}s): "
                    + ", ".join(f"{s} {age:g}s old" for s, age in stale.items()),
                    {"max_age_s": self.cfg.max_age, "ages_s": stale, "now": now},
                )
            )
        if missing:
            found.append(
                self.finding(
                    self.cfg.on_missing_value,
                    f"evidence without a value (no data): {', '.join(missing)}",
                    {"signals": missing},
                    rule_id=f"{self.rule_id}/no-value",
                )
            )
        return found
