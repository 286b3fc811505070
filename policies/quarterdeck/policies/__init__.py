"""The policy guardrail layer: every `ActionProposal` passes `Guard.evaluate` before it is applied.

Policies are declarative files (policies/default/ is the shipped set): `GuardPolicy` documents
hold CEL rules written like Kubernetes ValidatingAdmissionPolicy, `GuardSettings` documents
configure the built-in stateful guards (cooldowns, rate limits, freeze windows, blast radius,
budgets, protected namespaces, healthy revisions, stale evidence).

    policy_set = load_policies([default_policy_dir()])   # PolicyLoadError if anything is wrong
    guard = Guard(policy_set)
    verdict = guard.evaluate(proposal, GuardContext(now=..., services=(...)))
    if verdict.allowed: apply(verdict.action); guard.record(proposal, verdict, applied_at=now)

This package imports only `quarterdeck.core`.
"""

from .context import AppliedAction, ClusterState, GuardContext, Revision, ServiceState
from .guard import Guard
from .loader import LoadProblem, PolicyLoadError, PolicySet, default_policy_dir, load_policies

__all__ = [
    "AppliedAction",
    "ClusterState",
    "Guard",
    "GuardContext",
    "LoadProblem",
    "PolicyLoadError",
    "PolicySet",
    "Revision",
    "ServiceState",
    "default_policy_dir",
    "load_policies",
]
