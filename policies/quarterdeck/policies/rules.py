"""What every rule is, and the state of one evaluation that rules read and clamps update.

A rule is loaded from a policy file (a CEL validation or clamp, or one built-in guard configured
by `GuardSettings`). The guard runs every `clamp`-phase rule first, in policy-set order, each
seeing the action as the previous ones left it; then every `check`-phase rule against the final
action. A rule returns `Finding`s — values, never exceptions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

import cel

from quarterdeck.core.models import Action, ActionProposal, RuleEffect, RuleMatch

from . import activation
from .context import AppliedAction, GuardContext, ServiceState
from .expressions import Fields, make_context, prune
from .schema import Match

Phase = Literal["clamp", "check"]


@dataclass
class Evaluation:
    """One proposal being judged: its context, its (possibly clamped) action, and the CEL
    variables, built lazily and rebuilt only when a clamp changes the action."""

    proposal: ActionProposal
    context: GuardContext
    service: ServiceState | None
    history: tuple[AppliedAction, ...]
    with_stdlib: bool
    fields: Fields
    """The variables (and their fields) the policy set's expressions read."""
    action: Action = field(init=False)
    version: int = 0
    memo: dict[tuple[int, int], Any] = field(default_factory=dict)
    """Per-evaluation cache (e.g. a policy's match conditions), keyed by (id(owner), version)."""
    _variables: dict[str, Any] | None = None
    _cel: cel.Context | None = None

    def __post_init__(self) -> None:
        self.action = self.proposal.action

    @property
    def namespace(self) -> str:
        return self.proposal.target.namespace

    @property
    def name(self) -> str:
        return self.proposal.target.service

    def set_action(self, action: Action) -> None:
        """A clamp changed the action: later rules see the new parameters."""
        self.action = action
        self.version += 1
        if self._variables is not None and "proposal" in self._variables:
            value = activation.proposal_variable(self.proposal, action, self.context.now)
            self._variables["proposal"] = value
            if self._cel is not None:
                self._cel.add_variable("proposal", prune(value, self.fields["proposal"]))

    def variables(self) -> dict[str, Any]:
        """The CEL variables the policy set uses, as Python data (see activation.py)."""
        if self._variables is None:
            ctx, out = self.context, {}
            for name in self.fields:
                if name == "proposal":
                    out[name] = activation.proposal_variable(self.proposal, self.action, ctx.now)
                elif name == "service":
                    out[name] = activation.service_variable(self.namespace, self.name, self.service)
                elif name == "cluster":
                    out[name] = activation.cluster_variable(ctx)
                elif name == "now":
                    out[name] = activation.now_variable(ctx)
                elif name == "history":
                    out[name] = activation.history_variable(self.history, ctx.now)
            self._variables = out
        return self._variables

    def cel_context(self) -> cel.Context:
        if self._cel is None:
            self._cel = make_context(self.variables(), self.fields, with_stdlib=self.with_stdlib)
        return self._cel


@dataclass(frozen=True)
class Finding:
    """A rule fired: what it says, and (for a clamp) the action it leaves."""

    match: RuleMatch
    action: Action | None = None


@dataclass(frozen=True)
class RuleInfo:
    """Where a rule came from, for matches and load errors."""

    rule_id: str
    policy: str
    file: str


class Rule(ABC):
    """One rule. `applies` is the cheap filter (kinds, names, labels); `evaluate` does the work."""

    phase: Phase = "check"
    uses_stdlib: bool = False
    """Its expressions call cel.stdlib functions (registered per evaluation only when needed)."""

    def __init__(self, info: RuleInfo, match: Match) -> None:
        self.info = info
        self.match = match
        self.fields: Fields = {}
        """The CEL variables (and fields) this rule's expressions read."""

    @property
    def rule_id(self) -> str:
        return self.info.rule_id

    def applies(self, ev: Evaluation) -> bool:
        return matches(self.match, ev)

    @abstractmethod
    def evaluate(self, ev: Evaluation) -> list[Finding]:
        """The findings of this rule for `ev` (empty when it has nothing to say)."""

    def finding(
        self,
        effect: RuleEffect,
        message: str,
        inputs: dict[str, Any] | None = None,
        action: Action | None = None,
        rule_id: str | None = None,
    ) -> Finding:
        return Finding(
            RuleMatch(
                rule_id=rule_id or self.info.rule_id,
                policy=self.info.policy,
                effect=effect,
                message=message,
                inputs=inputs or {},
            ),
            action,
        )


def matches(m: Match, ev: Evaluation) -> bool:
    """Does the proposal in `ev` fall under `m`? Every field given must match."""
    ns, name = ev.namespace, ev.name
    if m.kinds is not None and ev.action.kind not in m.kinds:
        return False
    if m.namespaces is not None and not any(fnmatchcase(ns, p) for p in m.namespaces):
        return False
    if any(fnmatchcase(ns, p) for p in m.exclude_namespaces):
        return False
    if m.services is not None and not any(
        fnmatchcase(f"{ns}/{name}" if "/" in p else name, p) for p in m.services
    ):
        return False
    if m.requested_by is not None and not any(
        fnmatchcase(ev.proposal.requested_by, p) for p in m.requested_by
    ):
        return False
    svc = ev.service
    if m.namespace_labels is not None and not labels_match(
        m.namespace_labels, svc.namespace_labels if svc else {}
    ):
        return False
    return m.service_labels is None or labels_match(m.service_labels, svc.labels if svc else {})


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Kubernetes `matchLabels`: every key present with the same value ("*" = any value)."""
    return all(k in labels and (v == "*" or labels[k] == v) for k, v in selector.items())
