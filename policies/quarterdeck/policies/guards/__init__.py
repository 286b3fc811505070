"""Built-in guards, written in Python, configured by `GuardSettings` documents.

`build_rules` turns one document into rules, in a fixed order: protection and identity first,
then pacing, blast radius, budgets, revisions and evidence.
"""

from __future__ import annotations

from quarterdeck.policies.rules import Rule, RuleInfo
from quarterdeck.policies.schema import GuardSettingsDoc

from .limits import (
    CanaryStepRule,
    GpuBudgetRule,
    ReplicaBudgetRule,
    RestartShareRule,
    ScaleStepRule,
)
from .pacing import CooldownRule, FreezeRule, RateLimitRule
from .safety import (
    HealthyRevisionRule,
    ProtectedNamespaceRule,
    StaleEvidenceRule,
    UnknownServiceRule,
)


def build_rules(doc: GuardSettingsDoc, file: str) -> list[Rule]:
    """The rules one `GuardSettings` document configures (sections left out are off)."""
    spec, name = doc.spec, doc.metadata.name

    def info(section_id: str | None, default: str) -> RuleInfo:
        return RuleInfo(rule_id=section_id or default, policy=name, file=file)

    rules: list[Rule] = []
    if spec.protected_namespaces:
        s = spec.protected_namespaces
        rules.append(ProtectedNamespaceRule(info(s.id, "protected-namespace"), s))
    if spec.unknown_service:
        rules.append(
            UnknownServiceRule(
                info(spec.unknown_service.id, "unknown-service"), spec.unknown_service
            )
        )
    if spec.freeze:
        rules.append(FreezeRule(info(spec.freeze.id, "change-freeze"), spec.freeze))
    if spec.cooldown:
        rules.append(CooldownRule(info(spec.cooldown.id, "cooldown"), spec.cooldown))
    if spec.rate_limit:
        rules.append(RateLimitRule(info(spec.rate_limit.id, "rate-limit"), spec.rate_limit))
    if spec.blast_radius:
        br = spec.blast_radius
        if br.scale_step:
            rules.append(ScaleStepRule(info(br.scale_step.id, "scale-step"), br.scale_step))
        if br.canary_step:
            rules.append(CanaryStepRule(info(br.canary_step.id, "canary-step"), br.canary_step))
        if br.restart_share:
            rules.append(
                RestartShareRule(info(br.restart_share.id, "restart-share"), br.restart_share)
            )
    if spec.budgets:
        b = spec.budgets
        if b.replicas:
            rules.append(ReplicaBudgetRule(info(b.replicas.id, "replica-budget"), b.replicas))
        if b.gpus:
            rules.append(GpuBudgetRule(info(b.gpus.id, "gpu-budget"), b.gpus))
    if spec.healthy_revision:
        s2 = spec.healthy_revision
        rules.append(HealthyRevisionRule(info(s2.id, "healthy-revision"), s2))
    if spec.stale_evidence:
        s3 = spec.stale_evidence
        rules.append(StaleEvidenceRule(info(s3.id, "stale-evidence"), s3))
    return rules


def history_retention(doc: GuardSettingsDoc) -> float:
    """How far back (seconds) this document's guards look into the history of applied actions."""
    spec = doc.spec
    windows = [spec.cooldown.period if spec.cooldown else 0.0]
    windows.append(spec.rate_limit.window if spec.rate_limit else 0.0)
    return max(windows)


__all__ = ["build_rules", "history_retention"]
